"""From a config to the objects that train: the library's fields, their
defaults, validation and construction.

Pure functions of a nested mapping -- an ``ml_collections.ConfigDict`` or
plain dicts: no flags, no I/O. The library owns the fields listed in
:func:`defaults` (the dataset and image size, ``objective``, ``model``,
``optim``, ``ema``, and ``train``'s steps, batch size, algorithm, precision
and formulation), plus the config field of every scalar a registered plug-in
declares (gan_jax.hparams). A config may leave any of them out: it takes the
default. The runners add fields of their own (logging, evaluation, data
paths: experiments/configs/default.py), which this module neither reads nor
checks (experiments/runner/validation.py does).

Example, from an installed wheel::

  spec, hparams, data = build({'objective': {'name': 'hinge'},
                               'train': {'batch_size': 64}})

:func:`validate` is called once, up front, before anything is written, so
every bad value ends in one line that names the field, the value and what
is allowed.
"""

import copy
import dataclasses
import difflib
import math
from collections.abc import Mapping
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import jax

from gan_jax import algorithms, augment, contract, losses, models, optim
from gan_jax import penalties, precision, regularizers
from gan_jax import state as gan_state
from gan_jax.data import (
    DATASETS,
    Toy2D,
    get_toy_dataset,
    is_image_dataset,
)
from gan_jax.data import own_images
from gan_jax.data.images import DatasetNotPrepared, ImageSource, image_source
from gan_jax.hparams import FLOAT32_MAX, INT32_MAX, HParam, merged
from gan_jax.state import GANSpec

__all__ = [
    'FLOAT32_MAX',
    'INT32_MAX',
    'ConfigError',
    'build',
    'declared_hparams',
    'defaults',
    'formulation',
    'hparams_from_config',
    'resolve',
    'train_shape',
    'validate',
]

FORMULATIONS = ('auto', 'cpu', 'standard')

# The sections of which every field is the library's: an unknown field
# there is a misspelling.
LIBRARY_SECTIONS = ('objective', 'model', 'optim', 'ema', 'augment')


class ConfigError(ValueError):
  """A config value that cannot run; the message is one line."""


# --- The library's fields ---------------------------------------------------


