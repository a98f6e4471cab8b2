"""Evaluates a run's checkpoint after the fact (``python -m
experiments.evaluate``): its EMA and its live generator, in the features
papers report (Inception; gan_jax/inception_evaluation.py says the
protocol) or in the dataset classifier's, as the run reports while it
trains (gan_jax/image_evaluation.py).
"""

import functools
import hashlib
import json
import os
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from experiments.runner import config_layers, evaluators, inputs, loop
from experiments.runner import validation
from experiments.storage import checkpoints, writers
from gan_jax import config as gan_config, image_evaluation
from gan_jax import dinov2_evaluation, inception_evaluation
from gan_jax import state as gan_state
from gan_jax.data import images as image_data, is_image_dataset
from gan_jax.data import own_images
from gan_jax.metrics import dinov2_weights, inception_weights
from gan_jax.metrics.inception import RESIZE_MODES

FEATURES = ('inception', 'classifier', 'dinov2')


class EvaluationError(ValueError):
  """A workdir, option or file that cannot be evaluated; one line."""


def saved_config(workdir: str) -> Dict[str, Any]:
  """The run's config.json as written."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise EvaluationError(f'--workdir={workdir} holds no run (no config.json)')
  try:
    with open(path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as error:
    raise EvaluationError(
        f'--workdir={workdir}: {path} cannot be read ({error})'
    ) from None
  if not isinstance(saved, dict):
    raise EvaluationError(f'--workdir={workdir}: {path} holds no config')
  return saved


def is_translation(saved: Dict[str, Any]) -> bool:
  """Whether a config.json is experiments.translate's (a CycleGAN run
  names a pair of domains, a GAN run a dataset)."""
  return 'pair' in saved and 'dataset' not in saved


def read_config(workdir: str):
  config = config_layers.with_new_fields(saved_config(workdir))
  validation.validate(config, 1)
  return config


def check_has_checkpoint(workdir: str) -> None:
  """Before building and compiling anything to restore into."""
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise EvaluationError(f'--workdir={workdir} has no checkpoint to evaluate')


def restore_latest(workdir: str, keep: int, like):
  """The workdir's latest readable checkpoint in the structure of ``like``,
  changing nothing there (a damaged step is the error, not set aside)."""
  check_has_checkpoint(workdir)
  ckpt = checkpoints.Checkpointer(workdir, keep)
  try:
    if ckpt.latest_step() is None:
      raise EvaluationError(
          f'--workdir={workdir} has no checkpoint to evaluate'
      )
    return ckpt.restore(like, set_aside=False)
  finally:
    ckpt.close()


def restore_state(config, workdir: str):
  """The run's latest readable checkpoint, its step and the spec."""
  check_has_checkpoint(workdir)
  spec, hparams, _ = gan_config.build(config)
  # On this process's first device, whatever devices the run trained on.
  like = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  return spec, restore_latest(workdir, config.train.keep_checkpoints, like)


def find_weights(weights: Optional[str], alternative: str = '') -> str:
  """The Inception weights' path (inception_weights.find_weights); where
  they are not found, the one line says where to put them and then
  ``alternative``, the evaluation that needs none (e.g. --features=
  classifier), where the run has one."""
  try:
    return inception_weights.find_weights(weights)
  except inception_weights.WeightsNotFound as error:
    raise inception_weights.WeightsNotFound(
        f'{error}; {alternative}' if alternative else str(error)
    ) from None


CLASSIFIER_INSTEAD = (
    "or evaluate in the dataset classifier's features, which need no "
    'download: --features=classifier'
)


def find_feature_weights(
    features: str,
    weights: Optional[str],
    config,
    dinov2_model: str = '',
    dinov2_weights_path: str = '',
) -> Optional[str]:
  """The weights file of ``features``: Inception's (``weights``;
  find_weights), the DINOv2 model's (``dinov2_model``, else the run's
  eval.dinov2.model; ``dinov2_weights_path``, else eval.dinov2.weights,
  else looked up), or None for the classifier. Not found: one line, as
  find_weights."""
  instead = '' if own_images.is_own(config.dataset) else CLASSIFIER_INSTEAD
  if features == 'inception':
    return find_weights(weights, instead)
  if features != 'dinov2':
    return None
  settings = config.eval.dinov2
  try:
    return dinov2_weights.find_weights(
        dinov2_model or settings.model,
        dinov2_weights_path or settings.weights or None,
    )
  except dinov2_weights.WeightsNotFound as error:
    raise dinov2_weights.WeightsNotFound(
        f'{error}; {instead}' if instead else str(error)
    ) from None


