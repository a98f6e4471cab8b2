"""Periodic evaluation for the runner: the 2-D benchmarks' mode statistics
with a scatter plot, or the image metrics with a grid of samples.

An evaluator has ``evaluate(state, step, workdir, writer) -> metrics`` (also
writing its picture) and ``protocol()`` for summary.json.
"""

import os
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import evaluation, image_evaluation
from gan_jax.data import Toy2D, images as image_data
from gan_jax.data.on_device import DeviceImages
from gan_jax.metrics import classifier
from gan_jax.state import generator_params
from gan_jax.steps import apply_model
from experiments.runner import inputs, plots

GRID_SIDE = 8  # Samples per row and column of a picture (unconditional).


class ToyEvaluator:
  """VEEGAN/PacGAN mode statistics and sliced W1 on a 2-D benchmark."""

  def __init__(self, config, spec, dataset, eval_rng):
    self._config, self._dataset, self._rng = config, dataset, eval_rng
    self._evaluate = jax.jit(lambda state, rng: evaluation.evaluate_toy2d(
        spec, state, dataset, rng, config.eval.num_samples,
        config.eval.threshold))

  def evaluate(self, state, step: int, workdir: str, writer,
               rng: Optional[jax.Array] = None,
               picture: bool = True) -> Dict[str, float]:
    """Metrics of ``state`` at ``step``; with ``picture``, also the samples
    as a scatter plot and as numbers (samples_STEP.png and .npy).
    ``rng`` replaces the evaluator's own key (a sweep evaluates many runs
    with one evaluator)."""
    del writer  # The scatter plot is a file only.
    rng = self._rng if rng is None else rng
    results, samples = self._evaluate(state, jax.random.fold_in(rng, step))
    results = {k: float(v) for k, v in jax.device_get(results).items()}
    if picture:
      path = os.path.join(workdir, f'samples_{step:07d}')
      np.save(path + '.npy', np.asarray(samples))
      plots.save_samples(path + '.png', np.asarray(samples), self._dataset,
                         step, results, self._config.eval.threshold)
    return results

  def protocol(self) -> Dict[str, Any]:
    config = self._config
    return {
        'num_samples': config.eval.num_samples,
        'threshold': config.eval.threshold,
        'sigma': self._dataset.sigma,
        'reference': 'VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et '
                     'al. 2018) 2-D protocol',
    }


class ImageEvaluator:
  """Classifier-feature metrics (gan_jax.image_evaluation) and a sample grid
  from a fixed noise batch, so the pictures compare across steps."""

  def __init__(self, config, spec, eval_rng):
    self._config, self._spec, self._rng = config, spec, eval_rng
    name = config.dataset
    data_dir = config.data.dir or image_data.default_data_dir()
    source = image_data.IMAGE_SOURCES[name]
    self._native_side = source.shape[0]
    extractor = image_evaluation.build_feature_extractor(
        name, data_dir, _classifier_settings(config))
    wanted = max(config.eval.num_samples, config.eval.mode_samples)
    held_out = image_data.load_split(name, source.held_out_split, data_dir,
                                     limit=config.eval.num_samples)
    train_images, train_labels = image_data.load_split(
        name, source.train_split, data_dir, limit=wanted)
    self._metrics = image_evaluation.ImageEvaluator(
        extractor, held_out[0], train_images, config.eval.num_samples,
        config.eval.mode_samples)
    # A conditional G is evaluated on labels drawn from the train split.
    self._labels = (jnp.asarray(train_labels) if config.model.conditional
                    else None)
    self._grid_z_rng = jax.random.fold_in(eval_rng, 2**31 - 1)
    self._grid_labels, self._grid_columns = self._grid_layout(
        source.num_classes, train_labels)

  def _grid_layout(self, num_classes: int, train_labels):
    if not self._config.model.conditional:
      return None, GRID_SIDE
    if num_classes <= 10:  # A column per class, a noise vector per row.
      return jnp.tile(jnp.arange(num_classes), GRID_SIDE), num_classes
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.choice(train_labels, GRID_SIDE**2)), GRID_SIDE

  def _grid(self, state) -> np.ndarray:
    count = GRID_SIDE * self._grid_columns
    images = _grid_samples(self._spec, state, self._grid_z_rng, count,
                           self._grid_labels, self._grid_columns)
    pixels = np.asarray(DeviceImages.from_network(images)).round()
    side = images.shape[1]
    return plots.image_grid(pixels.astype(np.uint8), self._grid_columns,
                            scale=max(1, 64 // side))

  def evaluate(self, state, step: int, workdir: str, writer,
               rng: Optional[jax.Array] = None,
               picture: bool = True) -> Dict[str, float]:
    """Metrics of ``state`` at ``step``; with ``picture``, the sample grid
    too (samples_STEP.png and TensorBoard). ``rng`` as for ToyEvaluator."""
    rng = self._rng if rng is None else rng

    def generate(rng, count):
      # Metrics at the dataset's own size, whatever size G was trained at.
      images = image_evaluation.generate_images(self._spec, state, rng,
                                                count, self._labels)
      return inputs.resize(images, self._native_side)

    results, _ = self._metrics.evaluate(generate,
                                        jax.random.fold_in(rng, step))
    if picture:
      grid = self._grid(state)
      plots.save_image_grid(os.path.join(workdir, f'samples_{step:07d}.png'),
                            grid)
      writer.write_image(step, 'samples', grid)
    return results

  def protocol(self) -> Dict[str, Any]:
    return self._metrics.protocol(self._config.dataset)


def _classifier_settings(config) -> classifier.TrainSettings:
  return classifier.TrainSettings(steps=config.eval.classifier_steps)


def _grid_samples(spec, state, rng, count, labels, columns):
  """Grid images: with per-class columns, each row shares one z."""
  if labels is not None and columns != GRID_SIDE:
    rows = count // columns
    z = jax.random.normal(rng, (rows, spec.latent_dim))
    z = jnp.repeat(z, columns, axis=0)
  else:
    z = jax.random.normal(rng, (count, spec.latent_dim))
  return _apply_generator(spec, state, z, labels)


@jax.jit(static_argnums=0)
def _apply_generator(spec, state, z, labels):
  return apply_model(spec.generator, state.g, generator_params(state), z,
                     train=False, labels=labels)[0]


def make_evaluator(config, spec, dataset, eval_rng):
  """The evaluator for ``dataset``: ToyEvaluator for a 2-D benchmark,
  ImageEvaluator for images."""
  if isinstance(dataset, Toy2D):
    return ToyEvaluator(config, spec, dataset, eval_rng)
  return ImageEvaluator(config, spec, eval_rng)


def eval_protocol(evaluator, config) -> Dict[str, Any]:
  """How a run was evaluated, for summary.json."""
  return {
      **evaluator.protocol(),
      'generator_params': 'ema' if config.ema.enabled else 'live',
      'eval_rng': f'fold_in(split(PRNGKey({config.seed}), 3)[2], step)',
  }
