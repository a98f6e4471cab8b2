r"""Sweeps variants x seeds x hyperparameters, batched: runs that differ only
in numbers the train state holds train together as one vmapped program.

  python -m experiments.sweep --variants=vanilla,non_saturating,wgan_gp,\
label_smoothing --seeds=10 --dataset=grid25
  python -m experiments.sweep --variants=wgan_gp --seeds=3 \
      --grid=optim.d.lr=1e-4,3e-4 --grid=objective.penalty_weight=0.1,1
  python -m experiments.sweep --sweep=experiments/configs/sweeps/wgan_gp_grid.py
  python -m experiments.sweep --config=my_gan.py --seeds=3 \
      --grid=train.algorithm=alternating,simultaneous

The spec (experiments/sweeps/spec.py) comes from ``--sweep`` (a Python file
whose ``get_sweep()`` returns a dict) with the flags on top. ``--config``
gives the runs' base config file, as experiments.run's does: what it
registers (an objective, a penalty, an algorithm of one's own) sweeps like
the library's own, and without ``--variants`` the file is taken as it is. Everything lands
in ``--workdir`` (default ``sweeps/<name>``): ``sweep.json`` (the spec),
``runs/RUN/`` (each run as experiments.run leaves it), ``results.csv``,
``results.md`` and ``figures/``. Running the same sweep again skips finished
runs and resumes unfinished groups from their checkpoints; a directory that
holds a different sweep is refused.
"""

import importlib.util
import os
import sys
from typing import Any, Dict, List, Optional

from absl import app, flags

from experiments import cli

# The --compilation_cache flag, which cli.start reads: defined on import,
# before the command line is parsed.
from experiments.runner import compilation_cache  # noqa: F401
from experiments.runner import launch
from experiments.sweeps import spec as sweep_spec
from experiments.sweeps.spec import SweepError
from gan_jax.data.own_images import short_name

_SWEEP = flags.DEFINE_string(
    'sweep',
    None,
    'Sweep file: Python with get_sweep() -> dict of '
    f'{", ".join(sweep_spec.SPEC_KEYS)}.',
)
_CONFIG = flags.DEFINE_string(
    'config',
    None,
    'Config file of every run (get_config() -> ConfigDict), as '
    'experiments.run takes; default experiments/configs/default.py.',
)
_VARIANTS = flags.DEFINE_list(
    'variants',
    None,
    'Variants, comma separated (may be left out with --config: the file '
    'as it is).',
)
_SEEDS = flags.DEFINE_string(
    'seeds', None, 'Seeds: a count S (0..S-1) or a comma separated list.'
)
_DATASET = flags.DEFINE_string('dataset', None, 'Dataset of every run.')
_GRID = flags.DEFINE_multi_string(
    'grid',
    [],
    'field=v1,v2,...: a swept config field (repeat the flag for '
    'more; every combination runs).',
)
_SET = flags.DEFINE_multi_string(
    'set', [], 'field=value: a config value for every run (repeatable).'
)
_WORKDIR = flags.DEFINE_string(
    'workdir',
    None,
    'Sweep directory (default sweeps/<sweep file name>, or '
    'sweeps/<dataset>_<variants>).',
)
_GROUP_SIZE = flags.DEFINE_integer(
    'group_size', 0, 'Most runs in one vmapped program (0: no limit).'
)
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')


def _load_file(path: str) -> Dict[str, Any]:
  try:
    module_spec = importlib.util.spec_from_file_location('sweep_file', path)
    if module_spec is None or not os.path.exists(path):
      raise FileNotFoundError(f'no such file {path}')
    if module_spec.loader is None:
      raise ImportError(f'no loader for {path}')
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    spec = module.get_sweep()
  except Exception as error:  # Whatever the file raised.
    raise SweepError(
        f'--sweep={path}: cannot load it ({error}); give a '
        'Python file whose get_sweep() returns a dict'
    ) from None
  if hasattr(spec, 'to_dict'):
    spec = spec.to_dict()
  if not isinstance(spec, dict):
    raise SweepError(
        f'--sweep={path}: get_sweep() returned {spec!r}, not a dict'
    )
  return spec


def _pairs(values: List[str], flag: str) -> Dict[str, str]:
  pairs = {}
  for text in values:
    field, sep, value = text.partition('=')
    if not sep or not field:
      raise SweepError(f'--{flag}={text}: expected field=value')
    pairs[field.strip()] = value
  return pairs