def feature_evaluator(
    features: str,
    config,
    path: str,
    num_samples: int,
    batch_size: int,
    any_weights: bool = False,
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
    resize: str = '',
    ref_stats: str = '',
    dinov2_model: str = '',
):
  """(evaluator, note) in Inception's or DINOv2's features (``features``)
  for ``config``'s run, the weights read from ``path``: ``num_samples`` 0
  is the dataset's usual count (capped on a CPU, which ``note`` says),
  ``batch_size`` 0 chosen for the platform; ``resize`` '' the run's
  eval.inception.resize, ``dinov2_model`` '' its eval.dinov2.model. A
  conditional run's evaluator also gives the intra-class distance."""
  platform = jax.devices()[0].platform
  data_dir = config.data.dir or image_data.default_data_dir()
  module = dinov2_evaluation if features == 'dinov2' else inception_evaluation
  usual, note = module.default_num_samples(config.dataset, platform)
  common = dict(
      dataset=config.dataset,
      data_dir=data_dir,
      num_samples=num_samples or usual,
      batch_size=batch_size or module.default_batch_size(platform),
      progress=progress,
      conditional=config.model.conditional,
  )
  evaluator: Any
  try:
    if features == 'dinov2':
      evaluator = dinov2_evaluation.build(
          model=dinov2_model or config.eval.dinov2.model,
          weights_path=path,
          resize=config.eval.dinov2.resize,
          **common,
      )
    else:
      evaluator = inception_evaluation.build(
          weights_path=path,
          any_weights=any_weights,
          resize=resize or config.eval.inception.resize,
          ref_stats=ref_stats,
          **common,
      )
  except ValueError as error:  # Images of a shape the network cannot read.
    raise EvaluationError(str(error)) from None
  return evaluator, '' if num_samples else note


def check_inception_options(features: str, resize: str, ref_stats: str):
  """--resize and --ref_stats, before anything is read (one line)."""
  if resize and resize not in RESIZE_MODES:
    raise EvaluationError(
        f'--resize={resize}: give {", ".join(RESIZE_MODES)} (or '
        "nothing: the run's eval.inception.resize)"
    )
  if (resize or ref_stats) and features != 'inception':
    raise EvaluationError(
        f'--resize and --ref_stats are for --features=inception, not '
        f'--features={features}'
    )
  if ref_stats and not os.path.isfile(ref_stats):
    raise EvaluationError(f'--ref_stats={ref_stats}: no such file')
  if ref_stats:  # Its keys, shapes and values, before weights are sought.
    try:
      inception_evaluation.read_reference_stats(ref_stats)
    except inception_evaluation.BadReferenceStats as error:
      raise EvaluationError(str(error)) from None


