"""From a config to the objects that train: validation and construction.

Pure functions of an ``ml_collections.ConfigDict`` (or any nested mapping with
the fields of ``experiments/configs/default.py``): no flags, no I/O. The
runner and the sweep call :func:`validate` once, up front, before anything is
written, so every bad value ends in one line that names the field, the value
and what is allowed.
"""

import math
from typing import Any, Dict, Optional, Tuple, Union

import jax

from gan_jax import losses, models, optim, parallel, penalties, precision
from gan_jax.data import (
    DATASETS,
    IMAGE_SOURCES,
    Toy2D,
    get_toy_dataset,
    is_image_dataset,
)
from gan_jax.data.images import ImageSource
from gan_jax.state import GANSpec

# Features of the image metrics (experiments/configs/default.py says which).
EVAL_FEATURES = ('auto', 'classifier', 'inception')
FORMULATIONS = ('auto', 'cpu', 'standard')


class ConfigError(ValueError):
  """A config value that cannot run; the message is one line."""


def check(ok: bool, field: str, value: Any, allowed: str) -> None:
  if not ok:
    raise ConfigError(f'{field}={value!r} is not allowed: {allowed}')


def is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
  return (
      isinstance(value, (int, float))
      and not isinstance(value, bool)
      and math.isfinite(value)
  )


def choice(config, field: str, options) -> None:
  value = get_field(config, field)
  check(value in options, field, value, 'one of ' + ', '.join(options))


# Step counts, sizes and seeds become int32 on device (and in optax's
# update counters).
INT32_MAX = 2**31 - 1


def int_at_least(config, field: str, low: int) -> None:
  value = get_field(config, field)
  check(
      is_int(value) and low <= value <= INT32_MAX,
      field,
      value,
      f'an integer from {low} to {INT32_MAX}',
  )


# Numbers of the config become float32 on device.
FLOAT32_MAX = 3.4028234663852886e38


