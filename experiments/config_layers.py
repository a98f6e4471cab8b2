"""The layers that make one run's config, without flags: shared by
``experiments.run`` (one run) and ``experiments.sweep`` (many).

base config file <- dataset defaults <- variant (its published values, then
its image or 2-D setting) <- explicit overrides.
"""

import os

from experiments.configs.datasets import dataset_defaults
from gan_jax import config as gan_config
from gan_jax.data import is_image_dataset
from gan_jax.variants import get_variant


def resolve_config(base, variant: str, overrides, dataset=None, seed=None,
                   data_dir=None):
  """base config <- dataset defaults <- variant <- ``overrides``.

  ``overrides`` win over the variant's defaults (``experiments.run`` passes
  the command line's ``--config.*`` values, which config_flags has already
  applied to ``base``). The dataset's defaults apply when the overrides
  change the dataset the base names: a config file that names its own
  dataset is taken as it is.
  """
  try:
    chosen = get_variant(variant)
  except ValueError as error:
    raise gan_config.ConfigError(f'--variant: {error}') from None
  overrides = dict(overrides)
  if dataset is not None:
    overrides['dataset'] = dataset
  if seed is not None:
    overrides['seed'] = seed
  if data_dir is not None:
    overrides['data.dir'] = data_dir
  config = base.copy_and_resolve_references()
  with config.unlocked():
    config.variant = variant
  name = overrides.get('dataset', config.dataset)
  if 'dataset' in overrides:
    config.update_from_flattened_dict(dict(dataset_defaults(name)))
  config.update_from_flattened_dict(dict(chosen.overrides))
  config.update_from_flattened_dict(dict(
      chosen.image_overrides if is_image_dataset(name)
      else chosen.toy_overrides))
  config.update_from_flattened_dict(overrides)
  return config


def default_workdir(config) -> str:
  return os.path.join('runs',
                      f'{config.variant}_{config.dataset}_seed{config.seed}')