def _base_defaults() -> Dict[str, Any]:
  """The library's own fields (plug-in scalars come from their
  declarations)."""
  optimizer = dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, schedule='linear')
  return {
      # grid25 | ring8 | swiss_roll, or an image dataset: digits |
      # stacked_digits (embedded) | mnist | fashion_mnist | cifar10 |
      # celeb_a; or your own images: folder:PATH | tfds:NAME[:SPLIT]
      # (gan_jax.data.own_images, docs/images.md).
      'dataset': 'grid25',
      'data': {
          # Train at this side length (resized on device, e.g. 32 to
          # train MNIST with the 32x32 networks); 0 keeps the dataset's
          # own size. A folder: or tfds: dataset is decoded at this side
          # (0: 64, or a tfds: dataset's own square side).
          'image_size': 0,
          # Train on this many images of the train split (the same ones
          # in every run: limited-data experiments); 0: all of them.
          'subset': 0,
          # folder: and tfds: datasets: the PIL filter that resizes the
          # centre crop (lanczos | bicubic | bilinear | box), and the
          # channels (auto: the files' own, refusing a mix of grey and
          # colour | 1 | 3: converted).
          'folder_resize': 'lanczos',
          'folder_channels': 'auto',
          # tfds: datasets: the image and label features; '': the first
          # image feature, the first ClassLabel (else every label 0).
          'image_key': '',
          'label_key': '',
          # 2-D datasets: the networks see data * scale (metrics and
          # samples stay in the data's coordinates); 0: the dataset's own,
          # roughly unit-sized (grid25 1/2.828, ring8 1.414); else a factor
          # in [0.001, 1000]. The published protocols set 1, the
          # coordinates their reference code trained in.
          'scale': 0.0,
      },
      'objective': {
          'name': 'non_saturating',  # gan_jax.losses.OBJECTIVES
          # D's penalty: none | gradient_penalty | r1 | r2 | r1_r2 | dragan |
          # a registered one
          # (gan_jax.penalties.D_PENALTIES); its weight is
          # objective.penalty_weight.
          'penalty': 'none',
          'clip_weights': False,  # Original WGAN weight clipping.
          'n_critic': 1,
          # Lazy regularisation (Karras et al. 2020, Sec. 3.1): D's
          # penalty on the D steps of every penalty_every-th train step
          # only, its weight times penalty_every.
          'penalty_every': 1,
          # G's penalty: none | path_length (StyleGAN2, gan_jax/
          # penalties.py) | a registered one; its weight is
          # objective.g_penalty_weight.
          'g_penalty': 'none',
          'g_penalty_every': 4,
          # Terms added to D's and G's losses, joined by '+': none | cr |
          # bcr | zcr | lecam | topk | a registered one
          # (gan_jax.regularizers), e.g. 'zcr+lecam'; each has its own
          # weights (objective.lecam_weight, ...).
          'regularizers': 'none',
          # Unrolled GAN (Metz et al. 2017): G's loss through D after
          # this many look-ahead updates of D on the step's batch,
          # differentiated through D's optimizer; 0: the plain step.
          'unroll_steps': 0,
      },
      # The WGAN-GP toy networks (3 hidden ReLU layers, 2-D latent) at
      # width 128 rather than 512 (docs/results_2d.md).
      'model': {
          'name': 'mlp',  # mlp | dcgan | sngan_cnn | sngan_resnet | stylegan2
          'latent_dim': 2,
          'width': 128,
          'depth': 3,
          'g_norm': 'none',  # none | batch | layer
          'd_norm': 'none',  # none | batch | layer (dcgan: spectral)
          # PacGAN (Lin et al. 2018): D judges packs of this many samples,
          # concatenated along the last axis; 1: no packing.
          'pack': 1,
          # The MLP only (the published 2-D protocols): D's own width and
          # depth (0: width / depth), the hidden activation (relu |
          # tanh), D's maxout pieces (0: none), the kernel initialiser
          # (default: LeCun normal | normal: std init_scale | orthogonal:
          # gain init_scale).
          'd_width': 0,
          'd_depth': 0,
          'activation': 'relu',
          'd_maxout_pieces': 0,
          'weight_init': 'default',
          'init_scale': 1.0,
          # Class-conditional G and D (image datasets: their labels).
          'conditional': False,
          # StyleGAN2: the chance that a training sample takes its later
          # styles from a second z; the truncation psi of evaluations and
          # sample grids (1: none); tanh on its images (the paper's are
          # linear; the near-binary digit datasets turn it on).
          'mixing_prob': 0.9,
          'truncation_psi': 1.0,
          'squash_output': False,
      },
      # Learning rates decay linearly to 0 over the run (the 2-D
      # benchmarks; image datasets keep constant rates).
      'optim': {'g': dict(optimizer), 'd': dict(optimizer)},
      # A differentiable augmentation of every image D judges, real and
      # fake, in D's and G's steps: none | diffaugment | ada | a
      # registered one (gan_jax.augment); its options are augment.*.
      'augment': {'name': 'none'},
      # Evaluate an exponential moving average of G's weights (Yazici et
      # al. 2019); its decay is ema.decay (a scalar of the steps).
      'ema': {'enabled': True},
      'train': {
          # G updates. 3,500 is where wgan_gp passes 90% high-quality
          # samples on grid25 over 10 seeds.
          'steps': 3500,
          'batch_size': 256,
          # The step factory (gan_jax.algorithms): alternating | a
          # registered one.
          'algorithm': 'alternating',
          # Matrix products and convolutions in this dtype; parameters,
          # optimizer states, EMA, losses and penalties stay float32.
          'compute_dtype': 'float32',  # float32 | bfloat16
          # auto | cpu | standard: the layers and loops tuned for XLA:CPU,
          # or the standard ones; auto picks by the platform.
          'formulation': 'auto',
      },
  }


