r"""Trains one GAN: ``python -m experiments.run --variant=wgan_gp``.

The config is built in layers, each overriding the one before: the config
file (``--config``, default experiments/configs/default.py); the dataset's
defaults (experiments/configs/datasets.py) when the command line moves the
dataset away from the file's; the variant's published defaults
(``--variant``, with its image setting on image datasets; without
``--variant`` the file's own objective and settings stand, and its
``variant`` field names the run); then every ``--config.*`` flag and the
shortcuts ``--dataset``, ``--data_dir`` and ``--seed``. It is validated
once before
anything is written. Results go to ``--workdir`` (default
``runs/<variant>_<dataset>_seed<seed>``); running the same command again
resumes from the last checkpoint there (refused, naming the fields, if the
config changed in a way that changes the run, unless
``--allow_config_change``). SIGTERM or Ctrl-C saves a checkpoint and exits
with 128 + the signal number (docs/reliability.md).

Examples:
  python -m experiments.run --variant=wgan_gp
  python -m experiments.run --variant=non_saturating --dataset=digits
  python -m experiments.run --variant=vanilla --dataset=ring8 --seed=3
  python -m experiments.run --variant=wgan_gp --config.objective.n_critic=1 \
      --config.train.steps=5000 --workdir=runs/ncritic1
"""

import os
import re
import sys

import jax
from absl import app, flags
from ml_collections import config_flags

from experiments import cli

# The --compilation_cache flag, which cli.start reads: defined on import,
# before the command line is parsed.
from experiments.runner import compilation_cache  # noqa: F401
from experiments.runner import launch, validation
from experiments.runner.config_layers import (
    check_resume,
    config_file_error,
    default_fields,
    default_workdir,
    one_line,
    replaced_file_choices,
    resolve_config,
    with_shortcuts,
)
from gan_jax import config as gan_config
from gan_jax.variants import VARIANTS

_DEFAULT_CONFIG = os.path.join(
    os.path.dirname(__file__), 'configs', 'default.py'
)


def _config_file_error(error: Exception) -> str:
  return config_file_error(sys.argv, error)


def _define_config_flag():
  """DEFINE_config_file, with a bad ``--config`` file or ``--config.x``
  as one clear line.

  config_flags loads the file and applies the command line's overrides
  while the flag is being defined, so they fail here, before main() runs.
  """
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
_VARIANT = flags.DEFINE_string(
    'variant',
    None,
    f'GAN variant: {", ".join(VARIANTS)}. Applies its '
    'published settings over the config file; without it the file is taken '
    'as it is (default.py: non_saturating).',
)
_DATASET = flags.DEFINE_string(
    'dataset', None, 'Shortcut for --config.dataset.'
)
_DATA_DIR = flags.DEFINE_string(
    'data_dir',
    None,
    'Shortcut for --config.data.dir: the TFDS data dir '
    '(default $TFDS_DATA_DIR, else ~/tensorflow_datasets).',
)
_SEED = flags.DEFINE_integer('seed', None, 'Shortcut for --config.seed.')
_WORKDIR = flags.DEFINE_string(
    'workdir',
    None,
    'Output directory (default runs/<variant>_<dataset>_'
    'seed<seed>); an existing one is resumed.',
)
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change',
    False,
    'Resume a --workdir whose saved config '
    'differs from this one in a field that changes the run (otherwise '
    'refused, naming the fields).',
)


def _base_config():
  """The --config file's ConfigDict. config_flags defers some load errors
  (a missing file) to the first use of the value, so use it here."""
  try:
    base = _CONFIG.value
    base.keys()
    return base
  except Exception as error:  # Whatever the file raised, wrapped.
    sys.exit(_config_file_error(error))


def _note_replaced_file_choices(base, config, command_line) -> None:
  """One line on stderr when --variant or --dataset replaced values that a
  config file of the user's own set: the layers are documented, but a
  silent replacement still surprises."""
  replaced = replaced_file_choices(base, config, command_line)
  if not replaced or jax.process_index() != 0:
    return
  layers = ([f'--variant={_VARIANT.value}'] if _VARIANT.value else []) + (
      [f"dataset {config.dataset}'s defaults"]
      if 'dataset' in command_line
      else []
  )
  print(
      f'note: {" and ".join(layers)} replaced what '
      f'{config_flags.get_config_filename(FLAGS["config"])} set: '
      f'{", ".join(replaced)}; a --config.FIELD=VALUE flag keeps a value',
      file=sys.stderr,
  )