def write_reference_stats(
    path: str,
    dataset: str = '',
    workdir: str = '',
    data_dir: str = '',
    weights: Optional[str] = None,
    any_weights: bool = False,
    num_samples: int = 0,
    batch_size: int = 0,
    resize: str = '',
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
) -> Dict[str, Any]:
  """Writes the pool3 statistics (``mu``, ``sigma``; pytorch-fid's and
  clean-fid's layout, with ``n``, ``resize``, ``dataset``, ``split`` and
  ``weights_sha256`` beside them) of the reference split of ``dataset``,
  or of ``workdir``'s run (its dataset, data dir and eval.inception.resize
  unless given), to ``path``; returns what was written. ``num_samples`` 0:
  the dataset's usual count, capped on a CPU as an evaluation is."""
  if bool(dataset) == bool(workdir):
    raise EvaluationError(
        '--write_ref_stats: give --dataset=NAME, or --workdir=W to take the '
        "run's dataset, data dir and resize mode (one of them)"
    )
  check_inception_options('inception', resize, '')
  if os.path.lexists(path):
    raise EvaluationError(
        f'--write_ref_stats={path} exists; give a new file name (nothing '
        'is replaced)'
    )
  if workdir:
    config = read_config(workdir)
    dataset = config.dataset
    data_dir = data_dir or config.data.dir
    resize = resize or config.eval.inception.resize
  if not is_image_dataset(dataset):
    raise EvaluationError(f'--write_ref_stats: {dataset!r} is no image dataset')
  if num_samples < 0 or num_samples == 1 or batch_size < 0:
    raise EvaluationError(
        '--num_samples must be 0 (the usual protocol) or at least 2, and '
        '--batch_size 0 (chosen) or positive'
    )
  resize = resize or 'tensorflow'
  data_dir = data_dir or image_data.default_data_dir()
  variables, digest = inception_weights.load_variables(
      find_weights(weights),
      None if any_weights else inception_weights.SHA256_PREFIX,
  )
  platform = jax.devices()[0].platform
  usual, note = inception_evaluation.default_num_samples(dataset, platform)
  split = inception_evaluation.usual_protocol(dataset).reference_split
  available = len(image_data.RecordReader(dataset, split, data_dir))
  n = min(num_samples or usual, available)
  try:
    pool3 = inception_evaluation.reference_features(
        dataset,
        split,
        n,
        data_dir,
        variables,
        digest,
        batch_size or inception_evaluation.default_batch_size(platform),
        progress(n, f'{dataset}/{split} features'),
        resize=resize,
    )
  except ValueError as error:  # Images of a shape Inception cannot read.
    raise EvaluationError(str(error)) from None
  info = {
      'resize': resize,
      'dataset': dataset,
      'split': split,
      'weights_sha256': digest,
  }
  inception_evaluation.write_reference_stats(path, pool3, info)
  return {
      'path': os.path.abspath(path),
      'n': n,
      **info,
      **({'note': note} if note and not num_samples else {}),
  }


def generators(state) -> Dict[str, Any]:
  """{'ema': state, 'live': state without its EMA} (only 'live' when the
  run kept no EMA)."""
  live = state.replace(g_ema=None)
  return (
      {'ema': state, 'live': live}
      if state.g_ema is not None
      else {'live': live}
  )