def number_in(
    config,
    field: str,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
  value = get_field(config, field)
  ok = (
      is_number(value)
      and (value > low if low_open else value >= low)
      and (value < high if high_open else value <= high)
  )
  interval = (
      ('(' if low_open else '[')
      + f'{low:g}, {high:g}'
      + (')' if high_open else ']')
  )
  check(ok, field, value, f'a number in {interval}')
  check(
      abs(value) <= FLOAT32_MAX,
      field,
      value,
      f'a number within float32 range (|x| <= {FLOAT32_MAX:.4g})',
  )


def get_field(config, field: str) -> Any:
  node = config
  for part in field.split('.'):
    node = node[part]
  return node


def validate(config, num_devices: int = 1) -> None:
  """Checks every field and combination; raises ConfigError on the first.

  Args:
    config: the experiment config.
    num_devices: devices the global batch is split over.
  """
  choice(config, 'dataset', DATASETS)
  int_at_least(config, 'seed', 0)
  check(
      isinstance(config.data.dir, str),
      'data.dir',
      config.data.dir,
      "a directory path, or '' for the TFDS default",
  )
  number_in(config, 'data.in_memory_limit_mb', 0.0, math.inf, high_open=True)
  int_at_least(config, 'data.image_size', 0)
  if config.data.image_size and not is_image_dataset(config.dataset):
    raise ConfigError(
        f'data.image_size={config.data.image_size!r} is not '
        f'allowed with dataset={config.dataset!r}: it resizes '
        'images; leave it 0'
    )

  choice(config, 'objective.name', tuple(losses.OBJECTIVES))
  choice(config, 'objective.penalty', penalties.PENALTIES)
  number_in(config, 'objective.penalty_weight', 0.0, math.inf, high_open=True)
  number_in(config, 'objective.gp_target', 0.0, math.inf, high_open=True)
  int_at_least(config, 'objective.n_critic', 1)
  int_at_least(config, 'objective.penalty_every', 1)
  choice(config, 'objective.g_penalty', penalties.G_PENALTIES)
  number_in(config, 'objective.g_penalty_weight', 0.0, math.inf, high_open=True)
  int_at_least(config, 'objective.g_penalty_every', 1)
  # Each look-ahead update is written into G's step: a long one compiles
  # for ever and holds every update's activations.
  unroll_steps = config.objective.unroll_steps
  check(
      is_int(unroll_steps) and 0 <= unroll_steps <= 100,
      'objective.unroll_steps',
      unroll_steps,
      'an integer from 0 (no unrolling) to 100',
  )
  number_in(config, 'model.mixing_prob', 0.0, 1.0)
  number_in(config, 'model.truncation_psi', 0.0, 1.0)
  check(
      isinstance(config.model.squash_output, bool),
      'model.squash_output',
      config.model.squash_output,
      'True or False',
  )
  if (
      config.objective.g_penalty == 'path_length'
      and config.model.name not in models.STYLE_MODELS
  ):
    raise ConfigError(
        "objective.g_penalty='path_length' is not allowed with model.name="
        f'{config.model.name!r}: it differentiates through w; use '
        f"{' or '.join(repr(m) for m in models.STYLE_MODELS)}"
    )
  validate_targets(config)
  # A number of the train state even when not clipping (gan_jax.batched).
  number_in(
      config,
      'objective.clip_value',
      0.0,
      math.inf,
      low_open=True,
      high_open=True,
  )

  choice(config, 'model.name', tuple(models.MODELS))
  g_norms, d_norms = models.NORMS[config.model.name]
  choice(config, 'model.g_norm', g_norms)
  choice(config, 'model.d_norm', d_norms)
  for field in ('model.latent_dim', 'model.width', 'model.depth', 'model.pack'):
    int_at_least(config, field, 1)
  _validate_mlp_options(config)
  _validate_model_and_data(config)
  if config.objective.penalty != 'none' and config.model.d_norm == 'batch':
    raise ConfigError(
        f"model.d_norm='batch' is not allowed with objective.penalty="
        f'{config.objective.penalty!r}: the penalty is per example and batch '
        'norm mixes the examples of a batch; use '
        + ' or '.join(repr(n) for n in d_norms if n != 'batch')
    )

  validate_optimizers(config)
  number_in(config, 'ema.decay', 0.0, 1.0, high_open=True)

  for field in ('train.steps', 'train.batch_size', 'train.log_every'):
    int_at_least(config, field, 1)
  d_updates = config.train.steps * config.objective.n_critic
  check(
      d_updates <= INT32_MAX,
      'objective.n_critic',
      config.objective.n_critic,
      f'at most {INT32_MAX // config.train.steps}'
      f' with train.steps={config.train.steps}: D makes train.steps x '
      'n_critic updates, counted in int32',
  )
  validate_cadence(config)
  if config.train.compute_dtype == 'float16':
    raise ConfigError(
        "train.compute_dtype='float16' is not allowed: float16 needs loss "
        'scaling (its range ends at 65504 and gradients underflow), which '
        "gan_jax does not do; use 'bfloat16' (float32's range, the same "
        'speed on GPUs since Ampere and on TPUs)'
    )
  choice(config, 'train.compute_dtype', precision.COMPUTE_DTYPES)
  int_at_least(config, 'train.profile_steps', 0)
  batch = config.train.batch_size
  check(
      batch % num_devices == 0,
      'train.batch_size',
      batch,
      f'a multiple of the device count ({num_devices})',
  )
  pack = config.model.pack
  check(
      batch // num_devices % pack == 0,
      'train.batch_size',
      batch,
      f'a multiple of model.pack ({pack}) on each of the {num_devices} '
      f'device(s): D judges packs of {pack}',
  )
  int_at_least(config, 'eval.num_samples', 1)
  number_in(
      config, 'eval.threshold', 0.0, math.inf, low_open=True, high_open=True
  )
  int_at_least(config, 'eval.mode_samples', 0)
  int_at_least(config, 'eval.classifier_steps', 1)
  if is_image_dataset(config.dataset):
    # k-nearest-neighbour balls (k = 5) and sample covariances need a few.
    int_at_least(config, 'eval.num_samples', 10)
  choice(config, 'eval.features', EVAL_FEATURES)
  if config.eval.features == 'inception' and not is_image_dataset(
      config.dataset
  ):
    raise ConfigError(
        f"eval.features='inception' is not allowed with "
        f'dataset={config.dataset!r}: it reads images; use '
        "'auto' (the 2-D mode statistics)"
    )
  check(
      isinstance(config.eval.inception.weights, str),
      'eval.inception.weights',
      config.eval.inception.weights,
      "a file path, or '' to look the weights up",
  )
  check(
      isinstance(config.eval.inception.any_weights, bool),
      'eval.inception.any_weights',
      config.eval.inception.any_weights,
      'True or False',
  )
  int_at_least(config, 'eval.inception.batch_size', 0)
  # FID's covariances, KID's subsets and the k = 5 balls need a few.
  value = config.eval.inception.num_samples
  check(
      is_int(value) and (value == 0 or 10 <= value <= INT32_MAX),
      'eval.inception.num_samples',
      value,
      "0 (the dataset's usual protocol) or an integer from 10 to "
      f'{INT32_MAX}',
  )


def validate_targets(config) -> None:
  """The objective's label targets (objective.name validated)."""
  if config.objective.name in ('minimax', 'non_saturating'):
    # Cross-entropy targets are probabilities.
    number_in(config, 'objective.real_target', 0.0, 1.0)
    number_in(config, 'objective.fake_target', 0.0, 1.0)
  else:
    number_in(
        config,
        'objective.real_target',
        -math.inf,
        math.inf,
        low_open=True,
        high_open=True,
    )
    number_in(
        config,
        'objective.fake_target',
        -math.inf,
        math.inf,
        low_open=True,
        high_open=True,
    )


def validate_optimizers(config) -> None:
  """``optim.g`` and ``optim.d`` (gan_jax.optim)."""
  for side in ('g', 'd'):
    choice(config, f'optim.{side}.name', optim.OPTIMIZERS)
    number_in(
        config, f'optim.{side}.lr', 0.0, math.inf, low_open=True, high_open=True
    )
    number_in(config, f'optim.{side}.b1', 0.0, 1.0, high_open=True)
    number_in(config, f'optim.{side}.b2', 0.0, 1.0, high_open=True)
    choice(config, f'optim.{side}.schedule', optim.SCHEDULES)


def validate_cadence(config) -> None:
  """The train section's intervals, route and formulation, which a GAN run
  and a translation run share."""
  for field in ('train.eval_every', 'train.checkpoint_every'):
    value = get_field(config, field)
    log_every = config.train.log_every
    check(
        is_int(value) and value >= 1 and value % log_every == 0,
        field,
        value,
        f'a positive multiple of train.log_every ({log_every})',
    )
  int_at_least(config, 'train.keep_checkpoints', 1)
  int_at_least(config, 'train.steps_per_dispatch', 0)
  per_dispatch = config.train.steps_per_dispatch
  check(
      per_dispatch == 0 or config.train.log_every % per_dispatch == 0,
      'train.steps_per_dispatch',
      per_dispatch,
      f'0 (automatic) or a divisor of train.log_every '
      f'({config.train.log_every})',
  )
  choice(config, 'train.parallel', parallel.ROUTES)
  choice(config, 'train.formulation', FORMULATIONS)


def formulation(config, platform: Optional[str] = None) -> str:
  """'cpu' or 'standard': train.formulation, with 'auto' resolved by the
  platform (the first device's, unless given)."""
  chosen = config.train.formulation
  if chosen != 'auto':
    return chosen
  platform = platform or jax.devices()[0].platform
  return 'cpu' if platform == 'cpu' else 'standard'


def train_shape(config) -> Tuple[int, ...]:
  """The shape of one training example: an image dataset's, resized to
  ``data.image_size`` when that is set."""
  if not is_image_dataset(config.dataset):
    return tuple(get_toy_dataset(config.dataset).shape)
  height, width, channels = IMAGE_SOURCES[config.dataset].shape
  size = config.data.image_size
  return (size, size, channels) if size else (height, width, channels)


# The MLP's own options (gan_jax/models/mlp.py) and their defaults.
MLP_OPTIONS = {
    'model.d_width': 0,
    'model.d_depth': 0,
    'model.activation': 'relu',
    'model.d_maxout_pieces': 0,
    'model.weight_init': 'default',
    'model.init_scale': 1.0,
}


def _validate_mlp_options(config) -> None:
  int_at_least(config, 'model.d_width', 0)
  int_at_least(config, 'model.d_depth', 0)
  choice(config, 'model.activation', tuple(models.mlp.ACTIVATIONS))
  pieces = config.model.d_maxout_pieces
  check(
      is_int(pieces) and (pieces == 0 or 2 <= pieces <= 64),
      'model.d_maxout_pieces',
      pieces,
      '0 (no maxout) or an integer from 2 to 64',
  )
  choice(config, 'model.weight_init', models.mlp.INITS)
  number_in(
      config, 'model.init_scale', 0.0, math.inf, low_open=True, high_open=True
  )
  if config.model.name != 'mlp':
    for field, default in MLP_OPTIONS.items():
      value = get_field(config, field)
      check(
          value == default,
          field,
          value,
          f'{default!r} with model.name={config.model.name!r}: an option '
          "of model.name='mlp' only",
      )


def _validate_model_and_data(config) -> None:
  """The model can take the dataset's examples, and its labels if
  conditional."""
  name, model = config.dataset, config.model.name
  if model in models.IMAGE_MODELS:
    if not is_image_dataset(name):
      raise ConfigError(
          f'model.name={model!r} is not allowed with dataset='
          f"{name!r}: it takes images; use 'mlp' for 2-D data"
      )
    shape = train_shape(config)
    reason = models.IMAGE_MODELS[model](shape)
    if reason:
      field = 'data.image_size' if config.data.image_size else 'dataset'
      value = config.data.image_size or name
      raise ConfigError(
          f'{field}={value!r} is not allowed with model.name='
          f'{model!r} (images {shape[0]}x{shape[1]}): {reason}'
      )
  check(
      isinstance(config.model.conditional, bool),
      'model.conditional',
      config.model.conditional,
      'True or False',
  )
  if config.model.conditional and not is_image_dataset(name):
    raise ConfigError(
        f'model.conditional=True is not allowed with dataset='
        f'{name!r}: it has no labels; use an image dataset'
    )
  if config.model.conditional and config.model.pack > 1:
    raise ConfigError(
        f'model.pack={config.model.pack!r} is not allowed with '
        'model.conditional=True: a pack of samples has no one '
        'label; use model.pack=1'
    )


def hparams_from_config(config) -> Dict[str, float]:
  """The scalars the steps read from the state (see state.DEFAULT_HPARAMS)."""
  o = config.objective
  return {
      'real_target': o.real_target,
      'fake_target': o.fake_target,
      'penalty_weight': o.penalty_weight,
      'gp_target': o.gp_target,
      'clip_value': o.clip_value,
      'ema_decay': config.ema.decay,
  }


def build(
    config, axis_name: Optional[str] = None
) -> Tuple[GANSpec, Dict[str, float], Union[Toy2D, ImageSource]]:
  """(spec, hparams, dataset) for a validated config; the dataset is a 2-D
  sampler or an image source (whose data the runner reads).

  ``axis_name`` is passed to the models for cross-device batch statistics
  when the steps will run under pmap or shard_map.
  """
  dataset: Union[Toy2D, ImageSource]
  num_classes = 0
  if is_image_dataset(config.dataset):
    dataset = IMAGE_SOURCES[config.dataset]
    num_classes = dataset.num_classes if config.model.conditional else 0
  else:  # Unconditional: validate() allows labels on images only.
    dataset = get_toy_dataset(config.dataset)
  generator, discriminator = models.build_models(
      config.model,
      train_shape(config),
      axis_name,
      num_classes,
      cpu_layers=formulation(config) == 'cpu',
  )
  steps, n_critic = config.train.steps, config.objective.n_critic
  spec = GANSpec(
      generator=generator,
      discriminator=discriminator,
      g_optimizer=optim.make_optimizer(config.optim.g, steps),
      d_optimizer=optim.make_optimizer(
          config.optim.d,
          steps * n_critic,
          differentiable=config.objective.unroll_steps > 0,
      ),
      objective=config.objective.name,
      penalty=config.objective.penalty,
      one_sided_penalty=config.objective.one_sided,
      clip_weights=config.objective.clip_weights,
      n_critic=n_critic,
      latent_dim=config.model.latent_dim,
      data_shape=train_shape(config),
      use_ema=config.ema.enabled,
      num_classes=num_classes,
      compute_dtype=config.train.compute_dtype,
      penalty_every=config.objective.penalty_every,
      g_penalty=config.objective.g_penalty,
      g_penalty_weight=config.objective.g_penalty_weight,
      g_penalty_every=config.objective.g_penalty_every,
      pack=config.model.pack,
      unroll_steps=config.objective.unroll_steps,
  )
  return spec, hparams_from_config(config), dataset
