r"""Evaluates a finished (or interrupted) run after the fact.

  python -m experiments.evaluate --workdir=runs/X [--features=inception] \
      [--num_samples=50000] [--inception_weights=FILE]

Restores the run's latest checkpoint and evaluates its EMA and its live
generator: with ``--features=inception`` (default) FID, KID, precision,
recall and the Inception score in the FID Inception network's features
against the train split, as papers report them (gan_jax/
inception_evaluation.py says the protocol); with ``--features=classifier``
the metrics the run reports while training. Writes
``evaluation_<features>.json`` beside the run and prints the table.

A CycleGAN run (``python -m experiments.translate``) is scored as it scores
itself (docs/translation.md), beside its reference translators (identity,
the known correspondence, untrained): ``--features=inception`` gives FID
and KID in the Inception network's features, ``--features=classifier``
(digits_rot only) the digit classifier's accuracies and FD; ``--num_samples``
is test images per domain there. 2-D runs, GAN or CycleGAN, are refused:
their metrics need no features and are in their summary.json.

The Inception weights (pytorch-fid's pt_inception-2015-12-05-6726825d.pth)
are looked for in ``--inception_weights``, ``$GAN_JAX_INCEPTION_WEIGHTS``
and ``~/.cache/gan_jax``, then downloaded where a network exists; a file
whose SHA-256 is not the standard one is refused unless ``--any_weights``
(the digest is recorded either way). A run of a plug-in of one's own (an
objective, penalty or algorithm registered in a config file) needs that
file: ``--config=FILE`` loads it, registering what it registers, before the
run's config.json is read.
"""

import sys

from absl import app, flags, logging

from experiments import cli
from experiments.runner import compilation_cache

_WORKDIR = flags.DEFINE_string('workdir', None, 'The run to evaluate.')
_CONFIG = flags.DEFINE_string(
    'config',
    None,
    'The config file the run was trained with, when it registers plug-ins '
    '(docs/forking.md).',
)
_FEATURES = flags.DEFINE_string(
    'features', 'inception', 'inception or classifier.'
)
_NUM_SAMPLES = flags.DEFINE_integer(
    'num_samples',
    0,
    'Generated images per generator, and as many '
    "reference images (at most the split's size). 0: the dataset's usual "
    'protocol (CIFAR-10 and CelebA 50,000; 10,000 on a CPU, where the '
    'Inception network reads about 11 images a second), or for '
    "--features=classifier the run's eval.num_samples. A CycleGAN run: "
    "test images per domain (0: the run's eval.num_samples).",
)
_INCEPTION_WEIGHTS = flags.DEFINE_string(
    'inception_weights',
    None,
    'The FID Inception weights file (.pth or .npz).',
)
_ANY_WEIGHTS = flags.DEFINE_bool(
    'any_weights',
    False,
    'Accept Inception weights that are not the '
    'standard file (numbers not comparable to papers).',
)
_BATCH_SIZE = flags.DEFINE_integer(
    'batch_size',
    0,
    'Images per Inception call; 0: 50 on a CPU, 250 on an accelerator.',
)
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show progress bars.')


def main(argv):
  compilation_cache.configure()  # Before anything compiles.
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; options are flags')
  if not _WORKDIR.value:
    sys.exit('error: --workdir: give the run directory to evaluate')
  # Imported late so that --help and flag errors stay fast.
  from tqdm import tqdm
  from experiments.runner import evaluate_run
  from experiments.storage.checkpoints import CheckpointError
  from gan_jax.config import ConfigError
  from gan_jax.data.images import DatasetNotPrepared
  from gan_jax.metrics.inception_weights import BadWeights, WeightsNotFound

  bars = []

  def progress(total, what):
    bar = tqdm(
        total=total,
        desc=what,
        unit='image',
        dynamic_ncols=True,
        disable=not _PROGRESS.value,
        leave=False,
    )
    bars.append(bar)
    return bar.update

  from experiments.runner.config_layers import (
      ConfigFileError,
      load_config_file,
  )

  try:
    if _CONFIG.value:
      load_config_file(_CONFIG.value)
    report = evaluate_run.evaluate_workdir(
        _WORKDIR.value,
        _FEATURES.value,
        _NUM_SAMPLES.value,
        _INCEPTION_WEIGHTS.value,
        _ANY_WEIGHTS.value,
        _BATCH_SIZE.value,
        progress,
    )
  except (
      evaluate_run.EvaluationError,
      WeightsNotFound,
      BadWeights,
      ConfigError,
      CheckpointError,
      DatasetNotPrepared,
      ConfigFileError,
  ) as error:
    hint = (
        ' (a run of a plug-in registered in a config file: give that file '
        'with --config)'
        if isinstance(error, ConfigError) and not _CONFIG.value
        else ''
    )
    sys.exit(f'error: {error}{hint}')
  finally:
    for bar in bars:
      bar.close()
  print(evaluate_run.table(report))
  print(
      f"\nwritten to {report['workdir']}/evaluation_"
      f"{report['features']}.json"
  )


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
