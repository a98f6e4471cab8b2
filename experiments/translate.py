r"""Unpaired image-to-image translation with CycleGAN (Zhu et al. 2017).

  python -m experiments.translate --pair=digits_rot
  python -m experiments.translate --pair=grid25_shear --seed=2
  python -m experiments.translate --pair=horse2zebra   # TFDS, prepared once
  python -m experiments.translate --pair=digits_rot --seeds=3 \
      --grid=loss.cycle_weight=1,10      # a sweep: vmapped where it can be

The config is experiments/configs/translate.py (``--config`` for another
file), then the pair's defaults (for the fields the file leaves at
translate.py's values), then every ``--config.*`` flag and the shortcuts
``--pair``, ``--seed``, ``--data_dir``. One run writes to ``--workdir``
(default ``runs/cyclegan_<pair>_seed<seed>``) what experiments.run writes:
config.json, metrics.jsonl, TensorBoard, checkpoints (the same command
resumes), translations_STEP.png and summary.json. With ``--seeds`` or
``--grid`` it is a sweep (experiments/translation/sweep.py), written to
``--workdir`` (default ``sweeps/cyclegan_<pair>``). docs/translation.md has
the details and measured results.
"""

import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags

from experiments import cli

# The --compilation_cache flag, which cli.start reads: defined on import,
# before the command line is parsed.
from experiments.runner import compilation_cache  # noqa: F401
from experiments.runner import validation
from experiments.configs import translate as translate_defaults
from experiments.runner.config_layers import (
    check_resume,
    config_file_error,
    one_line,
)
from experiments.translation.layers import resolve
from gan_jax.batched import flatten
from gan_jax.config import ConfigError

_DEFAULT_CONFIG = os.path.join(
    os.path.dirname(__file__), 'configs', 'translate.py'
)


def _config_file_error(error: Exception) -> str:
  """As experiments.run says it, for translate.py's fields."""
  return config_file_error(
      sys.argv,
      error,
      flatten(translate_defaults.get_config().to_dict()),
      'those of experiments/configs/translate.py (or of the --config file)',
  )


def _define_config_flag():
  """DEFINE_config_file, with a bad ``--config`` file or ``--config.x`` as
  one line: config_flags loads the file and applies the overrides while
  the flag is being defined, so they fail here, before main() runs."""
  try:
    return config_flags.DEFINE_config_file(
        'config',
        _DEFAULT_CONFIG,
        'Config file (get_config() -> ConfigDict).',
        lock_config=True,
    )
  except Exception as error:  # Whatever the file or an override raised.
    sys.exit(_config_file_error(error))


_CONFIG = _define_config_flag()
_PAIR = flags.DEFINE_string(
    'pair',
    None,
    'Shortcut for --config.pair: '
    'digits_rot, grid25_shear, a CycleGAN dataset '
    '(horse2zebra, ...) or A:B of image datasets.',
)
_SEED = flags.DEFINE_integer('seed', None, 'Shortcut for --config.seed.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Shortcut for --config.data.dir.'
)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory.')
_SEEDS = flags.DEFINE_string(
    'seeds',
    None,
    'A sweep over seeds: a count S (0..S-1) or a comma separated list.',
)
_GRID = flags.DEFINE_multi_string(
    'grid',
    [],
    'field=v1,v2,...: a swept config field (repeatable; every '
    'combination runs).',
)
_GROUP_SIZE = flags.DEFINE_integer(
    'group_size',
    -1,
    "A sweep's most runs in one vmapped program (0: no "
    'limit; -1: 1 for image pairs on a CPU, where vmapped convolutions are '
    'slower than one run after another, else no limit).',
)
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change',
    False,
    'Resume a --workdir whose saved config '
    'differs in a field that changes the run.',
)


def _seeds(text):
  try:
    values = [int(v) for v in text.split(',') if v.strip()]
  except ValueError:
    values = []
  count_only = len(values) == 1 and ',' not in text
  if (
      not values
      or any(v < 0 for v in values)
      or len(set(values)) != len(values)
      or (count_only and values[0] < 1)
  ):
    raise ConfigError(
        f'--seeds={text!r} is not allowed: a count >= 1 or a '
        'comma separated list of distinct seeds >= 0'
    )
  return list(range(values[0])) if count_only else values


