"""Periodic evaluation for the runner: the 2-D benchmarks' mode statistics
with a scatter plot, or the image metrics with a grid of samples.

An evaluator has ``evaluate(state, step, workdir, writer) -> metrics`` (also
writing its picture) and ``protocol()`` for summary.json.
"""

import os
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import dinov2_evaluation, evaluation, image_evaluation
from gan_jax import inception_evaluation
from gan_jax.config import ConfigError
from gan_jax.data import Toy2D, images as image_data, own_images
from gan_jax.data.on_device import DeviceImages
from gan_jax.metrics import classifier, dinov2_weights, inception_weights
from gan_jax.models import STYLE_MODELS
from gan_jax.state import generator_params
from gan_jax.step_helpers import apply_model
from experiments.runner import inputs, plots

GRID_SIDE = 8  # Samples per row and column of a picture (unconditional).


class ToyEvaluator:
  """VEEGAN/PacGAN mode statistics and sliced W1 on a 2-D benchmark."""

  def __init__(self, config, spec, dataset, eval_rng):
    self._config, self._dataset, self._rng = config, dataset, eval_rng
    self._evaluate = jax.jit(
        lambda state, rng: evaluation.evaluate_toy2d(
            spec,
            state,
            dataset,
            rng,
            config.eval.num_samples,
            config.eval.threshold,
        )
    )

  def evaluate(
      self,
      state,
      step: int,
      workdir: str,
      writer,
      rng: Optional[jax.Array] = None,
      picture: bool = True,
  ) -> Dict[str, float]:
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
      plots.save_samples(
          path + '.png',
          np.asarray(samples),
          self._dataset,
          step,
          results,
          self._config.eval.threshold,
      )
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
  """The image metrics ``eval.features`` asks for (:func:`image_metrics`)
  and a sample grid from a fixed noise batch, so the pictures compare
  across steps."""

  def __init__(
      self,
      config,
      spec,
      eval_rng,
      announce: Callable[[str], None] = lambda line: None,
  ):
    self._config, self._spec, self._rng = config, spec, eval_rng
    name = config.dataset
    data_dir = config.data.dir or image_data.default_data_dir()
    source = image_data.image_source(name, config)
    self._native_side = source.shape[0]
    self._metrics, self._note, fell_back = image_metrics(config, data_dir)
    if fell_back:
      announce(f'note: {self._note}')
    # A conditional G is evaluated on labels drawn from the train split.
    train_labels, self._labels = None, None
    if config.model.conditional:
      train_labels = image_data.load_split(
          name,
          source.train_split,
          data_dir,
          limit=max(config.eval.num_samples, config.eval.mode_samples),
      )[1]
      self._labels = jnp.asarray(train_labels)
    self._grid_z_rng = jax.random.fold_in(eval_rng, 2**31 - 1)
    self._grid_labels, self._grid_columns = self._grid_layout(
        source.num_classes, train_labels
    )

  def _grid_layout(self, num_classes: int, train_labels):
    if not self._config.model.conditional:
      return None, GRID_SIDE
    if num_classes <= 10:  # A column per class, a noise vector per row.
      return jnp.tile(jnp.arange(num_classes), GRID_SIDE), num_classes
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.choice(train_labels, GRID_SIDE**2)), GRID_SIDE

  def _grid(self, state) -> np.ndarray:
    count = GRID_SIDE * self._grid_columns
    images = _grid_samples(
        self._spec,
        state,
        self._grid_z_rng,
        count,
        self._grid_labels,
        self._grid_columns,
    )
    pixels = np.asarray(DeviceImages.from_network(images)).round()
    side = images.shape[1]
    return plots.image_grid(
        pixels.astype(np.uint8), self._grid_columns, scale=max(1, 64 // side)
    )

  def evaluate(
      self,
      state,
      step: int,
      workdir: str,
      writer,
      rng: Optional[jax.Array] = None,
      picture: bool = True,
  ) -> Dict[str, float]:
    """Metrics of ``state`` at ``step``; with ``picture``, the sample grid
    too (samples_STEP.png and TensorBoard). ``rng`` as for ToyEvaluator."""
    rng = self._rng if rng is None else rng

    def generate(rng, count):
      # Metrics at the dataset's own size, whatever size G was trained at.
      images = image_evaluation.generate_images(
          self._spec, state, rng, count, self._labels
      )
      return inputs.resize(images, self._native_side)

    def generate_class(rng, count, label):
      images = image_evaluation.generate_images(
          self._spec, state, rng, count, jnp.full((1,), label)
      )
      return inputs.resize(images, self._native_side)

    results, _ = self._metrics.evaluate(
        generate,
        jax.random.fold_in(rng, step),
        generate_class if self._config.model.conditional else None,
    )
    if picture:
      grid = self._grid(state)
      plots.save_image_grid(
          os.path.join(workdir, f'samples_{step:07d}.png'), grid
      )
      writer.write_image(step, 'samples', grid)
      if self._config.model.name in STYLE_MODELS:
        mixing = self._style_mixing_grid(state)
        plots.save_image_grid(
            os.path.join(workdir, f'style_mixing_{step:07d}.png'), mixing
        )
        writer.write_image(step, 'style_mixing', mixing)
    return results

  def _style_mixing_grid(self, state) -> np.ndarray:
    """StyleGAN's style-mixing figure: the first row holds the column
    sources, the first column the row sources; cell (r, c) takes the
    coarse styles (the first half of the layers) from row source r and the
    fine ones from column source c. Unconditional, with the config's
    truncation; the top-left cell is blank."""
    rows, columns = 4, 6
    images = _style_mixing_images(
        self._spec,
        state,
        jax.random.fold_in(self._grid_z_rng, 1),
        rows,
        columns,
        self._labels,
    )
    pixels = (
        np.asarray(DeviceImages.from_network(jnp.clip(images, -1.0, 1.0)))
        .round()
        .astype(np.uint8)
    )
    blank = np.full((1, *pixels.shape[1:]), 255, np.uint8)
    layout = np.concatenate([blank, pixels])
    return plots.image_grid(
        layout, columns + 1, scale=max(1, 64 // pixels.shape[1])
    )

  def protocol(self) -> Dict[str, Any]:
    return {
        **self._metrics.protocol(self._config.dataset),
        **({'features_note': self._note} if self._note else {}),
    }


@jax.jit(static_argnums=(0, 3, 4))
def _style_mixing_images(
    spec, state, rng, rows: int, columns: int, labels
) -> jax.Array:
  """[columns + rows * (columns + 1)] images in the order of the grid
  (see ImageEvaluator._style_mixing_grid)."""
  z = jax.random.normal(rng, (rows + columns, spec.latent_dim))
  part = None
  if labels is not None:  # A conditional G: one class per source.
    part = labels[
        jax.random.randint(rng, (rows + columns,), 0, labels.shape[0])
    ]
  params = generator_params(state)
  ws, _ = apply_model(
      spec.generator,
      state.g,
      params,
      z,
      train=False,
      labels=part,
      compute_dtype=spec.compute_dtype,
      method='mapping_ws',
  )
  row_ws, column_ws = ws[:rows], ws[rows:]
  cut = ws.shape[1] // 2
  mixed = jnp.concatenate(
      [
          jnp.broadcast_to(
              row_ws[:, None, :cut], (rows, columns, cut, ws.shape[2])
          ),
          jnp.broadcast_to(
              column_ws[None, :, cut:],
              (rows, columns, ws.shape[1] - cut, ws.shape[2]),
          ),
      ],
      axis=2,
  )
  synthesis = lambda ws: apply_model(
      spec.generator,
      state.g,
      params,
      ws,
      train=False,
      compute_dtype=spec.compute_dtype,
      method='synthesis',
  )[0]
  sources = synthesis(ws)
  cells = synthesis(mixed.reshape(rows * columns, *ws.shape[1:]))
  cells = cells.reshape(rows, columns, *cells.shape[1:])
  # Each row: its source, then its mixes.
  body = jnp.concatenate([sources[:rows, None], cells], axis=1)
  return jnp.concatenate([sources[rows:], body.reshape(-1, *cells.shape[2:])])


class NoFeatureMetrics:
  """The metrics of a run whose images have no feature space here: none
  (the sample grids are still drawn)."""

  def evaluate(self, *args, **kwargs):
    del args, kwargs
    return {}, None

  def protocol(self, dataset: str) -> Dict[str, Any]:
    del dataset
    return {'features': 'none'}


def image_metrics(config, data_dir: str, platform: Optional[str] = None):
  """(metrics, note, fell_back): the FID Inception network's metrics
  (gan_jax.inception_evaluation), DINOv2's (:func:`dinov2_metrics`) or the
  dataset classifier's (gan_jax.image_evaluation), as ``eval.features``
  asks; ``note`` says why
  the classifier stands in where 'auto' chose it or where the Inception
  weights were not found (``fell_back``), or that the sample count was
  capped on a CPU ('' otherwise).

  Inception weights that are named (eval.inception.weights or
  $GAN_JAX_INCEPTION_WEIGHTS) but missing, unreadable or not the standard
  file are a ConfigError; weights found nowhere are not: the run is
  evaluated in classifier features and the note says where to put them.
  """
  features = config.eval.features
  platform = platform or jax.devices()[0].platform
  settings = config.eval.inception
  # Your own images have no classifier (it needs labelled, held-out
  # images): Inception features where the weights are found, else none.
  own = own_images.is_own(config.dataset)
  if features == 'auto' and platform == 'cpu' and not own:
    return (
        classifier_metrics(config, data_dir),
        (
            "eval.features='auto' evaluates in classifier features on a CPU, "
            'where one Inception evaluation of 10,000 images takes ~15 min; '
            "eval.features='inception' asks for it"
        ),
        False,
    )
  if features == 'classifier':
    return classifier_metrics(config, data_dir), '', False
  if features == 'dinov2':
    return dinov2_metrics(config, data_dir, platform, own)
  named = settings.weights or os.environ.get(inception_weights.ENV_PATH)
  try:
    path = inception_weights.find_weights(settings.weights or None)
  except inception_weights.WeightsNotFound as error:
    if named:
      raise ConfigError(f'eval.inception.weights: {error}') from None
    if own:
      return (
          NoFeatureMetrics(),
          f'{error}; no feature metrics for {config.dataset} (a folder: or '
          'tfds: dataset has no classifier), only sample grids',
          True,
      )
    return (
        classifier_metrics(config, data_dir),
        (f'{error}; evaluated in classifier features instead'),
        True,
    )
  num_samples, note = inception_evaluation.default_num_samples(
      config.dataset, platform
  )
  try:
    metrics = inception_evaluation.build(
        config.dataset,
        data_dir,
        path,
        settings.num_samples or num_samples,
        settings.batch_size
        or inception_evaluation.default_batch_size(platform),
        settings.any_weights,
        conditional=config.model.conditional,
        resize=settings.resize,
    )
  except inception_weights.BadWeights as error:
    raise ConfigError(f'eval.inception.weights: {error}') from None
  return metrics, '' if settings.num_samples else note, False


def dinov2_metrics(config, data_dir: str, platform: str, own: bool):
  """(metrics, note, fell_back) of eval.features='dinov2': FD-DINOv2
  (gan_jax.dinov2_evaluation) in eval.dinov2.model's features. As for
  Inception, weights named but missing or wrong are a ConfigError, and
  weights found nowhere fall back to the classifier (none for a folder:
  or tfds: dataset) with a note saying where to put them."""
  settings = config.eval.dinov2
  named = settings.weights or os.environ.get(dinov2_weights.ENV_PATH)
  try:
    path = dinov2_weights.find_weights(settings.model, settings.weights or None)
  except dinov2_weights.WeightsNotFound as error:
    if named:
      raise ConfigError(f'eval.dinov2.weights: {error}') from None
    if own:
      return (
          NoFeatureMetrics(),
          f'{error}; no feature metrics for {config.dataset}, only sample '
          'grids',
          True,
      )
    return (
        classifier_metrics(config, data_dir),
        f'{error}; evaluated in classifier features instead',
        True,
    )
  num_samples, note = dinov2_evaluation.default_num_samples(
      config.dataset, platform
  )
  try:
    metrics = dinov2_evaluation.build(
        config.dataset,
        data_dir,
        settings.model,
        path,
        settings.num_samples or num_samples,
        settings.batch_size or dinov2_evaluation.default_batch_size(platform),
        settings.resize,
        conditional=config.model.conditional,
    )
  except dinov2_weights.BadWeights as error:
    raise ConfigError(f'eval.dinov2.weights: {error}') from None
  return metrics, '' if settings.num_samples else note, False


def classifier_metrics(
    config, data_dir: str
) -> image_evaluation.ImageEvaluator:
  """The classifier-feature metrics of gan_jax.image_evaluation."""
  name = config.dataset
  source = image_data.image_source(name, config)
  extractor = image_evaluation.build_feature_extractor(
      name,
      data_dir,
      classifier.TrainSettings(steps=config.eval.classifier_steps),
  )
  wanted = max(config.eval.num_samples, config.eval.mode_samples)
  held_out = image_data.load_split(
      name, source.held_out_split, data_dir, limit=config.eval.num_samples
  )
  train_images, train_labels = image_data.load_split(
      name, source.train_split, data_dir, limit=wanted
  )
  conditional = config.model.conditional
  return image_evaluation.ImageEvaluator(
      extractor,
      held_out[0],
      train_images,
      config.eval.num_samples,
      config.eval.mode_samples,
      held_out[1] if conditional else None,
      train_labels if conditional else None,
  )


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
  return apply_model(
      spec.generator,
      state.g,
      generator_params(state),
      z,
      train=False,
      labels=labels,
      compute_dtype=spec.compute_dtype,
  )[0]


def make_evaluator(
    config,
    spec,
    dataset,
    eval_rng,
    announce: Callable[[str], None] = lambda line: None,
):
  """The evaluator for ``dataset``: ToyEvaluator for a 2-D benchmark,
  ImageEvaluator for images (which tells ``announce`` when it falls back
  from Inception to classifier features)."""
  if isinstance(dataset, Toy2D):
    return ToyEvaluator(config, spec, dataset, eval_rng)
  return ImageEvaluator(config, spec, eval_rng, announce)


def eval_protocol(evaluator, config) -> Dict[str, Any]:
  """How a run was evaluated, for summary.json."""
  return {
      **evaluator.protocol(),
      'generator_params': 'ema' if config.ema.enabled else 'live',
      'eval_rng': f'fold_in(split(PRNGKey({config.seed}), 3)[2], step)',
  }