def declared_hparams() -> Dict[str, HParam]:
  """Every scalar the steps and the registered plug-ins declare, by name;
  two plug-ins declaring one name differently, or a declaration whose field
  is one of the library's own (``optim.d.lr``), is an error naming them."""
  declared = [('the steps', h) for h in gan_state.CORE_HPARAMS]
  owned = _flat(_base_defaults())
  sections = [s for s, v in _base_defaults().items() if isinstance(v, dict)]
  for kind, registry in (
      ('objective', losses.OBJECTIVES),
      ('penalty', penalties.D_PENALTIES),
      ('G penalty', penalties.G_PENALTIES),
      ('augmentation', augment.AUGMENTATIONS),
      ('regularizer', regularizers.REGULARIZERS),
      ('algorithm', algorithms.ALGORITHMS),
  ):
    for name, plugin in registry.items():
      for hparam in plugin.hparams:
        field = hparam.config_field
        if field.split('.')[0] not in sections or field.count('.') != 1:
          raise ValueError(
              f'{kind} {name!r} declares {hparam.name!r} as config field '
              f"{field!r}; a plug-in's field is SECTION.NAME in one of the "
              f'library\'s sections: {", ".join(sections)}'
          )
        if field in owned:
          raise ValueError(
              f'{kind} {name!r} declares {hparam.name!r} as config field '
              f"{field!r}, which is the library's own; give it a field of "
              'its own (e.g. objective.<name>)'
          )
        declared.append((f'{kind} {name!r}', hparam))
  return merged(declared)


def _set(tree: Dict[str, Any], field: str, value: Any) -> None:
  *sections, name = field.split('.')
  for section in sections:
    tree = tree.setdefault(section, {})
  tree[name] = value


def defaults() -> Dict[str, Any]:
  """The library's fields at their defaults, as nested dicts: its own and
  one per scalar that the registered plug-ins declare (so a plug-in
  registered before a config is built has its field there)."""
  tree = _base_defaults()
  for hparam in declared_hparams().values():
    _set(tree, hparam.config_field, hparam.default)
  return tree


def _plain(config: Any) -> Any:
  if hasattr(config, 'to_dict'):
    config = config.to_dict()
  if isinstance(config, Mapping):
    return {key: _plain(value) for key, value in config.items()}
  return config


def _merge(base: Dict[str, Any], over: Mapping) -> Dict[str, Any]:
  for key, value in over.items():
    if isinstance(value, Mapping) and isinstance(base.get(key), dict):
      _merge(base[key], value)
    else:
      base[key] = copy.deepcopy(value)
  return base


def resolve(config: Any) -> Dict[str, Any]:
  """``config`` as plain nested dicts, the library's fields it leaves out
  at their defaults; a misspelt field of a library section is an error."""
  given = _plain(config)
  if not isinstance(given, dict):
    raise ConfigError(f'config={config!r} is not allowed: a nested mapping')
  for section, fields in _base_defaults().items():
    value = given.get(section)
    if isinstance(fields, dict) and value is not None:
      check(
          isinstance(value, Mapping),
          section,
          value,
          f'a mapping of its fields ({", ".join(sorted(fields))}, ...)',
      )
  resolved = _merge(defaults(), given)
  known = _flat(defaults())
  for field in _flat(given):
    if field.split('.')[0] in LIBRARY_SECTIONS and field not in known:
      section = field.rpartition('.')[0]
      siblings = [k for k in known if k.rpartition('.')[0] == section]
      close = difflib.get_close_matches(field, siblings, n=1)
      hint = f' (did you mean {close[0]!r}?)' if close else ''
      raise ConfigError(
          f'unknown config field {field!r}{hint}; a plug-in declares its '
          'fields when it is registered'
      )
  return resolved


