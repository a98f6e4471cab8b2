"""What a sweep runs: its spec, checked, expanded into runs and groups.

A sweep spec is a plain dict (from flags or from a sweep file's
``get_sweep()``):

* ``config``: a config file (as ``experiments.run --config``), the base of
  every run; a plug-in it registers (an objective, a penalty, an
  algorithm) is there for the whole sweep. Default:
  experiments/configs/default.py;
* ``variants``: names from gan_jax.variants (each applies its defaults);
  with a ``config`` file they may be left out: the file is taken as it
  is, its ``variant`` field naming the runs;
* ``seeds``: a count S (seeds 0..S-1) or a list of seeds;
* ``dataset``: as ``--dataset`` of experiments.run (applies its defaults);
* ``set``: ``{field: value}`` for every run (like ``--config.field=value``);
* ``grid``: ``{field: [values]}``, every combination is a configuration;
* ``configs``: a list of ``{field: value}``, each a configuration (taken
  with every grid point when both are given);
* ``published``: on a 2-D benchmark, the published table (a source in
  experiments/sweeps/published.py: 'PacGAN' or 'VEEGAN') whose rows
  results.md puts beside each setting's, matched by method (GAN,
  PacGAN<m>, Unrolled GAN, from the run's config).

Each (variant, configuration) is a *setting*; each setting runs once per
seed. Fields are those of experiments/configs/default.py and values must
have the default's type (an int where a float is expected is fine). Runs
whose configs differ only in numbers the train state holds form one *group*
(gan_jax.batched.group_key) and train as one vmapped program.
"""

import dataclasses
import itertools
import json
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from experiments.runner.config_layers import (
    ConfigFileError,
    load_config_file,
    resolve_config,
    unknown_field,
)
from experiments.configs import default
from experiments.runner import validation
from experiments.sweeps import published
from gan_jax import batched, config as gan_config
from gan_jax.batched import flatten
from gan_jax.data import DATASETS, is_known_dataset, own_images
from gan_jax.variants import VARIANTS, unknown_variant

SPEC_KEYS = (
    'config',
    'variants',
    'seeds',
    'dataset',
    'set',
    'grid',
    'configs',
    'published',
)


class SweepError(ValueError):
  """A sweep spec that cannot run; the message is one line."""


@dataclasses.dataclass(frozen=True)
class Run:
  """One run of a sweep."""

  name: str  # Its directory under <sweep>/runs/.
  variant: str  # The variant named, or the config file's own label.
  point: Tuple[Tuple[str, Any], ...]  # The swept fields' values, in order.
  seed: int
  config: Any  # ConfigDict, resolved and validated.

  @property
  def setting(self) -> Tuple[str, Tuple[Tuple[str, Any], ...]]:
    """What the seeds of one configuration share (a row of results.md)."""
    return self.variant, self.point


# Chosen by the spec's own keys, not by set/grid/configs.
_RESERVED = {'variant': 'variants', 'seed': 'seeds', 'dataset': 'dataset'}


def _format_value(value: Any) -> str:
  return repr(value) if isinstance(value, str) else f'{value}'


def base_config(spec: Mapping[str, Any]):
  """The base of every run: the spec's config file's ``get_config()``
  (loaded once per process, registering its plug-ins), or default.py's."""
  path = spec.get('config')
  if path is None:
    return default.get_config()
  if not isinstance(path, str) or not path:
    raise SweepError(f'config={path!r}: give the path of a config file')
  try:
    return load_config_file(path)
  except ConfigFileError as error:
    raise SweepError(f'config: {error}') from None


def _check_field(field: Any, where: str, fields: Mapping[str, Any]) -> None:
  if field in _RESERVED:
    raise SweepError(
        f"{where}: {field!r} is set by the sweep's "
        f'{_RESERVED[field]!r}, not here'
    )
  if field not in fields:
    raise SweepError(f'{where}: {unknown_field(str(field))}')


