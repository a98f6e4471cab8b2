"""The layers that make a translation run's config, without flags:
translate.py's defaults (or a --config file) <- the pair's defaults (for
the fields the file leaves at translate.py's values) <- the command
line."""

from experiments.configs import translate as defaults
from gan_jax.batched import flatten
from gan_jax.config import ConfigError


def resolve(base, command_line, pair=None, seed=None, data_dir=None):
  """base file <- the pair's defaults <- command line (see the module
  docstring); ``command_line`` is {dotted field: value}."""
  overrides = dict(command_line)
  for field, value in (('pair', pair), ('seed', seed), ('data.dir', data_dir)):
    if value is not None:
      overrides[field] = value
  config = base.copy_and_resolve_references()
  name = overrides.get('pair', config.pair)
  if not isinstance(name, str):
    raise ConfigError(f'pair={name!r} is not allowed: a pair name')
  stock = flatten(defaults.get_config().to_dict())
  current = flatten(config.to_dict())
  config.update_from_flattened_dict(
      {
          field: value
          for field, value in defaults.pair_defaults(name).items()
          if current[field] == stock[field]
      }
  )
  config.update_from_flattened_dict(overrides)
  return config