def evaluate_workdir(
    workdir: str,
    features: str = 'inception',
    num_samples: int = 0,
    weights: Optional[str] = None,
    any_weights: bool = False,
    batch_size: int = 0,
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
    resize: str = '',
    ref_stats: str = '',
    dinov2_model: str = '',
    dinov2_weights_path: str = '',
) -> Dict[str, Any]:
  """Evaluates ``workdir``'s latest checkpoint; writes and returns the
  results (``evaluation_<features>.json`` beside the run).

  Inception only: ``resize`` '' preprocesses as the run's
  eval.inception.resize says, else as named (RESIZE_MODES); ``ref_stats``
  names a statistics file (mu, sigma) that FID is taken against instead of
  the train split's features (KID, precision and recall are then not
  reported: said in the protocol and under the table).

  DINOv2 only (``features`` 'dinov2', FD-DINOv2: gan_jax/
  dinov2_evaluation.py): ``dinov2_model`` '' is the run's
  eval.dinov2.model (give 'vitl14' for numbers to report),
  ``dinov2_weights_path`` '' the run's eval.dinov2.weights, else looked up.

  ``num_samples`` 0: the dataset's usual protocol (Inception: 50,000 on
  CIFAR-10, capped at 10,000 on a CPU and said so; classifier: the run's
  eval.num_samples). ``batch_size`` 0: chosen for the platform.
  ``progress(total, what)`` returns a callback that is told how many
  images were processed.
  """
  if features not in FEATURES:
    raise EvaluationError(
        f'--features={features}: give {" or ".join(FEATURES)}'
    )
  check_inception_options(features, resize, ref_stats)
  if num_samples < 0 or num_samples == 1 or batch_size < 0:
    raise EvaluationError(
        '--num_samples must be 0 (the usual protocol) or '
        'at least 2, and --batch_size 0 (chosen) or '
        'positive'
    )
  saved = saved_config(workdir)
  if is_translation(saved):
    if features == 'dinov2':
      raise EvaluationError(
          f'--features=dinov2: --workdir={workdir} is a CycleGAN run; give '
          'inception or classifier'
      )
    from experiments.translation import evaluate_run as translation_evaluation

    return translation_evaluation.evaluate_workdir(
        workdir,
        saved,
        features,
        num_samples,
        weights,
        any_weights,
        batch_size,
        progress,
    )
  config = read_config(workdir)
  if not is_image_dataset(config.dataset):
    raise EvaluationError(
        f'--workdir={workdir} trained on '
        f'{config.dataset}, a 2-D benchmark: its metrics '
        'are in its summary.json'
    )
  if features == 'classifier' and own_images.is_own(config.dataset):
    raise EvaluationError(
        f'--features=classifier: --workdir={workdir} trained on '
        f'{config.dataset}, which has no classifier (it needs labelled, '
        'held-out images); use --features=inception'
    )
  # Before the checkpoint is restored: a missing file is said at once.
  path = find_feature_weights(
      features, weights, config, dinov2_model, dinov2_weights_path
  )
  spec, state = restore_state(config, workdir)
  step = int(state.step)
  source = image_data.image_source(config.dataset, config)
  eval_rng = loop.run_keys(config.seed)[2]  # The run's evaluation key.
  data_dir = config.data.dir or image_data.default_data_dir()
  labels = None
  if config.model.conditional:
    labels = jnp.asarray(
        image_data.load_split(config.dataset, source.train_split, data_dir)[1]
    )

  def generate(state, rng, count):  # At the dataset's size, as runs do.
    images = image_evaluation.generate_images(spec, state, rng, count, labels)
    return inputs.resize(images, source.shape[0])

  def generate_class(state, rng, count, label):  # A conditional G's class.
    images = image_evaluation.generate_images(
        spec, state, rng, count, jnp.full((1,), label)
    )
    return inputs.resize(images, source.shape[0])

  if path is not None:
    inception, note = feature_evaluator(
        features,
        config,
        path,
        num_samples,
        batch_size,
        any_weights,
        progress,
        resize,
        ref_stats,
        dinov2_model,
    )
    results = {}
    for name, generator in generators(state).items():
      results[name], _ = inception.evaluate(
          functools.partial(generate, generator),
          jax.random.fold_in(eval_rng, step),
          (
              functools.partial(generate_class, generator)
              if config.model.conditional
              else None
          ),
          advance=progress(inception.num_samples, f'{name} G'),
      )
    protocol = inception.protocol(config.dataset)
    if note:
      protocol['features_note'] = note
  else:
    image_config = config.copy_and_resolve_references()
    image_config.eval.features = 'classifier'
    image_config.eval.num_samples = num_samples or config.eval.num_samples
    classifier = evaluators.ImageEvaluator(image_config, spec, eval_rng)
    results = {}
    for name, generator in generators(state).items():
      # As the run evaluates: its evaluation key folded with the step.
      results[name] = classifier.evaluate(
          generator, step, workdir, writers.NoWriter(), picture=False
      )
      progress(1, f'{name} G')(1)
    protocol = classifier.protocol()
  report = {
      'workdir': os.path.abspath(workdir),
      'step': step,
      'dataset': config.dataset,
      'variant': config.variant,
      'features': features,
      'results': results,
      'protocol': protocol,
  }
  # An earlier evaluation (another --resize, --ref_stats or n) is kept.
  report['written'] = free_name(workdir, f'evaluation_{features}')
  writers.write_json(report['written'], report)
  return report


def table(report: Dict[str, Any]) -> str:
  """The results as a Markdown table, a row per generator (a translation
  run's: per translator, the trained one and the references)."""
  names = list(next(iter(report['results'].values())))
  protocol = report['protocol']
  if 'pair' in report:
    images = protocol['test_images']
    title = (
        f"CycleGAN ({report['algorithm']}) on {report['pair']} at step "
        f"{report['step']}, {report['features']} features "
        f"({images['x']} + {images['y']} test images):"
    )
  else:
    step = (
        f"at step {report['step']}"
        if report['step'] is not None
        else 'from a file of unknown step'
    )
    title = (
        f"{report['variant']} on {report['dataset']} {step}, "
        f"{report['features']} features "
        f"({protocol['num_samples']} samples"
        + (
            f", resize {protocol['resize_mode']}"
            if 'resize_mode' in protocol
            else ''
        )
        + '):'
    )
  first = 'translator' if 'pair' in report else 'G'
  lines = [
      title,
      '',
      f'| {first} | ' + ' | '.join(names) + ' |',
      '|---|' + '---|' * len(names),
  ]
  for generator, values in report['results'].items():
    lines.append(
        f'| {generator} | '
        + ' | '.join(f"{values.get(n, float('nan')):.4g}" for n in names)
        + ' |'
    )
  if 'reference_stats' in protocol:
    lines += [
        '',
        f"FID against {protocol['reference_stats']}; not reported: "
        f"{protocol['not_reported']}.",
    ]
  if 'intra_class_note' in protocol:
    lines += ['', protocol['intra_class_note']]
  return '\n'.join(lines)


