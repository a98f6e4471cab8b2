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

from experiments.storage import writers
from gan_jax import config as gan_config


def finished_summary(workdir: str, step: int, total: int):
  """The summary.json of a run that completed at ``step`` (>= ``total``,
  the steps asked for), or None: such a run is not trained or evaluated
  again."""
  if step < total:
    return None
  path = os.path.join(workdir, 'summary.json')
  if not os.path.exists(path):
    return None  # Killed before writing it: evaluated and written now.
  try:
    with open(path) as f:
      summary = json.load(f)
    if not isinstance(summary, dict):
      raise ValueError('not a JSON object')
  except (OSError, ValueError) as error:
    raise gan_config.ConfigError(
        f'{path} cannot be read ({str(error).splitlines()[0][:200]}); move '
        'it away and run again to evaluate the run and write it anew'
    ) from None
  if summary.get('status') != 'completed' or summary.get('step') != step:
    return None
  # JSON's null is how a NaN was written (writers.json_safe).
  summary['final_eval'] = {
      k: float('nan') if v is None else v
      for k, v in summary.get('final_eval', {}).items()
  }
  return summary


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
    kept = os.path.join(workdir, f'config.until_step_{step}.json')
    copy = 0
    while os.path.exists(kept):
      copy += 1
      kept = os.path.join(workdir, f'config.until_step_{step}.{copy}.json')
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
