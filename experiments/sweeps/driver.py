"""Runs a whole sweep: claims its directory, trains every unfinished group
(experiments.sweeps.training; :func:`train_groups`, which CycleGAN's sweeps
share), then writes results.csv, results.md and the figures. No flags: ``experiments.sweep`` is the command line around it, and
other tools (the theory lab) call :func:`run_sweep` directly.
"""

import json
import os
import time
from typing import Any, Callable, Dict, List, Sequence

from experiments.sweeps import spec as sweep_spec
from experiments.sweeps.spec import SweepError


def claim_directory(
    workdir: str, spec: Dict[str, Any], write: bool = True
) -> None:
  """Records the spec in sweep.json (if ``write``), or checks it is the one
  recorded. Refused in one line (SweepError), before anything is written:
  a path that is a file, a run's workdir, another sweep's, too little room
  for the sweep's logs (each group checks for its checkpoints before it
  trains)."""
  path = os.path.join(workdir, 'sweep.json')
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise SweepError(f'--workdir={workdir} is a file, not a directory')
  if os.path.exists(os.path.join(workdir, 'config.json')):
    raise SweepError(
        f'--workdir={workdir} holds a run (its config.json), not a sweep; '
        'give another --workdir'
    )
  if os.path.exists(path):
    with open(path) as f:
      recorded = json.load(f)
    if recorded != json.loads(json.dumps(spec)):
      changed = sorted(
          k
          for k in set(recorded) | set(spec)
          if recorded.get(k) != json.loads(json.dumps(spec.get(k)))
      )
      raise SweepError(
          f'--workdir={workdir} holds a different sweep (other '
          f'{" and ".join(changed)}); give another --workdir'
      )
    return
  if not write:
    return
  from experiments.storage import checkpoints, writers

  try:
    checkpoints.check_room(workdir, (), 0)  # The logs' room, at least.
  except checkpoints.NoRoom as error:
    raise SweepError(str(error)) from None
  os.makedirs(workdir, exist_ok=True)
  writers.write_json(path, spec)


def check_data(workdir: str, runs: Sequence[Any]) -> None:
  """Refuses, in one line and with nothing written or deleted, to resume
  a sweep whose runs were trained on a folder whose files have changed
  since (``data.fingerprint`` in a run's config.json), as
  experiments.run refuses to resume one such run."""
  for run in runs:
    now = run.config.data.get('fingerprint', '')
    path = os.path.join(workdir, 'runs', run.name, 'config.json')
    if not now or not os.path.exists(path):
      continue
    try:
      with open(path) as f:
        saved = json.load(f)['data']['fingerprint']
    except (OSError, ValueError, KeyError, TypeError):
      continue  # Unreadable or older: the run's own resume says so.
    if saved and saved != now:
      raise SweepError(
          f'--workdir={workdir} holds runs trained on other images: '
          f'{run.config.dataset} changed since (run {run.name}: '
          f'data.fingerprint {saved!r} -> {now!r}); give another --workdir '
          'to train on the folder as it is now'
      )


def check_contracts(groups: Sequence[Sequence[Any]]) -> None:
  """Each group's steps against the step contract (gan_jax.contract),
  before anything is written: a fork that breaks it is one line."""
  from experiments.runner.train import check_contract
  from gan_jax import config as gan_config

  for group in groups:
    config = group[0].config
    spec, hparams, _ = gan_config.build(config)
    try:
      check_contract(config, spec, hparams)
    except gan_config.ConfigError as error:
      raise SweepError(f'run {group[0].name}: {error}') from None


