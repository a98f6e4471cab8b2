"""Evaluates a run's checkpoint after the fact (``python -m
experiments.evaluate``): its EMA and its live generator, in the features
papers report (Inception) or in the dataset classifier's.

Inception protocol (``features='inception'``), as pytorch-fid and
torch-fidelity compute it: generated images quantised to uint8 as they
would be saved, grayscale repeated to three channels, through the FID
Inception network (gan_jax.metrics.inception: TF1 bilinear resize to 299).
FID and KID of pool3 against the *train* split's statistics (the CIFAR-10
convention: 50,000 generated against the train split), precision and
recall (k = 5), and the Inception score of the generated images (10
splits). The reference features are computed once and cached beside the
data, keyed by dataset, split, count and the weights' digest.

Classifier protocol (``features='classifier'``): the metrics that runs
report during training (gan_jax.image_evaluation), at this sample count.
"""

import json
import os
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.runner import evaluators, inputs, loop
from experiments.storage import checkpoints, writers
from gan_jax import config as gan_config, image_evaluation
from gan_jax import state as gan_state
from gan_jax.data import images as image_data, is_image_dataset
from gan_jax.data.on_device import DeviceImages
from gan_jax.metrics import feature_metrics, inception
from gan_jax.metrics import inception_weights

FEATURES = ('inception', 'classifier')
REFERENCE_CACHE = 'gan_jax_reference_features'


class EvaluationError(ValueError):
  """A workdir, option or file that cannot be evaluated; one line."""


def read_config(workdir: str):
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise EvaluationError(f'--workdir={workdir} holds no run (no '
                          'config.json)')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  gan_config.validate(config, 1)
  return config


def restore_state(config, workdir: str):
  """The run's latest readable checkpoint, its step and the spec."""
  spec, hparams, _ = gan_config.build(config)
  # On this process's first device, whatever devices the run trained on.
  like = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
    raise EvaluationError(f'--workdir={workdir} has no checkpoint to '
                          'evaluate')
  ckpt = checkpoints.Checkpointer(workdir, config.train.keep_checkpoints)
  try:
    if ckpt.latest_step() is None:
      raise EvaluationError(f'--workdir={workdir} has no checkpoint to '
                            'evaluate')
    state = ckpt.restore(like, set_aside=False)  # Changes nothing.
  finally:
    ckpt.close()
  return spec, state


def generators(state) -> Dict[str, Any]:
  """{'ema': state, 'live': state without its EMA} (only 'live' when the
  run kept no EMA)."""
  live = state.replace(g_ema=None)
  return ({'ema': state, 'live': live} if state.g_ema is not None
          else {'live': live})


def to_uint8_rgb(images: np.ndarray) -> np.ndarray:
  """Images in [-1, 1] (generated) or uint8 (data) -> uint8 RGB, as they
  would be saved and read back; one channel is repeated to three."""
  images = np.asarray(images)
  if images.dtype != np.uint8:
    images = np.asarray(DeviceImages.from_network(
        jnp.asarray(images))).round().astype(np.uint8)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  if images.ndim != 4 or images.shape[-1] != 3:
    raise EvaluationError(f'images of shape {images.shape}: expected '
                          '[N, H, W, 1 or 3]')
  return images


def inception_features(variables, images: np.ndarray, batch_size: int,
                       advance: Callable[[int], None] = lambda n: None
                       ) -> Dict[str, np.ndarray]:
  """pool3 and logits_unbiased of uint8 RGB images, in batches of
  ``batch_size`` (the last padded: one compilation)."""
  out = {'pool3': [], 'logits_unbiased': []}
  for start in range(0, len(images), batch_size):
    batch = images[start:start + batch_size]
    padded = np.concatenate([batch, np.zeros(
        (batch_size - len(batch), *batch.shape[1:]), np.uint8)])
    got = jax.device_get(inception.features(variables, jnp.asarray(padded)))
    for name in out:
      out[name].append(got[name][:len(batch)])
    advance(len(batch))
  return {name: np.concatenate(parts) for name, parts in out.items()}


def reference_features(config, split: str, count: int, variables,
                       digest: str, batch_size: int, advance
                       ) -> np.ndarray:
  """pool3 of ``count`` images of ``split``, cached under the data dir."""
  data_dir = config.data.dir or image_data.default_data_dir()
  path = os.path.join(data_dir, REFERENCE_CACHE,
                      f'{config.dataset}_{split}_{count}_inception_'
                      f'{digest[:16]}_tf1bilinear299.npy')
  if os.path.isfile(path):
    advance(count)
    return np.load(path)
  images, _ = image_data.load_split(config.dataset, split, data_dir,
                                    limit=count)
  pool3 = inception_features(variables, to_uint8_rgb(images), batch_size,
                             advance)['pool3']
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + f'.tmp{os.getpid()}'
  with open(tmp, 'wb') as f:
    np.save(f, pool3)
  os.replace(tmp, path)  # Whole or absent, also with several writers.
  return pool3