def run_features(config, platform: Optional[str] = None) -> str:
  """The features the run evaluated in while it trained: eval.features,
  'auto' resolved as the runner resolves it (classifier on a CPU)."""
  features = config.eval.features
  if features == 'auto':
    platform = platform or jax.devices()[0].platform
    if platform == 'cpu' and not own_images.is_own(config.dataset):
      return 'classifier'
    return 'inception'  # A folder's or tfds: dataset has no classifier.
  return features


def read_samples(path: str, channels: int, num_classes: int):
  """(images uint8 [N, H, W, C], labels or None, where they came from) of
  an .npz of samples (experiments.sample's layout: ``arr_0``, ``arr_1``)."""
  from experiments.runner import sampling

  if not path.endswith('.npz'):
    raise EvaluationError(
        f'--samples={path}: give an .npz file of images (python -m '
        'experiments.sample --out=FILE.npz)'
    )
  if not os.path.isfile(path):
    raise EvaluationError(f'--samples={path}: no such file')
  try:
    with np.load(path, allow_pickle=False) as npz:
      if 'arr_0' not in npz.files:
        raise EvaluationError(
            f'--samples={path} holds no arr_0 (images uint8 [N, H, W, C])'
        )
      images = npz['arr_0']
      labels = npz['arr_1'] if 'arr_1' in npz.files else None
      info = sampling.read_npz_info(npz)
  except (OSError, ValueError, EOFError) as error:
    if isinstance(error, EvaluationError):
      raise
    raise EvaluationError(
        f'--samples={path} cannot be read as an .npz file of arrays '
        f'({type(error).__name__})'
    ) from None
  if (
      images.dtype != np.uint8
      or images.ndim != 4
      or images.shape[1] != images.shape[2]
      or images.shape[-1] != channels
      or len(images) < 2
  ):
    raise EvaluationError(
        f'--samples={path}: arr_0 is {images.dtype} {list(images.shape)}; '
        f'expected uint8 [N >= 2, side, side, {channels}] for this run'
    )
  if labels is not None and (
      labels.shape != (len(images),)
      or not np.issubdtype(labels.dtype, np.integer)
      or labels.min() < 0
      or labels.max() >= num_classes
  ):
    values = f' in [{labels.min()}, {labels.max()}]' if labels.size else ''
    raise EvaluationError(
        f'--samples={path}: arr_1 (labels) is {labels.dtype} '
        f'{list(labels.shape)}{values}; expected {len(images)} integers in '
        f'[0, {num_classes})'
    )
  return images, labels, info


def free_name(workdir: str, stem: str) -> str:
  """``stem``.json in ``workdir``, or the first of ``stem``.1.json, ...
  that does not exist: nothing written before is replaced."""
  path, n = os.path.join(workdir, f'{stem}.json'), 0
  while os.path.lexists(path):
    n += 1
    path = os.path.join(workdir, f'{stem}.{n}.json')
  return path