def main(argv):
  cli.start(argv, '--pair=..., --config.train.steps=...')

  try:
    # config_flags defers some load errors (a missing file) to the first
    # use of the value: use it here, where they are one line.
    base = _CONFIG.value
    base.keys()
  except Exception as error:  # Whatever the file raised, wrapped.
    sys.exit(_config_file_error(error))
  try:
    command_line = config_flags.get_override_values(FLAGS['config'])
    config = resolve(
        base, command_line, _PAIR.value, _SEED.value, _DATA_DIR.value
    )
    sweeping = _SEEDS.value is not None or _GRID.value
    if _GROUP_SIZE.value < -1:
      raise ConfigError(
          f'--group_size={_GROUP_SIZE.value} is not allowed: '
          '-1 (automatic), 0 (no limit) or a count >= 1'
      )
    if sweeping:
      from experiments.translation import sweep

      seeds = _seeds(_SEEDS.value) if _SEEDS.value else [config.seed]
      runs = sweep.expand(config, seeds, sweep.parse_grid(_GRID.value))
      workdir = _WORKDIR.value or os.path.join(
          'sweeps', f'cyclegan_{_safe(config)}'
      )
    else:
      import jax

      validation.validate_translation(config, 1)
      available = jax.device_count()
      requested = config.train.num_devices
      if not 0 <= requested <= available:
        raise ConfigError(
            f'train.num_devices={requested!r} is not allowed: '
            f'an integer from 0 (all) to {available}, the '
            'devices here'
        )
      validation.validate_translation(config, requested or available)
      workdir = _WORKDIR.value or os.path.join(
          'runs', f'cyclegan_{_safe(config)}_seed{config.seed}'
      )
      check_resume(
          workdir,
          config,
          _ALLOW_CONFIG_CHANGE.value,
          flatten(translate_defaults.get_config().to_dict()),
      )
  except (ConfigError, TypeError, KeyError, AttributeError) as error:
    sys.exit(f'error: {one_line(str(error))}')

  from experiments.runner.preemption import Interrupted
  from experiments.storage.checkpoints import CheckpointError
  from experiments.storage.failed_writes import (
      exit_after_failed_write,
      writing_failed,
  )
  from experiments.storage.workdir_lock import hold_for_job
  from gan_jax.data.images import DatasetNotPrepared

  with hold_for_job(workdir):
    try:
      if sweeping:
        results_md = sweep.run_sweep(
            runs,
            workdir,
            progress=_PROGRESS.value,
            group_size=_GROUP_SIZE.value,
        )
      else:
        from experiments.translation.train import (
            summary_screen,
            train_and_evaluate,
        )

        summary = train_and_evaluate(config, workdir, progress=_PROGRESS.value)
    except Interrupted as stopped:  # A sweep's group saved its checkpoint.
      print(
          f"{stopped.signal_name} at step {stopped.step}: the group's "
          'checkpoint is saved; run the same command to resume',
          file=sys.stderr,
      )
      sys.exit(stopped.exit_code)
    except DatasetNotPrepared as error:
      sys.exit(f'error: --pair={config.pair}: {error}')
    except ConfigError as error:
      sys.exit(f'error: {one_line(str(error))}')
    except CheckpointError as error:
      exit_after_failed_write(f'error: {error}')
    except OSError as error:
      exit_after_failed_write(f'error: {writing_failed(workdir, error)}')
  if sweeping:
    print(results_md)
    return
  if summary['status'] == 'interrupted':
    sys.exit(Interrupted(summary['interrupted_by'], summary['step']).exit_code)
  print(summary_screen(summary))
  if summary['status'] != 'completed':
    sys.exit(1)


def _safe(config) -> str:
  return re.sub(r'[^\w.-]', '_', str(config.pair))


def parse_flags(argv):
  try:
    return FLAGS(argv)
  except flags.Error as error:
    sys.exit(f'error: {error}')
  except Exception as error:  # Raised while loading the --config file.
    sys.exit(_config_file_error(error))


FLAGS = flags.FLAGS

if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