def evaluate_workdir(workdir: str, features: str = 'inception',
                     num_samples: int = 10_000,
                     weights: Optional[str] = None,
                     any_weights: bool = False, batch_size: int = 50,
                     progress: Callable[[int, str], Callable[[int], None]]
                     = lambda total, what: (lambda n: None)
                     ) -> Dict[str, Any]:
  """Evaluates ``workdir``'s latest checkpoint; writes and returns the
  results (``evaluation_<features>.json`` beside the run).

  ``progress(total, what)`` returns a callback that is told how many
  images were processed.
  """
  if features not in FEATURES:
    raise EvaluationError(f'--features={features}: give '
                          f'{" or ".join(FEATURES)}')
  if num_samples < 2 or batch_size < 1:
    raise EvaluationError('--num_samples must be at least 2 and '
                          '--batch_size positive')
  config = read_config(workdir)
  if not is_image_dataset(config.dataset):
    raise EvaluationError(f'--workdir={workdir} trained on '
                          f'{config.dataset}, a 2-D benchmark: its metrics '
                          'are in its summary.json')
  spec, state = restore_state(config, workdir)
  step = int(state.step)
  source = image_data.IMAGE_SOURCES[config.dataset]
  eval_rng = loop.run_keys(config.seed)[2]  # The run's evaluation key.
  labels = None
  if config.model.conditional:
    labels = jnp.asarray(image_data.load_split(
        config.dataset, source.train_split,
        config.data.dir or image_data.default_data_dir())[1])

  def generate(state, count):  # At the dataset's size, as runs evaluate.
    images = image_evaluation.generate_images(
        spec, state, jax.random.fold_in(eval_rng, step), count, labels)
    return np.asarray(inputs.resize(images, source.shape[0]))

  if features == 'inception':
    path = inception_weights.find_weights(weights)
    variables, digest = inception_weights.load_variables(
        path, None if any_weights else inception_weights.SHA256_PREFIX)
    data_dir = config.data.dir or image_data.default_data_dir()
    available = len(image_data.RecordReader(config.dataset,
                                            source.train_split, data_dir))
    n = min(num_samples, available)
    reference = reference_features(
        config, source.train_split, n, variables, digest, batch_size,
        progress(n, f'{config.dataset}/{source.train_split} features'))
    results = {}
    for name, generator in generators(state).items():
      got = inception_features(variables, to_uint8_rgb(generate(
          generator, n)), batch_size, progress(n, f'{name} G'))
      is_mean, is_std = feature_metrics.inception_score(
          got['logits_unbiased'], min(10, n))
      results[name] = {
          'fid': feature_metrics.frechet_distance(got['pool3'], reference),
          'kid': feature_metrics.kernel_distance(got['pool3'], reference),
          'inception_score': is_mean, 'inception_score_std': is_std,
          **{k: v for k, v in feature_metrics.nearest_neighbour_metrics(
              reference, got['pool3']).items()
             if k in ('precision', 'recall')}}
    protocol = {
        'features': 'FID Inception-v3 (2015-12-05 TF graph), pool3 2048',
        'weights': os.path.abspath(path), 'weights_sha256': digest,
        'standard_weights': digest.startswith(
            inception_weights.SHA256_PREFIX),
        'resize': 'TF1 bilinear to 299x299 (align_corners=False), from '
                  'uint8 images; grayscale repeated to RGB',
        'num_samples': n,
        'reference': f'{config.dataset}/{source.train_split}, {n} of '
                     f'{available} images (pool3 cached under the data '
                     f'dir, {REFERENCE_CACHE}/)',
        'kid': 'unbiased MMD^2, cubic polynomial kernel, mean of 100 '
               'subsets of min(1000, n)',
        'inception_score': f'{min(10, n)} splits, logits without bias',
        'knn_k': 5,
    }
  else:
    image_config = config.copy_and_resolve_references()
    image_config.eval.num_samples = num_samples
    evaluator = evaluators.ImageEvaluator(image_config, spec, eval_rng)
    results = {}
    for name, generator in generators(state).items():
      # As the run evaluates: its evaluation key folded with the step.
      results[name] = evaluator.evaluate(generator, step, workdir,
                                         writers.NoWriter(), picture=False)
      progress(1, f'{name} G')(1)
    protocol = evaluator.protocol()
  report = {'workdir': os.path.abspath(workdir), 'step': step,
            'dataset': config.dataset, 'variant': config.variant,
            'features': features, 'results': results, 'protocol': protocol}
  writers.write_json(os.path.join(workdir, f'evaluation_{features}.json'),
                     report)
  return report


def table(report: Dict[str, Any]) -> str:
  """The results as a Markdown table, a row per generator."""
  names = list(next(iter(report['results'].values())))
  lines = [f"{report['variant']} on {report['dataset']} at step "
           f"{report['step']}, {report['features']} features "
           f"({report['protocol']['num_samples']} samples):", '',
           '| G | ' + ' | '.join(names) + ' |',
           '|---|' + '---|' * len(names)]
  for generator, values in report['results'].items():
    lines.append(f'| {generator} | ' + ' | '.join(
        f'{values[n]:.4g}' for n in names) + ' |')
  return '\n'.join(lines)