_TYPE_NAMES = {
    bool: 'a bool (true or false)',
    int: 'an integer',
    float: 'a float',
    str: 'a string',
}


def _type_name(kind: type) -> str:
  return _TYPE_NAMES.get(kind, f'a {kind.__name__}')


def _typed(
    field: str, value: Any, where: str, fields: Mapping[str, Any]
) -> Any:
  """``value`` as the type of the base config's field; strings (from flags)
  are parsed, other values must already have that type."""
  expected = type(fields[field])
  if isinstance(value, str) and expected is not str:
    text = value.strip()
    try:
      if expected is bool:
        if text.lower() not in ('true', 'false'):
          raise ValueError
        return text.lower() == 'true'
      return expected(text)  # int('1.5') and float('x') raise.
    except ValueError:
      raise SweepError(
          f'{where}: {field}={value!r} is not {_type_name(expected)}'
      ) from None
  if (
      expected is float
      and isinstance(value, int)
      and not isinstance(value, bool)
  ):
    return float(value)
  if type(value) is not expected:  # bool is not an int here.
    raise SweepError(
        f'{where}: {field}={value!r} is '
        f'{_type_name(type(value))}; expected '
        f'{_type_name(expected)}'
    )
  return value


def _mapping(spec, key: str) -> Mapping[str, Any]:
  value = spec.get(key) or {}
  if not isinstance(value, Mapping):
    raise SweepError(f'{key}: expected {{field: value}}, got {value!r}')
  return value


def _seeds(value: Any) -> List[int]:
  if isinstance(value, int) and not isinstance(value, bool):
    if value < 1:
      raise SweepError(f'seeds={value!r}: give a count >= 1 or a list of seeds')
    return list(range(value))
  if (
      isinstance(value, (list, tuple))
      and value
      and all(
          isinstance(s, int) and not isinstance(s, bool) and s >= 0
          for s in value
      )
      and len(set(value)) == len(value)
  ):
    return list(value)
  raise SweepError(
      f'seeds={value!r}: give a count >= 1 or a list of '
      'distinct integers >= 0'
  )


def normalize(spec: Mapping[str, Any]) -> Dict[str, Any]:
  """The spec checked and in canonical form (types fixed, seeds a list):
  what sweep.json records and what a resumed sweep must match."""
  unknown = sorted(set(spec) - set(SPEC_KEYS))
  if unknown:
    raise SweepError(
        f'unknown sweep key {unknown[0]!r}; the keys are '
        + ', '.join(SPEC_KEYS)
    )
  base = base_config(spec)
  fields = flatten(base.to_dict())
  variants = spec.get('variants')
  if isinstance(variants, str):
    variants = [variants]
  if not variants and 'config' not in spec:
    raise SweepError(
        'variants: none given; choose from '
        + ', '.join(VARIANTS)
        + ', or give a config file (config, --config) to take as it is'
    )
  variants = list(variants or [])
  for name in variants:
    if name not in VARIANTS:
      raise SweepError(f'variants: {unknown_variant(name)}')
  if len(set(variants)) != len(variants):
    raise SweepError(f'variants: {variants} names one twice')
  # A folder by its absolute path: sweep.json and the runs' configs name
  # it from any directory.
  dataset = own_images.absolute(spec.get('dataset') or base.dataset)
  if not is_known_dataset(dataset):
    raise SweepError(
        f'dataset: unknown dataset {dataset!r}; valid: ' + ', '.join(DATASETS)
    )

  fixed = {}
  for field, value in _mapping(spec, 'set').items():
    _check_field(field, 'set', fields)
    fixed[field] = _typed(field, value, 'set', fields)
  grid = {}
  for field, values in _mapping(spec, 'grid').items():
    _check_field(field, 'grid', fields)
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
      raise SweepError(
          f'grid: {field}: expected a list of values, got {values!r}'
      )
    if not values:
      raise SweepError(f'grid: {field}: no values; give at least one')
    typed = [_typed(field, v, 'grid', fields) for v in values]
    if len(set(map(json.dumps, typed))) != len(typed):
      raise SweepError(f'grid: {field}: {typed} repeats a value')
    grid[field] = typed
  configs = spec.get('configs') or []
  if not isinstance(configs, Sequence) or isinstance(configs, str):
    raise SweepError(
        f'configs: expected a list of {{field: value}}, got {configs!r}'
    )
  listed = []
  for i, entry in enumerate(configs):
    if not isinstance(entry, Mapping):
      raise SweepError(
          f'configs[{i}]: expected {{field: value}}, got {entry!r}'
      )
    for field in entry:
      _check_field(field, f'configs[{i}]', fields)
    listed.append(
        {f: _typed(f, v, f'configs[{i}]', fields) for f, v in entry.items()}
    )
  if 'configs' in spec and not listed:
    raise SweepError(
        'configs: an empty list; give at least one entry or leave it out'
    )
  normalized = {
      **({'config': spec['config']} if 'config' in spec else {}),
      'variants': variants,
      'seeds': _seeds(spec.get('seeds', 1)),
      'dataset': dataset,
      'set': fixed,
      'grid': grid,
      'configs': listed,
  }
  source = spec.get('published')
  if source:  # Only when given: sweep.json of older sweeps stays valid.
    if source not in published.SOURCES:
      raise SweepError(
          f'published={source!r}: choose from ' + ', '.join(published.SOURCES)
      )
    if dataset not in published.SOURCES[source].tables:
      raise SweepError(
          f'published={source!r} has no table for dataset '
          f'{dataset!r}; it reports '
          + ', '.join(published.SOURCES[source].tables)
      )
    normalized['published'] = source
  return normalized


