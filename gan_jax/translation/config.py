"""From a translation config (experiments/configs/translate.py) to what
trains: validation and construction. Pure functions, no I/O; every bad
value ends in one line naming the field, the value and what is allowed,
before anything is written. The runner's own fields (cadence, devices,
data paths, evaluation) are checked by experiments.translation."""

import math
from typing import Dict, Tuple

from gan_jax import losses, optim, precision
from gan_jax.config import (
    INT32_MAX,
    ConfigError,
    boolean,
    check,
    choice,
    get_field,
    int_at_least,
    number_in,
    validate_optimizers,
    validate_targets,
)
from gan_jax.data import pairs
from gan_jax.translation import networks
from gan_jax.translation.state import CycleSpec
from gan_jax.translation.steps import ALGORITHMS


def pair_of(config) -> pairs.Pair:
  try:
    return pairs.get_pair(config.pair)
  except pairs.UnknownPair as error:
    raise ConfigError(f'pair: {error}') from None


def domain_shapes(config) -> Tuple[Tuple[int, ...], Tuple[int, ...]]:
  """The (x, y) example shapes G and F see: after the channel conversion
  and the crop to data.image_size."""
  pair = pair_of(config)
  if pair.kind == 'points':
    return (2,), (2,)
  x_shape, y_shape = pairs.domain_shapes(config.pair)
  size = config.data.image_size
  channels = {'grey': 1, 'rgb': 3}.get(config.data.channels)

  def final(shape):
    return ((size or shape[0]), (size or shape[1]), channels or shape[2])

  return final(x_shape), final(y_shape)


def validate(config, num_devices: int = 1) -> None:
  """Checks the library's fields and their combinations; raises ConfigError
  on the first."""
  pair = pair_of(config)
  choice(config, 'data.channels', pairs.CHANNELS)
  int_at_least(config, 'data.image_size', 0)
  int_at_least(config, 'data.load_size', 0)
  boolean(config, 'data.random_flip')
  if pair.kind == 'points':
    for field in ('data.image_size', 'data.load_size'):
      check(
          get_field(config, field) == 0,
          field,
          get_field(config, field),
          f'0 with pair={config.pair!r}: its examples are 2-D points',
      )
    check(
        config.data.channels == '',
        'data.channels',
        config.data.channels,
        f"'' with pair={config.pair!r}: its examples are 2-D points",
    )
    check(
        not config.data.random_flip,
        'data.random_flip',
        True,
        f'False with pair={config.pair!r}: its examples are 2-D points',
    )
  else:
    _validate_images(config)

  validate_targets(config)
  number_in(config, 'loss.cycle_weight', 0.0, math.inf, high_open=True)
  number_in(config, 'loss.identity_weight', 0.0, math.inf, high_open=True)
  x_shape, y_shape = domain_shapes(config)
  if config.loss.identity_weight > 0 and x_shape != y_shape:
    raise ConfigError(
        f'loss.identity_weight={config.loss.identity_weight!r} is not '
        f'allowed with pair={config.pair!r} (X {x_shape}, Y {y_shape}): the '
        'identity loss compares G(y) with y; use 0'
    )
  int_at_least(config, 'history.size', 0)
  for field in ('model.g_width', 'model.d_width', 'model.depth'):
    int_at_least(config, field, 1)
  int_at_least(config, 'model.blocks', 0)

  validate_optimizers(config)

  for field in ('train.steps', 'train.batch_size'):
    int_at_least(config, field, 1)
  choice(config, 'train.compute_dtype', precision.COMPUTE_DTYPES)
  choice(config, 'train.algorithm', ALGORITHMS)
  batch = config.train.batch_size
  check(
      batch % num_devices == 0,
      'train.batch_size',
      batch,
      f'a multiple of the device count ({num_devices})',
  )
  check(
      config.train.steps <= INT32_MAX,
      'train.steps',
      config.train.steps,
      f'at most {INT32_MAX}',
  )


def _validate_images(config) -> None:
  name = config.pair
  (xh, xw, xc), (yh, yw, yc) = pairs.domain_shapes(name)
  if xc != yc and not config.data.channels:
    raise ConfigError(
        f"data.channels='' is not allowed with pair={name!r}: its domains "
        f"have {xc} and {yc} channels; say how they meet: 'grey' (RGB to "
        "luma) or 'rgb' (grey repeated)"
    )
  size, load = config.data.image_size, config.data.load_size
  if (xh, xw) != (yh, yw) and not size:
    raise ConfigError(
        f'data.image_size=0 is not allowed with pair={name!r}: its domains '
        f'have images of {xh}x{xw} and {yh}x{yw}; give one size for both'
    )
  if xh != xw or yh != yw:
    check(
        size > 0,
        'data.image_size',
        size,
        f'a size > 0 with pair={name!r}: its images are not square',
    )
  if load:
    check(
        size > 0 and load >= size,
        'data.load_size',
        load,
        f'0 (no crop) or at least data.image_size ({size}), which must '
        'be set: images are resized to load_size and cropped to '
        'image_size',
    )
  smallest = size or min(xh, yh)
  check(
      smallest >= 8,
      'data.image_size',
      size,
      'at least 8: the generator pads 3 pixels by reflection after '
      'downsampling',
  )


def hparams_from_config(config) -> Dict[str, float]:
  """The scalars the CycleState holds: the loss weights and the
  objective's declared scalars (gan_jax.hparams)."""
  objective = losses.get_objective(config.objective.name)
  return {
      'cycle_weight': config.loss.cycle_weight,
      'identity_weight': config.loss.identity_weight,
      **{
          h.name: get_field(config, h.config_field)
          for h in objective.hparams
          if h.batchable
      },
  }


def build(config) -> Tuple[CycleSpec, Dict[str, float], pairs.Pair]:
  """(spec, hparams, pair) for a validated config."""
  pair = pair_of(config)
  x_shape, y_shape = domain_shapes(config)
  m = config.model
  if pair.kind == 'points':
    g, f, d_x, d_y = networks.build_point_networks(
        m.g_width, m.d_width, m.depth
    )
  else:
    g, f, d_x, d_y = networks.build_image_networks(
        x_shape, y_shape, m.g_width, m.d_width, m.blocks
    )
  steps = config.train.steps
  spec = CycleSpec(
      g=g,
      f=f,
      d_x=d_x,
      d_y=d_y,
      g_optimizer=optim.make_optimizer(config.optim.g, steps),
      d_optimizer=optim.make_optimizer(config.optim.d, steps),
      objective=config.objective.name,
      x_shape=x_shape,
      y_shape=y_shape,
      history_size=config.history.size,
      identity_loss=config.loss.identity_weight > 0,
      compute_dtype=config.train.compute_dtype,
      algorithm=config.train.algorithm,
  )
  return spec, hparams_from_config(config), pair