def evaluate_samples(
    workdir: str,
    samples: str,
    features: Optional[str] = None,
    num_samples: int = 0,
    weights: Optional[str] = None,
    any_weights: bool = False,
    batch_size: int = 0,
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
    resize: str = '',
    ref_stats: str = '',
    dinov2_model: str = '',
    dinov2_weights_path: str = '',
) -> Dict[str, Any]:
  """Scores the images of ``samples`` (an .npz, experiments.sample's) as
  ``workdir``'s evaluation scores its G: against the run's reference, in
  ``features`` (None: the features the run evaluated in). Writes and
  returns the results (``evaluation_<features>_samples.json``, or
  ``...samples.1.json`` and on where that exists).

  Classifier features: FD, KID, precision/recall and density/coverage over
  the first ``n = min(num_samples or the run's eval.num_samples, N,
  held-out size)`` images, modes and the classifier score over all N, as
  the run's evaluation counts them (it draws max(n, eval.mode_samples)).
  Inception or DINOv2: the first ``num_samples`` (0: all N); ``resize``,
  ``ref_stats``, ``dinov2_model`` and ``dinov2_weights_path`` as for
  :func:`evaluate_workdir`. A conditional run's file with labels
  (``arr_1``) also gets the intra-class distance, each class's images
  against the reference images of that class.
  """
  saved = saved_config(workdir)
  if is_translation(saved):
    raise EvaluationError(
        f'--samples: --workdir={workdir} is a CycleGAN run; score its '
        'translations with experiments.evaluate without --samples'
    )
  config = read_config(workdir)
  if not is_image_dataset(config.dataset):
    raise EvaluationError(
        f'--samples: --workdir={workdir} trained on {config.dataset}, a 2-D '
        'benchmark: its metrics are in its summary.json'
    )
  features = features or run_features(config)
  if features not in FEATURES:
    raise EvaluationError(
        f'--features={features}: give {" or ".join(FEATURES)}'
    )
  check_inception_options(features, resize, ref_stats)
  if features == 'classifier' and own_images.is_own(config.dataset):
    raise EvaluationError(
        f'--features=classifier: --workdir={workdir} trained on '
        f'{config.dataset}, which has no classifier (it needs labelled, '
        'held-out images); use --features=inception or dinov2'
    )
  if num_samples < 0 or num_samples == 1 or batch_size < 0:
    raise EvaluationError(
        '--num_samples must be 0 (the usual protocol) or at least 2, and '
        '--batch_size 0 (chosen) or positive'
    )
  source = image_data.image_source(config.dataset, config)
  images, labels, info = read_samples(
      samples, source.shape[-1], source.num_classes
  )
  path = find_feature_weights(
      features, weights, config, dinov2_model, dinov2_weights_path
  )
  count = len(images)
  data_dir = config.data.dir or image_data.default_data_dir()

  def generate(rng, wanted):  # The file's images, at the dataset's size.
    del rng
    if wanted > count:
      raise EvaluationError(f'--samples: {wanted} images asked, {count} held')
    x = image_data_to_network(images[:wanted])
    return inputs.resize(x, source.shape[0])

  def generate_class(rng, wanted, label):  # The file's images of a class.
    del rng
    assert labels is not None
    x = image_data_to_network(images[labels == label][:wanted])
    return inputs.resize(x, source.shape[0])

  by_class = (
      generate_class
      if config.model.conditional and labels is not None
      else None
  )
  if path is not None:
    inception, _ = feature_evaluator(
        features,
        config,
        path,
        min(num_samples or count, count),
        batch_size,
        any_weights,
        progress,
        resize,
        ref_stats,
        dinov2_model,
    )
    result, _ = inception.evaluate(
        generate,
        jax.random.PRNGKey(0),  # Not drawn from: the file holds the images.
        by_class,
        advance=progress(inception.num_samples, 'samples'),
    )
    protocol = inception.protocol(config.dataset)
  else:
    image_config = config.copy_and_resolve_references()
    image_config.eval.features = 'classifier'
    image_config.eval.num_samples = min(
        num_samples or config.eval.num_samples, count
    )
    image_config.eval.mode_samples = count
    classifier = evaluators.classifier_metrics(image_config, data_dir)
    result, _ = classifier.evaluate(generate, jax.random.PRNGKey(0), by_class)
    progress(1, 'samples')(1)
    protocol = classifier.protocol(config.dataset)
  if config.model.conditional and labels is None:
    protocol['intra_class_note'] = (
        'no intra-class distance: the file holds no labels (arr_1); '
        'experiments.sample writes them for a conditional G'
    )
  with open(samples, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  report = {
      'workdir': os.path.abspath(workdir),
      'step': info.get('step'),
      'dataset': config.dataset,
      'variant': config.variant,
      'features': features,
      'results': {'samples': result},
      'protocol': protocol,
      'samples': {
          'path': os.path.abspath(samples),
          'sha256': digest,
          'count': count,
          'labels': labels is not None,
          'written_by': info,
      },
  }
  report['written'] = free_name(workdir, f'evaluation_{features}_samples')
  writers.write_json(report['written'], report)
  return report


def image_data_to_network(images: np.ndarray) -> jax.Array:
  """uint8 images -> [-1, 1], as the data reach G's discriminator."""
  from gan_jax.data.on_device import DeviceImages

  return DeviceImages.to_network(jnp.asarray(images))