def spec_from_flags(
    file_spec: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
  """The sweep file's spec with the flags on top."""
  spec = dict(file_spec or {})
  if _CONFIG.value:
    spec['config'] = _CONFIG.value
  if _VARIANTS.value:
    spec['variants'] = _VARIANTS.value
  if _SEEDS.value is not None:
    text = _SEEDS.value.strip()
    try:
      spec['seeds'] = (
          [int(s) for s in text.split(',')] if ',' in text else int(text)
      )
    except ValueError:
      raise SweepError(
          f'--seeds={text}: give a count or a comma separated '
          'list of integers'
      ) from None
  if _DATASET.value:
    spec['dataset'] = _DATASET.value
  if _SET.value:
    spec['set'] = {**spec.get('set', {}), **_pairs(_SET.value, 'set')}
  if _GRID.value:
    grid = dict(spec.get('grid', {}))
    for field, values in _pairs(_GRID.value, 'grid').items():
      grid[field] = [v for v in values.split(',') if v.strip()]
    spec['grid'] = grid
  return spec


def default_workdir(spec: Dict[str, Any], sweep_file: Optional[str]) -> str:
  if sweep_file:
    name = os.path.splitext(os.path.basename(sweep_file))[0]
  else:
    labels = spec['variants'] or [
        os.path.splitext(os.path.basename(spec['config']))[0]
    ]
    name = f"{short_name(spec['dataset'])}_{'-'.join(labels)}"
  return os.path.join('sweeps', name)


def main(argv):
  cli.start(argv, '--variants=..., --grid=field=v1,v2')
  try:
    spec = spec_from_flags(_load_file(_SWEEP.value) if _SWEEP.value else None)
    spec = sweep_spec.normalize(spec)
    if _CONFIG.value and _VARIANTS.value:  # Both typed, not a sweep file's.
      print(
          f"note: --variants lay each variant's published objective, "
          f"optimizers and settings over {spec['config']}; leave --variants "
          'out to sweep the file as it is',
          file=sys.stderr,
      )
    if _GROUP_SIZE.value < 0:
      raise SweepError(
          f'--group_size={_GROUP_SIZE.value}: give 0 (no '
          'limit) or a positive number'
      )
    sweep_spec.expand(spec)  # Every run's config validated up front.
    workdir = _WORKDIR.value or default_workdir(spec, _SWEEP.value)
    # On a CPU, one device per core by default: the run axis is split over
    # the devices, so the cores train runs side by side.
    launch.start(default_cpu_devices=os.cpu_count() or 1)
  except (SweepError, launch.LaunchError) as error:
    sys.exit(f'error: {error}')

  import jax
  from experiments.storage.checkpoints import CheckpointError
  from gan_jax.config import ConfigError
  from experiments.storage.failed_writes import (
      exit_after_failed_write,
      writing_failed,
  )
  from experiments.storage.workdir_lock import hold_for_job
  from experiments.runner.preemption import Interrupted
  from experiments.sweeps.results import counted
  from experiments.sweeps.driver import run_sweep
  from gan_jax.data.images import DatasetNotPrepared

  with hold_for_job(workdir):  # One live process per workdir.
    try:
      summaries = run_sweep(
          spec, workdir, _GROUP_SIZE.value, progress=_PROGRESS.value
      )
    except Interrupted as stopped:
      print(
          f"{stopped.signal_name} at step {stopped.step}: the group's "
          'checkpoint is saved; run the same command to resume',
          file=sys.stderr,
      )
      sys.exit(stopped.exit_code)
    except (SweepError, ConfigError) as error:
      # ConfigError: a fork's step that broke the contract while training.
      sys.exit(f'error: {error}')
    except CheckpointError as error:  # The earlier checkpoints are intact.
      exit_after_failed_write(f'error: {error}')
    except OSError as error:  # Logs or pictures: a full disk, a removed dir.
      exit_after_failed_write(f'error: {writing_failed(workdir, error)}')
    except DatasetNotPrepared as error:
      sys.exit(f"error: --dataset={spec['dataset']}: {error}")
  if jax.process_index() != 0:
    return
  with open(os.path.join(workdir, 'results.md')) as f:
    print(f.read())
  diverged = sum(s['status'] == 'diverged' for s in summaries)
  print(
      f'runs, results.csv, results.md and figures/ in {workdir}'
      + (
          f' ({counted(diverged, "run")} diverged: a result, not an error)'
          if diverged
          else ''
      )
  )


def parse_flags(argv):
  """absl's parser with its errors as one line; experiments.run's
  ``--config.FIELD=V`` is pointed to the sweep's way of saying it."""
  for arg in argv[1:]:
    if arg.startswith('--config.'):
      setting = arg[len('--config.') :]
      sys.exit(
          f'error: {arg}: a sweep sets config fields with '
          f'--set={setting} (every run) or --grid=FIELD=V1,V2 (swept)'
      )
  return cli.parse_flags(argv)


FLAGS = flags.FLAGS

if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
