"""What a run has written before, read back so that its history stays
whole (docs/reliability.md: a run's history is append-only): its config
(kept when a resume changes it), its last evaluation, and the summary of a
run that has finished (which is then not trained or written again).

Shared by a run (experiments.runner.driver) and a sweep's runs
(experiments.sweeps.training); the metrics log's own repairs are
``writers.rewind_metrics``.
"""

import json
import os
import shutil
from typing import Any, Dict, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils

from experiments.storage import writers
from gan_jax import config as gan_config


def _is_summary(summary: Any) -> bool:
  """Whether ``summary`` has what a run's summary.json is written with
  and a resume reads."""
  return (
      isinstance(summary, dict)
      and summary.get('status') in ('completed', 'interrupted', 'diverged')
      and isinstance(summary.get('step'), int)
      and isinstance(summary.get('final_eval', {}), dict)
  )


def read_summary(workdir: str) -> Optional[Dict[str, Any]]:
  """The run's summary.json, or None if it has none yet; one line
  (ConfigError) naming it if it cannot be read."""
  path = os.path.join(workdir, 'summary.json')
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      summary = json.load(f)
    if not _is_summary(summary):
      raise ValueError('not a run summary')
  except (OSError, ValueError) as error:
    raise gan_config.ConfigError(
        f'{path} cannot be read ({str(error).splitlines()[0][:200]}); move '
        'it away and run again to have the run evaluated and it written anew'
    ) from None
  # JSON's null is how a NaN was written (writers.json_safe).
  summary['final_eval'] = {
      k: float('nan') if v is None else v
      for k, v in (summary.get('final_eval') or {}).items()
  }
  return summary


def finished_summary(workdir: str, step: int, total: int):
  """The summary.json of a run that completed at ``step`` (>= ``total``,
  the steps asked for), or None: such a run is not trained or evaluated
  again. A summary that cannot be read is one line, whatever the step."""
  summary = read_summary(workdir)
  if summary is None or step < total:
    return None  # Killed before writing it: evaluated and written now.
  if summary['status'] != 'completed' or summary.get('step') != step:
    return None
  return summary


def keep_summary(workdir: str) -> None:
  """Keeps a final summary.json (completed or diverged) that a resumed
  run will replace -- one given more steps, or resumed with
  ``--allow_config_change`` -- as ``summary.until_step_<its step>.json``.
  An interrupted run's summary is provisional: replaced."""
  summary = read_summary(workdir)
  if summary is None or summary['status'] == 'interrupted':
    return
  shutil.copy2(
      os.path.join(workdir, 'summary.json'),
      _unused(workdir, f'summary.until_step_{summary.get("step")}', '.json'),
  )


def _unused(workdir: str, stem: str, suffix: str) -> str:
  """``workdir/stem+suffix``, or ``stem.1+suffix``, ... : a name no file
  has."""
  path, copy = os.path.join(workdir, stem + suffix), 0
  while os.path.exists(path):
    copy += 1
    path = os.path.join(workdir, f'{stem}.{copy}{suffix}')
  return path


def keep_config(workdir: str, config, step: int) -> None:
  """Writes config.json; a different one already there (a resume with
  ``--allow_config_change``, or new resumable settings) is kept as
  ``config.until_step_<step>.json``: the run's history says which config
  trained which steps."""
  path = os.path.join(workdir, 'config.json')
  new = json.dumps(
      writers.json_safe(config.to_dict()), indent=2, sort_keys=True
  )
  try:
    with open(path) as f:
      old = f.read()
  except OSError:
    old = None  # None yet.
  if old is not None and old.strip() != new:
    try:
      json.loads(old)
      stem = f'config.until_step_{step}'
    except ValueError:  # Kept too, but not named as a config.
      stem = 'config.unreadable'
    kept = _unused(workdir, stem, '.json')
    # A second name for the old file, then the new one written over it
    # atomically: config.json is never missing, even after a kill -9.
    shutil.copy2(path, kept)
  writers.write_json(path, config.to_dict())


def last_evaluation(workdir: str, step: int):
  """(step, results) of the last evaluation metrics.jsonl holds up to
  ``step``, or (None, {}): what a resumed run reports until it evaluates
  again."""
  try:
    records = writers.read_metrics(workdir)
  except OSError:
    return None, {}
  evals = [r for r in records if r.get('split') == 'eval' and r['step'] <= step]
  if not evals:
    return None, {}
  last = evals[-1]
  return last['step'], {
      k: float('nan') if v is None else v
      for k, v in last.items()
      if k not in ('step', 'split')
  }


def logged_eval_step(workdir: str, step: int) -> Optional[int]:
  """The step of the last evaluation logged up to ``step``, as process 0
  reads it: every host agrees (the others may not see its files), since
  whether to evaluate is a collective decision."""
  found = (
      last_evaluation(workdir, step)[0] if jax.process_index() == 0 else None
  )
  if jax.process_count() > 1:
    found = int(
        multihost_utils.broadcast_one_to_all(
            np.int64(-1 if found is None else found)
        )
    )
    found = None if found < 0 else found
  return found