def _points(spec: Mapping[str, Any]) -> List[Dict[str, Any]]:
  """Every configuration: grid points crossed with the listed configs."""
  fields = list(spec['grid'])
  grid_points = [
      dict(zip(fields, values))
      for values in itertools.product(*(spec['grid'][f] for f in fields))
  ]
  listed = spec['configs'] or [{}]
  return [{**g, **c} for c in listed for g in grid_points]


def run_name(label: str, point: Mapping[str, Any], seed: int) -> str:
  parts = (
      [label]
      + [f'{field}={_format_value(value)}' for field, value in point.items()]
      + [f'seed{seed}']
  )
  return '__'.join(parts).replace('/', '_').replace("'", '')


def expand(spec: Mapping[str, Any]) -> List[Run]:
  """Every run of a normalized spec, configs resolved and validated."""
  runs = []
  base = base_config(spec)
  points = _points(spec)
  swept = list(dict.fromkeys(f for point in points for f in point))
  # No variant named: the config file as it is, named by its variant field.
  for variant in spec['variants'] or [None]:
    label = variant or base.variant
    for point in points:
      for seed in spec['seeds']:
        overrides = {**spec['set'], **point}
        name = run_name(label, point, seed)
        try:
          config = resolve_config(
              base, variant, overrides, dataset=spec['dataset'], seed=seed
          )
          validation.validate(config)
        except (gan_config.ConfigError, TypeError, KeyError) as error:
          raise SweepError(f'run {name}: {error}') from None
        # Every swept field, with the value the run used (a list entry
        # that leaves a field out gets the variant's or the default's).
        values = tuple((f, _value(config, f)) for f in swept)
        runs.append(Run(name, config.variant, values, seed, config))
  return runs


def _value(config, field: str) -> Any:
  for part in field.split('.'):
    config = config[part]
  return config


def groups(runs: Sequence[Run], max_size: int = 0) -> List[List[Run]]:
  """Runs that can share one vmapped program, in order of first appearance;
  at most ``max_size`` per group (0: no limit)."""
  by_key: Dict[str, List[Run]] = {}
  for run in runs:
    by_key.setdefault(batched.group_key(run.config), []).append(run)
  result: List[List[Run]] = []
  for members in by_key.values():
    size = max_size or len(members)
    result.extend(members[i : i + size] for i in range(0, len(members), size))
  return result