def main(argv):
  cli.start(argv, '--variant=..., --config.train.steps=...')
  try:
    base = _base_config()
    command_line = with_shortcuts(
        config_flags.get_override_values(FLAGS['config']),
        _DATASET.value,
        _SEED.value,
        _DATA_DIR.value,
    )
    config = resolve_config(base, _VARIANT.value, command_line)
    validation.validate(config, 1)  # Fast, before joining other hosts.
    launch.start()
    _note_replaced_file_choices(base, config, command_line)
    available = jax.device_count()
    requested = config.train.num_devices
    if jax.process_count() > 1 and requested not in (0, available):
      raise gan_config.ConfigError(
          f'train.num_devices={requested!r} is not allowed with '
          f'{jax.process_count()} processes: 0 or {available}, every '
          "host's devices"
      )
    if not 0 <= requested <= available:
      raise gan_config.ConfigError(
          f'train.num_devices={requested!r} is not allowed: an integer from 0 '
          f'(all) to {available}, the devices here'
      )
    validation.validate(config, requested or available)
    workdir = _WORKDIR.value or default_workdir(config)
    check_resume(workdir, config, _ALLOW_CONFIG_CHANGE.value)
  except (
      gan_config.ConfigError,
      launch.LaunchError,
      TypeError,
      KeyError,
      AttributeError,
  ) as e:
    # TypeError/KeyError: a value of the wrong type or an unknown field met
    # by ConfigDict; the message names it (and may quote a value holding a
    # line break: kept on one line).
    sys.exit(f'error: {one_line(str(e))}')

  # Imported late so that `--help` and config errors stay fast.
  from experiments.storage.checkpoints import CheckpointError
  from experiments.storage.failed_writes import (
      exit_after_failed_write,
      writing_failed,
  )
  from experiments.storage.workdir_lock import hold_for_job
  from experiments.runner.preemption import Interrupted
  from experiments.runner.train import summary_screen, train_and_evaluate
  from gan_jax.data.images import DatasetNotPrepared

  with hold_for_job(workdir):  # One live process per workdir.
    try:
      summary = train_and_evaluate(config, workdir, progress=_PROGRESS.value)
    except DatasetNotPrepared as error:  # Raised before anything is written.
      sys.exit(f'error: --dataset={config.dataset}: {error}')
    except gan_config.ConfigError as error:  # Before anything is written.
      sys.exit(f'error: {error}')
    except CheckpointError as error:  # The earlier checkpoints are intact.
      exit_after_failed_write(f'error: {error}')
    except OSError as error:  # Logs or pictures: a full disk, a removed dir.
      exit_after_failed_write(f'error: {writing_failed(workdir, error)}')
  if summary['status'] == 'interrupted':
    # 128 + the signal's number: a scheduler sees an interrupted job.
    sys.exit(Interrupted(summary['interrupted_by'], summary['step']).exit_code)
  if jax.process_index() == 0:
    print(summary_screen(summary))
  if summary['status'] != 'completed':
    sys.exit(1)


_TYPES = {bool: 'True or False', int: 'an integer', float: 'a number'}


def parse_flags(argv):
  """absl's parser, with a malformed flag value or config file as one line."""
  try:
    return FLAGS(argv)
  except flags.Error as error:
    text = str(error)
    if text.startswith('flag --config='):  # get_config() raised.
      sys.exit(_config_file_error(error))
    found = re.match(r'flag --config\.([\w.]+)=(.*?): ', text)
    kind = found and type(default_fields().get(found.group(1)))
    if found and kind in _TYPES:  # A value of the field's type, not parsed.
      sys.exit(
          f'error: --config.{found.group(1)}={found.group(2)!r} is not '
          f'allowed: {_TYPES[kind]}'
      )
    sys.exit(f'error: {one_line(text)}')
  except Exception as error:  # Raised while loading the --config file.
    sys.exit(_config_file_error(error))


FLAGS = flags.FLAGS

if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