def train_groups(
    runs: Sequence[Any],
    groups: Sequence[Sequence[Any]],
    build: Callable[..., Any],
    workdir: str,
    progress: bool = True,
    spread: bool = True,
) -> Dict[str, Dict[str, Any]]:
  """Trains every group of ``groups`` that has an unfinished run
  (experiments.sweeps.training.train_group, each group's runs made by
  ``build``), resuming a group from its checkpoint; returns every run's
  summary by name. Runs with a summary are skipped. SIGTERM / Ctrl-C: the
  group in training saves its checkpoint at the step reached and
  preemption.Interrupted unwinds to the command line."""
  import jax
  from tqdm import tqdm
  from experiments.runner import preemption
  from experiments.sweeps import results, training

  primary = jax.process_index() == 0
  runs_dir = os.path.join(workdir, 'runs')
  summaries: Dict[str, Dict[str, Any]] = {}
  for run in runs:
    done = training.read_summary(os.path.join(runs_dir, run.name))
    if done and done.get('status') in training.FINISHED:
      summaries[run.name] = done
  total = sum(r.config.train.steps for r in runs)
  finished = sum(r.config.train.steps for r in runs if r.name in summaries)
  bar = tqdm(
      total=total,
      initial=finished,
      unit='step',
      disable=not (progress and primary),
      dynamic_ncols=True,
      desc='sweep',
  )

  def show():
    diverged = sum(s['status'] == 'diverged' for s in summaries.values())
    bar.set_postfix_str(
        f'runs {len(summaries)}/{len(runs)} done'
        + (f', {diverged} diverged' if diverged else '')
    )

  with preemption.StopRequest() as stop:
    try:
      for index, group in enumerate(groups):
        if all(run.name in summaries for run in group):
          continue
        show()
        bar.set_description(
            f'sweep, group {index + 1}/{len(groups)} '
            f'({results.counted(len(group), "run")})'
        )
        group_dir = os.path.join(workdir, 'groups', f'group{index:03d}')
        trained = training.train_group(
            group, build, group_dir, runs_dir, bar.update, stop, spread
        )
        for run, summary in zip(group, trained):
          summaries[run.name] = summary
    finally:
      show()
      bar.close()
  return summaries


def run_sweep(
    spec: Dict[str, Any],
    workdir: str,
    group_size: int = 0,
    progress: bool = True,
) -> List[Dict[str, Any]]:
  """Trains every unfinished run of ``spec`` (normalized) in ``workdir``,
  then writes results.csv, results.md and the figures. Returns the runs'
  summaries, in spec order."""
  import jax
  from experiments.runner import inputs
  from experiments.sweeps import figures, results, training
  from gan_jax.data import is_image_dataset

  # On many hosts every process trains; process 0 alone writes files.
  primary = jax.process_index() == 0

  runs = sweep_spec.expand(spec)
  # Another sweep's directory or changed images: refused before the
  # images are decoded (is_streamed reads them).
  claim_directory(workdir, spec, write=False)
  check_data(workdir, runs)
  groups = sweep_spec.groups(runs, group_size)
  # Unreadable data stops here, before anything is written. A streamed
  # dataset trains a run per group: a group would share one data stream.
  if is_image_dataset(spec['dataset']) and inputs.is_streamed(runs[0].config):
    groups = sweep_spec.groups(runs, 1)
  check_contracts(groups)
  claim_directory(workdir, spec, write=primary)
  started = time.time()
  summaries = train_groups(runs, groups, training.gan_group, workdir, progress)

  ordered = [dict(summaries[r.name], run=r.name) for r in runs]
  if not primary:
    return ordered
  swept = list(dict.fromkeys(f for r in runs for f, _ in r.point))
  results.write_csv(os.path.join(workdir, 'results.csv'), ordered, swept)
  rows = results.aggregate(ordered, swept)
  header = (
      f'{results.counted(len(runs), "run")} in '
      f'{results.counted(len(groups), "vmapped group")}; this '
      f'invocation trained for {time.time() - started:.0f} s.'
  )
  header += results.shared_settings(spec.get('set', {}), swept)
  inception_note = results.inception_note(ordered)
  if inception_note:
    header += ' ' + inception_note
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write(
        results.markdown(
            rows,
            spec['dataset'],
            swept,
            len(spec['seeds']),
            header,
            spec.get('published', ''),
            'variant' if spec['variants'] else 'config',
        )
    )
  figures.save_figures(
      os.path.join(workdir, 'figures'),
      ordered,
      spec['dataset'],
      runs[0].config.eval.threshold,
  )
  return ordered