def _flat(tree: Mapping, prefix: str = '') -> Dict[str, Any]:
  flat: Dict[str, Any] = {}
  for key, value in tree.items():
    if isinstance(value, Mapping) and value:
      flat.update(_flat(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


# --- Checks -----------------------------------------------------------------


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


def get_field(config, field: str) -> Any:
  """The value of a dotted field; one line for a missing one."""
  node = config
  for part in field.split('.'):
    try:
      node = node[part]
    except (KeyError, TypeError, AttributeError):
      raise ConfigError(f'the config has no field {field!r}') from None
  return node


def choice(config, field: str, options: Iterable[str], hint: str = '') -> None:
  value = get_field(config, field)
  options = tuple(options)
  check(value in options, field, value, 'one of ' + ', '.join(options) + hint)


# Where a registry's name is refused: a name that a file registers (a fork
# in examples/forks/, the user's own) exists only once that file is loaded.
PLUGIN_HINT = '; a plug-in registered in a file needs that file as --config'


def plugin_choice(config, field: str, registry: Iterable[str]) -> None:
  """``choice`` for a field that names a plug-in of ``registry``."""
  choice(config, field, registry, PLUGIN_HINT)


def int_at_least(config, field: str, low: int) -> None:
  # Step counts, sizes and seeds become int32 on device.
  value = get_field(config, field)
  check(
      is_int(value) and low <= value <= INT32_MAX,
      field,
      value,
      f'an integer from {low} to {INT32_MAX}',
  )


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


def boolean(config, field: str) -> None:
  value = get_field(config, field)
  check(isinstance(value, bool), field, value, 'True or False')


def validate_hparams(config, declarations: Iterable[HParam]) -> None:
  """Each declared scalar's field against its declaration."""
  for hparam in declarations:
    value = get_field(config, hparam.config_field)
    problem = hparam.problem(value)
    if problem:
      raise ConfigError(
          f'{hparam.config_field}={problem}'
          + (f' ({hparam.doc})' if hparam.doc else '')
      )


def _plugin_check(name: str, check_fn, config) -> None:
  """A plug-in's own ``check(config)``: its ValueError is the config's
  one-line error; anything else is a bug of the check, named."""
  if check_fn is None:
    return
  try:
    check_fn(config)
  except ConfigError:
    raise
  except ValueError as error:
    raise ConfigError(str(error)) from None
  except Exception as error:  # The check's own bug.
    raise ConfigError(
        f'the check of {name!r} fails ({contract.describe(error)})'
    ) from None


# --- Validation -------------------------------------------------------------


def _own_source(c: Mapping) -> ImageSource:
  """The image source of a resolved config's dataset (an image dataset's):
  a folder: or tfds: one is read from its files' headers (once per process
  and settings), and one that cannot be used is a ConfigError."""
  try:
    return image_source(c['dataset'], c)
  except DatasetNotPrepared as error:
    raise ConfigError(f'dataset={c["dataset"]!r}: {error}') from None


def validate(config, num_devices: int = 1) -> None:
  """Checks the library's fields and their combinations; raises
  ConfigError on the first.

  Args:
    config: a nested mapping (fields it leaves out take their defaults).
    num_devices: devices the global batch is split over.
  """
  c = resolve(config)
  if not is_image_dataset(c['dataset']):
    check(
        c['dataset'] in DATASETS,
        'dataset',
        c['dataset'],
        'one of ' + ', '.join(DATASETS) + ', folder:PATH or tfds:NAME[:SPLIT]',
    )
  int_at_least(c, 'data.image_size', 0)
  choice(c, 'data.folder_resize', own_images.RESIZE_METHODS)
  check(
      c['data']['folder_channels'] in own_images.CHANNEL_CHOICES,
      'data.folder_channels',
      c['data']['folder_channels'],
      "'auto', '1' or '3' (a string, as --config.data.folder_channels=3 "
      'gives it)',
  )
  if is_image_dataset(c['dataset']):
    _own_source(c)  # A folder's or tfds: dataset's refusals, first.
  scale = c['data']['scale']
  # 0 means the dataset's own; a factor near 0 or huge leaves float32
  # (samples are divided by it on the way out).
  check(
      is_number(scale) and (scale == 0 or 1e-3 <= scale <= 1e3),
      'data.scale',
      scale,
      "0 (the dataset's own scale) or a factor in [0.001, 1000]",
  )
  if c['data']['scale'] and is_image_dataset(c['dataset']):
    raise ConfigError(
        f'data.scale={c["data"]["scale"]!r} is not allowed with dataset='
        f'{c["dataset"]!r}: it scales 2-D points; leave it 0'
    )
  if c['data']['image_size'] and not is_image_dataset(c['dataset']):
    raise ConfigError(
        f'data.image_size={c["data"]["image_size"]!r} is not '
        f'allowed with dataset={c["dataset"]!r}: it resizes '
        'images; leave it 0'
    )

  objective = c['objective']
  plugin_choice(c, 'objective.name', losses.OBJECTIVES)
  plugin_choice(c, 'objective.penalty', penalties.names(penalties.D_PENALTIES))
  plugin_choice(
      c, 'objective.g_penalty', penalties.names(penalties.G_PENALTIES)
  )
  plugin_choice(c, 'train.algorithm', algorithms.ALGORITHMS)
  plugin_choice(c, 'augment.name', augment.AUGMENTATIONS)
  _regularizer_names(c)
  int_at_least(c, 'data.subset', 0)
  subset = c['data']['subset']
  if subset and not is_image_dataset(c['dataset']):
    raise ConfigError(
        f'data.subset={subset!r} is not allowed with dataset='
        f'{c["dataset"]!r}: a 2-D sampler has no training set; leave it 0'
    )
  train_size = subset and _own_source(c).train_size
  if subset and subset > (train_size or subset):
    raise ConfigError(
        f'data.subset={subset!r} is not allowed with dataset='
        f'{c["dataset"]!r}: its train split has '
        f'{train_size} images; give at most that, or 0 for all'
    )
  int_at_least(c, 'objective.n_critic', 1)
  int_at_least(c, 'objective.penalty_every', 1)
  int_at_least(c, 'objective.g_penalty_every', 1)
  boolean(c, 'objective.clip_weights')
  # Each look-ahead update is written into G's step: a long one compiles
  # for ever and holds every update's activations.
  unroll_steps = objective['unroll_steps']
  check(
      is_int(unroll_steps) and 0 <= unroll_steps <= 100,
      'objective.unroll_steps',
      unroll_steps,
      'an integer from 0 (no unrolling) to 100',
  )
  # The scalars of the chosen plug-ins, by their declarations; then what
  # each plug-in checks of the rest.
  plugins = _plugins(c)
  validate_hparams(c, gan_state.CORE_HPARAMS)
  for _, plugin in plugins:
    validate_hparams(c, plugin.hparams)
  for name, plugin in plugins:
    _plugin_check(name, plugin.check, c)

  _validate_model(c)
  d_penalty = penalties.lookup(penalties.D_PENALTIES, objective['penalty'])
  per_example = [
      (f'objective.penalty={objective["penalty"]!r}', d_penalty),
      *(
          (f'objective.regularizers={objective["regularizers"]!r}', r)
          for r in map(regularizers.REGULARIZERS.lookup, _regularizer_names(c))
      ),
  ]
  for field, plugin in per_example:
    if (
        plugin is not None
        and plugin.per_example
        and c['model']['d_norm'] == 'batch'
    ):
      d_norms = models.NORMS[c['model']['name']][1]
      raise ConfigError(
          f"model.d_norm='batch' is not allowed with {field}: the penalty "
          'is per example and batch norm mixes the examples of a batch; '
          'use ' + ' or '.join(repr(n) for n in d_norms if n != 'batch')
      )

  validate_optimizers(c)
  boolean(c, 'ema.enabled')
  for field in ('train.steps', 'train.batch_size'):
    int_at_least(c, field, 1)
  steps, n_critic = c['train']['steps'], objective['n_critic']
  check(
      steps * n_critic <= INT32_MAX,
      'objective.n_critic',
      n_critic,
      f'at most {INT32_MAX // steps} with train.steps={steps}: D makes '
      'train.steps x n_critic updates, counted in int32',
  )
  if c['train']['compute_dtype'] == 'float16':
    raise ConfigError(
        "train.compute_dtype='float16' is not allowed: float16 needs loss "
        'scaling (its range ends at 65504 and gradients underflow), which '
        "gan_jax does not do; use 'bfloat16' (float32's range, the same "
        'speed on GPUs since Ampere and on TPUs)'
    )
  choice(c, 'train.compute_dtype', precision.COMPUTE_DTYPES)
  choice(c, 'train.formulation', FORMULATIONS)
  batch, pack = c['train']['batch_size'], c['model']['pack']
  check(
      batch % num_devices == 0,
      'train.batch_size',
      batch,
      f'a multiple of the device count ({num_devices})',
  )
  check(
      batch // num_devices % pack == 0,
      'train.batch_size',
      batch,
      f'a multiple of model.pack ({pack}) on each of the {num_devices} '
      f'device(s): D judges packs of {pack}',
  )


def _regularizer_names(c: Mapping) -> Tuple[str, ...]:
  """The names ``objective.regularizers`` gives; one line for a bad
  value."""
  try:
    return regularizers.parse(c['objective']['regularizers'])
  except ValueError as error:
    raise ConfigError(str(error)) from None


def _plugins(c: Mapping) -> Tuple[Tuple[str, Any], ...]:
  """(name, plug-in) of the objective, penalties, augmentation,
  regularisers and algorithm that a resolved config names (names already
  checked)."""
  o = c['objective']
  found: list[Tuple[str, Any]] = [(o['name'], losses.get_objective(o['name']))]
  for registry, name in (
      (penalties.D_PENALTIES, o['penalty']),
      (penalties.G_PENALTIES, o['g_penalty']),
  ):
    penalty = penalties.lookup(registry, name)
    if penalty is not None:
      found.append((name, penalty))
  name = c['augment']['name']
  found.append((name, augment.AUGMENTATIONS.lookup(name)))
  for name in _regularizer_names(c):
    found.append((name, regularizers.REGULARIZERS.lookup(name)))
  algorithm = c['train']['algorithm']
  found.append((algorithm, algorithms.ALGORITHMS.lookup(algorithm)))
  return tuple(found)


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


def validate_targets(config) -> None:
  """The objective's label targets, by its declarations (for configs that
  hold an objective but not the GAN's other fields: CycleGAN's)."""
  plugin_choice(config, 'objective.name', losses.OBJECTIVES)
  validate_hparams(
      config, losses.get_objective(get_field(config, 'objective.name')).hparams
  )


def formulation(config, platform: Optional[str] = None) -> str:
  """'cpu' or 'standard': train.formulation (of any config that has one;
  'auto' if it has none), with 'auto' resolved by the platform (the first
  device's, unless given)."""
  try:
    chosen = get_field(config, 'train.formulation')
  except ConfigError:
    chosen = 'auto'

  if chosen != 'auto':
    return chosen
  platform = platform or jax.devices()[0].platform
  return 'cpu' if platform == 'cpu' else 'standard'


def toy_dataset(config) -> Toy2D:
  """The 2-D dataset a config trains on, with its data.scale."""
  c = resolve(config)
  dataset = get_toy_dataset(c['dataset'])
  if c['data']['scale']:
    dataset = dataclasses.replace(dataset, scale=float(c['data']['scale']))
  return dataset


def train_shape(config) -> Tuple[int, ...]:
  """The shape of one training example: an image dataset's, resized to
  ``data.image_size`` when that is set."""
  c = resolve(config)
  name = c['dataset']
  if not is_image_dataset(name):
    return tuple(get_toy_dataset(name).shape)
  height, width, channels = _own_source(c).shape
  size = c['data']['image_size']
  return (size, size, channels) if size else (height, width, channels)


# The MLP's own options (gan_jax/models/mlp.py) and their defaults.
MLP_OPTIONS = (
    'd_width',
    'd_depth',
    'activation',
    'd_maxout_pieces',
    'weight_init',
    'init_scale',
)


def _validate_model(c: Mapping) -> None:
  """The model's fields, and that it can take the dataset's examples and
  its labels if conditional."""
  name, model = c['dataset'], c['model']['name']
  number_in(c, 'model.mixing_prob', 0.0, 1.0)
  number_in(c, 'model.truncation_psi', 0.0, 1.0)
  boolean(c, 'model.squash_output')
  choice(c, 'model.name', models.MODELS)
  g_norms, d_norms = models.NORMS[model]
  choice(c, 'model.g_norm', g_norms)
  choice(c, 'model.d_norm', d_norms)
  for field in ('model.latent_dim', 'model.width', 'model.depth', 'model.pack'):
    int_at_least(c, field, 1)
  int_at_least(c, 'model.d_width', 0)
  int_at_least(c, 'model.d_depth', 0)
  choice(c, 'model.activation', models.mlp.ACTIVATIONS)
  pieces = c['model']['d_maxout_pieces']
  check(
      is_int(pieces) and (pieces == 0 or 2 <= pieces <= 64),
      'model.d_maxout_pieces',
      pieces,
      '0 (no maxout) or an integer from 2 to 64',
  )
  choice(c, 'model.weight_init', models.mlp.INITS)
  number_in(c, 'model.init_scale', 0.0, math.inf, low_open=True, high_open=True)
  if model != 'mlp':
    base = _base_defaults()['model']
    for option in MLP_OPTIONS:
      value = c['model'][option]
      check(
          value == base[option],
          f'model.{option}',
          value,
          f'{base[option]!r} with model.name={model!r}: an option '
          "of model.name='mlp' only",
      )
  if model in models.IMAGE_MODELS:
    if not is_image_dataset(name):
      raise ConfigError(
          f'model.name={model!r} is not allowed with dataset='
          f"{name!r}: it takes images; use 'mlp' for 2-D data"
      )
    shape = train_shape(c)
    reason = models.IMAGE_MODELS[model](shape)
    if reason:
      size = c['data']['image_size']
      field = 'data.image_size' if size else 'dataset'
      raise ConfigError(
          f'{field}={size or name!r} is not allowed with model.name='
          f'{model!r} (images {shape[0]}x{shape[1]}): {reason}'
      )
  boolean(c, 'model.conditional')
  if c['model']['conditional'] and not is_image_dataset(name):
    raise ConfigError(
        f'model.conditional=True is not allowed with dataset='
        f'{name!r}: it has no labels; use an image dataset'
    )
  if c['model']['conditional'] and c['model']['pack'] > 1:
    raise ConfigError(
        f'model.pack={c["model"]["pack"]!r} is not allowed with '
        'model.conditional=True: a pack of samples has no one '
        'label; use model.pack=1'
    )


# --- Construction -----------------------------------------------------------


def _declared_of(c: Mapping) -> Tuple[HParam, ...]:
  declared = [('the steps', h) for h in gan_state.CORE_HPARAMS]
  for name, plugin in _plugins(c):
    declared += [(repr(name), h) for h in plugin.hparams]
  return tuple(merged(declared).values())


def hparams_from_config(config) -> Dict[str, float]:
  """The batchable scalars of the config's plug-ins (what
  ``GANState.hparams`` holds), from their fields."""
  c = resolve(config)
  return {
      h.name: float(get_field(c, h.config_field))
      for h in _declared_of(c)
      if h.batchable
  }


def options_from_config(config) -> Tuple[Tuple[str, Any], ...]:
  """The static scalars of the config's plug-ins (``GANSpec.options``)."""
  c = resolve(config)
  return tuple(
      (h.name, get_field(c, h.config_field))
      for h in _declared_of(c)
      if not h.batchable
  )


def batchable_fields() -> Tuple[str, ...]:
  """The config fields that only set numbers in the train state: every
  declared batchable scalar's and the optimizers' learning rates and betas
  (gan_jax.optim keeps them in the optimizer state)."""
  scalars = [h.config_field for h in declared_hparams().values() if h.batchable]
  numbers = [f'optim.{s}.{k}' for s in ('g', 'd') for k in ('lr', 'b1', 'b2')]
  return tuple(scalars + numbers)


def build(
    config, axis_name: Optional[str] = None
) -> Tuple[GANSpec, Dict[str, float], Union[Toy2D, ImageSource]]:
  """(spec, hparams, dataset) for a config; the dataset is a 2-D
  sampler or an image source (whose data the runner reads).

  ``axis_name`` is passed to the models for cross-device batch statistics
  when the steps will run under pmap or shard_map. The config is validated
  first (one device; the runners validate for theirs before).
  """
  validate(config)
  c = resolve(config)
  o, t = c['objective'], c['train']
  dataset: Union[Toy2D, ImageSource]
  num_classes = train_size = 0
  if is_image_dataset(c['dataset']):
    dataset = _own_source(c)
    num_classes = dataset.num_classes if c['model']['conditional'] else 0
    train_size = dataset.train_size
    if c['data']['subset']:
      train_size = min(c['data']['subset'], train_size or c['data']['subset'])
  else:  # Unconditional: validate() allows labels on images only.
    dataset = toy_dataset(c)
  generator, discriminator = models.build_models(
      c['model'],
      train_shape(c),
      axis_name,
      num_classes,
      cpu_layers=formulation(c) == 'cpu',
  )
  spec = GANSpec(
      generator=generator,
      discriminator=discriminator,
      g_optimizer=optim.make_optimizer(c['optim']['g'], t['steps']),
      d_optimizer=optim.make_optimizer(
          c['optim']['d'],
          t['steps'] * o['n_critic'],
          differentiable=o['unroll_steps'] > 0,
      ),
      objective=o['name'],
      penalty=o['penalty'],
      clip_weights=o['clip_weights'],
      n_critic=o['n_critic'],
      latent_dim=c['model']['latent_dim'],
      data_shape=train_shape(c),
      use_ema=c['ema']['enabled'],
      num_classes=num_classes,
      compute_dtype=t['compute_dtype'],
      penalty_every=o['penalty_every'],
      g_penalty=o['g_penalty'],
      g_penalty_every=o['g_penalty_every'],
      pack=c['model']['pack'],
      unroll_steps=o['unroll_steps'],
      algorithm=t['algorithm'],
      options=options_from_config(c),
      augment=c['augment']['name'],
      regularizers=_regularizer_names(c),
      train_size=train_size,
  )
  return spec, hparams_from_config(c), dataset
