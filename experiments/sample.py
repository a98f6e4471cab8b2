r"""Writes samples out of a run's checkpoint.

  python -m experiments.sample --workdir=runs/X --num=10000 --out=x.npz
  python -m experiments.sample --workdir=runs/X --num=64 --out=pngs/
  python -m experiments.sample --workdir=runs/X --interpolate=6 --out=i.png

The EMA G by default (``--generator=live`` the trained one), from the
latest checkpoint or ``--step``. ``--out``: FILE.npz (``arr_0`` uint8
[N, H, W, C], ``arr_1`` the labels of a conditional G), a directory of PNG
files (000000.png, ...; labels.csv beside them), for a 2-D run FILE.npy or
FILE.csv of points, with ``--interpolate=K`` one PNG of K rows. The same
command writes the same samples (``--seed``); ``--seed=eval`` writes the
images the run's evaluation drew at that step, which
``python -m experiments.evaluate --samples=FILE.npz`` scores as the run
did. Existing files are never replaced without ``--overwrite``. What each
option means: experiments/runner/sampling.py and docs/runs.md.
"""

import sys

from absl import app, flags

from experiments import cli

# The --compilation_cache flag, which cli.start reads.
from experiments.runner import compilation_cache  # noqa: F401

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run to sample.')
_CONFIG = flags.DEFINE_string(
    'config',
    None,
    'The config file the run was trained with, when it registers plug-ins '
    '(docs/forking.md).',
)
_OUT = flags.DEFINE_string(
    'out',
    None,
    'FILE.npz, a directory for PNG files, FILE.npy or FILE.csv (2-D '
    'runs), or FILE.png (--interpolate).',
)
_NUM = flags.DEFINE_integer('num', 0, 'How many samples.')
_SEED = flags.DEFINE_string(
    'seed',
    '0',
    "An integer, or 'eval': the images the run's evaluation drew at the "
    'step.',
)
_STEP = flags.DEFINE_integer(
    'step', None, 'The checkpoint step; default the latest.'
)
_GENERATOR = flags.DEFINE_string(
    'generator',
    None,
    'ema (default, where the run kept one) or live.',
)
_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size', 500, 'Samples per generator call.'
)
_LABEL = flags.DEFINE_integer(
    'label',
    None,
    'A conditional G: this class for every sample (default: the classes '
    'in turn, balanced).',
)
_TRUNCATION = flags.DEFINE_float(
    'truncation',
    None,
    "StyleGAN2's truncation psi in [0, 1] (default: the run's "
    'model.truncation_psi).',
)
_INTERPOLATE = flags.DEFINE_integer(
    'interpolate',
    0,
    'Rows of a latent interpolation grid, written to --out=FILE.png.',
)
_INTERPOLATE_STEPS = flags.DEFINE_integer(
    'interpolate_steps', 8, 'Images per interpolation row.'
)
_INTERPOLATION = flags.DEFINE_string(
    'interpolation', 'slerp', 'slerp (spherical, for Gaussian z) or linear.'
)
_OVERWRITE = flags.DEFINE_bool(
    'overwrite', False, 'Replace existing files of the same names.'
)


def main(argv):
  cli.start(argv, '--workdir=runs/X --num=1000 --out=x.npz')
  if not _WORKDIR.value:
    sys.exit('error: --workdir: give the run directory to sample')
  # Imported late so that --help and flag errors stay fast.
  from experiments.runner import evaluate_run, sampling
  from experiments.runner.config_layers import (
      ConfigFileError,
      load_config_file,
  )
  from experiments.storage.checkpoints import CheckpointError
  from gan_jax.config import ConfigError
  from gan_jax.data.images import DatasetNotPrepared

  try:
    if _INTERPOLATE.value and flags.FLAGS['num'].present:
      raise sampling.SampleError(
          '--num with --interpolate: a strip has --interpolate rows of '
          '--interpolate_steps images; leave out --num'
      )
    request = sampling.Request(
        workdir=_WORKDIR.value,
        out=_OUT.value or '',
        num=_NUM.value,
        seed=sampling.parse_seed(_SEED.value),
        step=_STEP.value,
        generator=_GENERATOR.value,
        batch_size=_BATCH_SIZE.value,
        label=_LABEL.value,
        truncation=_TRUNCATION.value,
        interpolate=_INTERPOLATE.value,
        interpolate_steps=_INTERPOLATE_STEPS.value,
        interpolation=_INTERPOLATION.value,
        overwrite=_OVERWRITE.value,
    )
    if _CONFIG.value:
      load_config_file(_CONFIG.value)
    written = sampling.sample(request)
  except (
      sampling.SampleError,
      evaluate_run.EvaluationError,
      ConfigError,
      CheckpointError,
      DatasetNotPrepared,
      ConfigFileError,
      OSError,
  ) as error:
    sys.exit(cli.refused(error, bool(_CONFIG.value)))
  print(
      f"wrote {written['count']} samples of {written['variant']} on "
      f"{written['dataset']} (step {written['step']}, "
      f"{written['generator']} G, seed {written['seed']}) to {written['out']}"
  )


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
