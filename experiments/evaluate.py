r"""Evaluates a finished (or interrupted) run after the fact.

  python -m experiments.evaluate --workdir=runs/X [--features=inception] \
      [--num_samples=50000] [--inception_weights=FILE] \
      [--resize=tensorflow|pytorch|clean] [--ref_stats=STATS.npz]
  python -m experiments.evaluate --dataset=NAME --write_ref_stats=STATS.npz

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
(the digest is recorded either way).

``--features=dinov2`` scores in DINOv2 features (FD-DINOv2, Stein et al.
2023: ``fd_dinov2``, KID, precision, recall, density, coverage; gan_jax/
dinov2_evaluation.py): ``--dinov2_model=vitl14`` for numbers to report
(the run's eval.dinov2.model otherwise), the release's weights file from
``--dinov2_weights``, ``$GAN_JAX_DINOV2_WEIGHTS`` or ``~/.cache/gan_jax``
(``dinov2_vitl14_pretrain.pth``), downloaded where a network exists.

``--resize`` preprocesses the Inception input as TTUR and torch-fidelity
(``tensorflow``), pytorch-fid (``pytorch``) or clean-fid (``clean``) do,
instead of as the run's eval.inception.resize says; the mode is recorded.
``--ref_stats=FILE.npz`` takes FID against a statistics file (``mu``,
``sigma``: pytorch-fid's ``--save-stats``, clean-fid's, or this command's
``--write_ref_stats``) instead of the train split's features; KID,
precision and recall, which need the features, are then not reported.
``--write_ref_stats=FILE.npz`` with ``--dataset`` (and ``--data_dir``) or
``--workdir`` writes the reference split's statistics in that layout
(with ``n``, ``resize``, ``dataset``, ``split`` and ``weights_sha256``)
and evaluates nothing. A run of a plug-in of one's own (an
objective, penalty or algorithm registered in a config file) needs that
file: ``--config=FILE`` loads it, registering what it registers, before the
run's config.json is read.

``--samples=FILE.npz`` (``python -m experiments.sample``'s images) scores
that file instead of the checkpoint, against the run's reference, in the
features the run evaluated in unless ``--features`` says; it writes
``evaluation_<features>_samples.json`` (``.1.json``, ... where taken).
"""

import sys
from typing import Any, Dict

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
    'features', 'inception', 'inception, classifier or dinov2.'
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
_DINOV2_MODEL = flags.DEFINE_enum(
    'dinov2_model',
    None,
    ['vits14', 'vitb14', 'vitl14', 'vitg14'],
    "With --features=dinov2: the DINOv2 model (default: the run's "
    'eval.dinov2.model, vits14 unless set; vitl14 is what dgm-eval reports).',
)
_DINOV2_WEIGHTS = flags.DEFINE_string(
    'dinov2_weights',
    None,
    "With --features=dinov2: the DINOv2 weights file (the release's "
    "dinov2_<model>_pretrain.pth, or .npz); default: the run's "
    'eval.dinov2.weights, $GAN_JAX_DINOV2_WEIGHTS, ~/.cache/gan_jax.',
)
_SAMPLES = flags.DEFINE_string(
    'samples',
    None,
    'An .npz of images (python -m experiments.sample --out=FILE.npz) to '
    "score against the run's reference instead of its checkpoint; "
    "--features defaults to the run's own evaluation features. Writes "
    'evaluation_<features>_samples.json (.1.json, ... if taken).',
)
_RESIZE = flags.DEFINE_enum(
    'resize',
    '',
    ['', 'tensorflow', 'pytorch', 'clean'],
    "The Inception input's resize and scaling: tensorflow (TTUR, "
    'torch-fidelity), pytorch (pytorch-fid) or clean (clean-fid); empty: '
    "the run's eval.inception.resize.",
)
_REF_STATS = flags.DEFINE_string(
    'ref_stats',
    None,
    'An .npz file of reference statistics (mu, sigma: pytorch-fid '
    '--save-stats, clean-fid, --write_ref_stats) that FID is taken against '
    "instead of the train split's features; KID, precision and recall are "
    'then not reported.',
)
_WRITE_REF_STATS = flags.DEFINE_string(
    'write_ref_stats',
    None,
    "Write the reference split's Inception statistics (mu, sigma, n, "
    'resize) to this .npz file instead of evaluating: of --dataset, or of '
    "--workdir's run (its dataset, data dir and resize).",
)
_DATASET = flags.DEFINE_string(
    'dataset', None, 'With --write_ref_stats: the dataset.'
)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'With --write_ref_stats --dataset: its data dir.'
)


def write_reference_stats():
  """--write_ref_stats: the reference split's statistics to a file."""
  from tqdm import tqdm
  from experiments.runner import evaluate_run
  from gan_jax.config import ConfigError
  from gan_jax.data.images import DatasetNotPrepared
  from gan_jax.metrics.inception_weights import BadWeights, WeightsNotFound

  bars = []

  def progress(total, what):
    bars.append(
        tqdm(
            total=total,
            desc=what,
            unit='image',
            disable=not _PROGRESS.value,
            leave=False,
        )
    )
    return bars[-1].update

  try:
    written = evaluate_run.write_reference_stats(
        _WRITE_REF_STATS.value or '',
        _DATASET.value or '',
        _WORKDIR.value or '',
        _DATA_DIR.value or '',
        _INCEPTION_WEIGHTS.value,
        _ANY_WEIGHTS.value,
        _NUM_SAMPLES.value,
        _BATCH_SIZE.value,
        _RESIZE.value,
        progress,
    )
  except (
      evaluate_run.EvaluationError,
      WeightsNotFound,
      BadWeights,
      ConfigError,
      DatasetNotPrepared,
      OSError,
  ) as error:
    sys.exit(f'error: {error}')
  finally:
    for bar in bars:
      bar.close()
  print(
      f"written {written['path']}: mu and sigma of {written['n']} "
      f"{written['dataset']}/{written['split']} images, resize "
      f"{written['resize']}"
      + (f" ({written['note']})" if 'note' in written else '')
  )


def main(argv):
  compilation_cache.configure()  # Before anything compiles.
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; options are flags')
  if _WRITE_REF_STATS.value:
    for name in ('samples', 'ref_stats', 'features', 'dinov2_model'):
      if flags.FLAGS[name].present:
        sys.exit(
            f'error: --write_ref_stats writes Inception statistics and '
            f'evaluates nothing; leave out --{name}'
        )
    write_reference_stats()
    return
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
    options: Dict[str, Any] = dict(
        num_samples=_NUM_SAMPLES.value,
        weights=_INCEPTION_WEIGHTS.value,
        any_weights=_ANY_WEIGHTS.value,
        batch_size=_BATCH_SIZE.value,
        progress=progress,
        resize=_RESIZE.value,
        ref_stats=_REF_STATS.value or '',
        dinov2_model=_DINOV2_MODEL.value or '',
        dinov2_weights_path=_DINOV2_WEIGHTS.value or '',
    )
    if _SAMPLES.value:  # A file of samples rather than the checkpoint.
      report = evaluate_run.evaluate_samples(
          _WORKDIR.value or '',
          _SAMPLES.value,
          _FEATURES.value if flags.FLAGS['features'].present else None,
          **options,
      )
    else:
      report = evaluate_run.evaluate_workdir(
          _WORKDIR.value, _FEATURES.value, **options
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
    sys.exit(cli.refused(error, bool(_CONFIG.value)))
  finally:
    for bar in bars:
      bar.close()
  print(evaluate_run.table(report))
  print(f"\nwritten to {report['written']}")


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
