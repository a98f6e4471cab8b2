"""Evaluates a run's checkpoint after the fact (``python -m
experiments.evaluate``): its EMA and its live generator, in the features
papers report (Inception; gan_jax/inception_evaluation.py says the
protocol) or in the dataset classifier's, as the run reports while it
trains (gan_jax/image_evaluation.py).
"""

import functools
import json
import os
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp

from experiments.runner import config_layers, evaluators, inputs, loop
from experiments.runner import validation
from experiments.storage import checkpoints, writers
from gan_jax import config as gan_config, image_evaluation
from gan_jax import inception_evaluation, state as gan_state
from gan_jax.data import images as image_data, is_image_dataset
from gan_jax.metrics import inception_weights

FEATURES = ('inception', 'classifier')


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
) -> Dict[str, Any]:
  """Evaluates ``workdir``'s latest checkpoint; writes and returns the
  results (``evaluation_<features>.json`` beside the run).

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
  if num_samples < 0 or num_samples == 1 or batch_size < 0:
    raise EvaluationError(
        '--num_samples must be 0 (the usual protocol) or '
        'at least 2, and --batch_size 0 (chosen) or '
        'positive'
    )
  saved = saved_config(workdir)
  if is_translation(saved):
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
  # Before the checkpoint is restored: a missing file is said at once.
  path = (
      find_weights(weights, CLASSIFIER_INSTEAD)
      if features == 'inception'
      else None
  )
  spec, state = restore_state(config, workdir)
  step = int(state.step)
  source = image_data.IMAGE_SOURCES[config.dataset]
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

  if path is not None:
    platform = jax.devices()[0].platform
    usual, note = inception_evaluation.default_num_samples(
        config.dataset, platform
    )
    try:
      inception = inception_evaluation.build(
          config.dataset,
          data_dir,
          path,
          num_samples or usual,
          batch_size or inception_evaluation.default_batch_size(platform),
          any_weights,
          progress,
      )
    except ValueError as error:  # Images of a shape Inception cannot read.
      raise EvaluationError(str(error)) from None
    results = {}
    for name, generator in generators(state).items():
      results[name], _ = inception.evaluate(
          functools.partial(generate, generator),
          jax.random.fold_in(eval_rng, step),
          progress(inception.num_samples, f'{name} G'),
      )
    protocol = inception.protocol(config.dataset)
    if note and not num_samples:
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
  writers.write_json(
      os.path.join(workdir, f'evaluation_{features}.json'), report
  )
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
    title = (
        f"{report['variant']} on {report['dataset']} at step "
        f"{report['step']}, {report['features']} features "
        f"({protocol['num_samples']} samples):"
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
  return '\n'.join(lines)
