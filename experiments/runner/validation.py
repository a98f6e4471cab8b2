"""The runners' own config fields, checked before anything is written: the
run's name and seed, data paths, the loop's cadence, devices and
evaluation. The library checks its fields itself (gan_jax.config.validate);
:func:`validate` does both, as experiments.run and experiments.sweep call
it."""

import math

from gan_jax import config as gan_config, parallel
from gan_jax.config import (
    INT32_MAX,
    ConfigError,
    boolean,
    check,
    choice,
    get_field,
    int_at_least,
    is_int,
    number_in,
)
from gan_jax.data import images as image_data, is_image_dataset
from gan_jax.data.own_images import is_own
from gan_jax.metrics import dinov2, inception

# Features of the image metrics (experiments/configs/default.py says which).
EVAL_FEATURES = ('auto', 'classifier', 'inception', 'dinov2')


def validate(config, num_devices: int = 1) -> None:
  """The library's fields, then the runner's; ConfigError on the first bad
  one."""
  gan_config.validate(config, num_devices)
  int_at_least(config, 'seed', 0)
  validate_data_dir(config)
  number_in(config, 'data.in_memory_limit_mb', 0.0, math.inf, high_open=True)
  boolean(config, 'data.random_flip')
  validate_cadence(config)
  int_at_least(config, 'train.profile_steps', 0)
  validate_eval(config)


def validate_data_dir(config) -> None:
  value = get_field(config, 'data.dir')
  check(
      isinstance(value, str),
      'data.dir',
      value,
      "a directory path, or '' for the TFDS default",
  )
  # Here, before anything runs: TFDS, given a file, announces a download
  # into it and then fails. Any dataset: a file for a data dir is a slip.
  problem = value and image_data.data_dir_problem(value)
  if problem:
    raise ConfigError(
        f'data.dir={value!r} (--data_dir) {problem}; give a directory, or '
        "'' for $TFDS_DATA_DIR or ~/tensorflow_datasets"
    )


def validate_cadence(config) -> None:
  """The train section's intervals, devices, route and formulation, which a
  GAN run and a translation run share."""
  int_at_least(config, 'train.log_every', 1)
  log_every = get_field(config, 'train.log_every')
  for field in ('train.eval_every', 'train.checkpoint_every'):
    value = get_field(config, field)
    check(
        is_int(value) and value >= 1 and value % log_every == 0,
        field,
        value,
        f'a positive multiple of train.log_every ({log_every})',
    )
  int_at_least(config, 'train.keep_checkpoints', 1)
  int_at_least(config, 'train.steps_per_dispatch', 0)
  per_dispatch = get_field(config, 'train.steps_per_dispatch')
  check(
      per_dispatch == 0 or log_every % per_dispatch == 0,
      'train.steps_per_dispatch',
      per_dispatch,
      f'0 (automatic) or a divisor of train.log_every ({log_every})',
  )
  int_at_least(config, 'train.num_devices', 0)
  choice(config, 'train.parallel', parallel.ROUTES)
  choice(config, 'train.formulation', gan_config.FORMULATIONS)


def validate_eval(config) -> None:
  """A GAN run's evaluation fields."""
  int_at_least(config, 'eval.num_samples', 1)
  number_in(
      config, 'eval.threshold', 0.0, math.inf, low_open=True, high_open=True
  )
  int_at_least(config, 'eval.mode_samples', 0)
  int_at_least(config, 'eval.classifier_steps', 1)
  dataset = get_field(config, 'dataset')
  if is_image_dataset(dataset):
    # k-nearest-neighbour balls (k = 5) and sample covariances need a few.
    int_at_least(config, 'eval.num_samples', 10)
  choice(config, 'eval.features', EVAL_FEATURES)
  if get_field(config, 'eval.features') == 'classifier' and is_own(dataset):
    raise ConfigError(
        "eval.features='classifier' is not allowed with "
        f'dataset={dataset!r}: there is no classifier of your own images '
        "(it needs labelled, held-out ones); use 'auto' or 'inception'"
    )
  features = get_field(config, 'eval.features')
  if features in ('inception', 'dinov2') and not is_image_dataset(dataset):
    raise ConfigError(
        f"eval.features='{features}' is not allowed with "
        f"dataset={dataset!r}: it reads images; use 'auto' (the 2-D mode "
        'statistics)'
    )
  check(
      isinstance(get_field(config, 'eval.inception.weights'), str),
      'eval.inception.weights',
      get_field(config, 'eval.inception.weights'),
      "a file path, or '' to look the weights up",
  )
  boolean(config, 'eval.inception.any_weights')
  int_at_least(config, 'eval.inception.batch_size', 0)
  choice(config, 'eval.inception.resize', inception.RESIZE_MODES)
  # FID's covariances, KID's subsets and the k = 5 balls need a few.
  value = get_field(config, 'eval.inception.num_samples')
  check(
      is_int(value) and (value == 0 or 10 <= value <= INT32_MAX),
      'eval.inception.num_samples',
      value,
      "0 (the dataset's usual protocol) or an integer from 10 to "
      f'{INT32_MAX}',
  )
  choice(config, 'eval.dinov2.model', tuple(dinov2.ARCHITECTURES))
  choice(config, 'eval.dinov2.resize', dinov2.RESIZES)
  check(
      isinstance(get_field(config, 'eval.dinov2.weights'), str),
      'eval.dinov2.weights',
      get_field(config, 'eval.dinov2.weights'),
      "a file path, or '' to look the weights up",
  )
  int_at_least(config, 'eval.dinov2.batch_size', 0)
  value = get_field(config, 'eval.dinov2.num_samples')
  check(
      is_int(value) and (value == 0 or 10 <= value <= INT32_MAX),
      'eval.dinov2.num_samples',
      value,
      "0 (the dataset's usual protocol) or an integer from 10 to "
      f'{INT32_MAX}',
  )


# Features of a translation's FD and KID (experiments/configs/translate.py).
TRANSLATION_EVAL_FEATURES = ('auto', 'classifier', 'inception', 'none')


def validate_translation(config, num_devices: int = 1) -> None:
  """A translation config: the library's fields
  (gan_jax.translation.config), then the runner's."""
  from gan_jax.translation import config as translation_config

  translation_config.validate(config, num_devices)
  int_at_least(config, 'seed', 0)
  validate_data_dir(config)
  validate_cadence(config)
  int_at_least(config, 'eval.num_samples', 0)
  int_at_least(config, 'eval.points', 10)
  number_in(
      config, 'eval.threshold', 0.0, math.inf, low_open=True, high_open=True
  )
  choice(config, 'eval.features', TRANSLATION_EVAL_FEATURES)
  int_at_least(config, 'eval.classifier_steps', 1)
  check(
      isinstance(get_field(config, 'eval.inception.weights'), str),
      'eval.inception.weights',
      get_field(config, 'eval.inception.weights'),
      "a file path, or '' to look the weights up",
  )
  int_at_least(config, 'eval.inception.batch_size', 0)
  pair = translation_config.pair_of(config)
  if pair.kind == 'points':
    features = get_field(config, 'eval.features')
    check(
        features in ('auto', 'none'),
        'eval.features',
        features,
        f"'auto' with pair={config.pair!r}: its examples are 2-D points",
    )
