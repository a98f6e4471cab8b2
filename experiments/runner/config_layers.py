"""The layers that make one run's config, without flags: shared by
``experiments.run`` (one run) and ``experiments.sweep`` (many).

base config file <- dataset defaults <- variant (its published values, then
its image setting and the one for the image's resolution, or its 2-D
setting) <- explicit overrides. The variant layer applies
only when a variant is named (``--variant``): without one the file's own
choices stand, so a config file can train an objective or settings of its
own.
"""

import difflib
import hashlib
import importlib.util
import json
import os
import re
import traceback
from typing import Any, Dict, Iterable, List, Optional, Sequence

import ml_collections

from experiments.configs import default
from experiments.configs.datasets import dataset_defaults
from gan_jax import config as gan_config
from gan_jax.batched import flatten
from gan_jax.data import is_image_dataset
from gan_jax.data import images as image_data, own_images
from gan_jax.variants import get_variant


def resolve_config(
    base,
    variant: Optional[str],
    overrides,
    dataset=None,
    seed=None,
    data_dir=None,
):
  """base config <- dataset defaults <- variant <- ``overrides``.

  ``overrides`` win over the variant's defaults (``experiments.run`` passes
  the command line's ``--config.*`` values, which config_flags has already
  applied to ``base``). The dataset's defaults apply when the overrides
  change the dataset the base names: a config file that names its own
  dataset is taken as it is. In the same way ``variant=None`` (no
  ``--variant``) leaves out the variant layer: the base's objective,
  optimizers and the rest stand, and its ``variant`` field names the run.
  (default.py holds the ``non_saturating`` settings, so there the two are
  the same config; tested.)
  """
  chosen = None
  if variant is not None:
    try:
      chosen = get_variant(variant)
    except ValueError as error:
      raise gan_config.ConfigError(f'--variant: {error}') from None
  overrides = with_shortcuts(overrides, dataset, seed, data_dir)
  config = base.copy_and_resolve_references()
  # A folder by its absolute path, before anything is written: the run's
  # config.json then names it from any directory.
  if 'dataset' in overrides:
    overrides['dataset'] = own_images.absolute(overrides['dataset'])
  if own_images.absolute(config.get('dataset')) != config.get('dataset'):
    config.dataset = own_images.absolute(config.dataset)
  if chosen is not None:
    with config.unlocked():
      config.variant = variant
  name = overrides.get('dataset', config.dataset)
  own_side = _own_side(name, config, overrides)
  if 'dataset' in overrides:
    config.update_from_flattened_dict(dict(dataset_defaults(name, own_side)))
  if chosen is not None:
    config.update_from_flattened_dict(dict(chosen.overrides))
    if is_image_dataset(name):
      config.update_from_flattened_dict(dict(chosen.image_overrides))
      # The side the networks see: data.image_size resizes (0: as stored).
      side = (
          overrides.get('data.image_size', config.data.image_size)
          or own_side
          or image_data.image_source(name).shape[0]
      )
      config.update_from_flattened_dict(dict(chosen.overrides_for_side(side)))
    elif chosen.images_only:
      # Before its image fields are refused one by one.
      raise gan_config.ConfigError(
          f'--variant={variant} is not allowed with dataset={name!r}: it '
          'trains on images (e.g. --dataset=digits)'
      )
    else:
      config.update_from_flattened_dict(dict(chosen.toy_overrides))
  config.update_from_flattened_dict(overrides)
  _check_run_label(config.get('variant'))
  if own_images.is_own(name) and 'fingerprint' in config.data:
    config.data.fingerprint = _own_fingerprint(name, config)
  return config


def _own_source(name: str, config):
  """A folder: or tfds: dataset's source with ``config``'s fields, or None
  where it cannot be read (validation says why, in one line)."""
  try:
    return image_data.image_source(name, config)
  except (image_data.DatasetNotPrepared, KeyError, TypeError, ValueError):
    return None


def _own_side(name: str, config, overrides) -> int:
  """The side of a folder: or tfds: dataset's images with the overrides
  (its defaults and variant settings are those of that side); 0 for a
  named dataset."""
  if not own_images.is_own(name):
    return 0
  trial = config.copy_and_resolve_references()
  try:
    trial.update_from_flattened_dict(
        {k: v for k, v in overrides.items() if k != 'dataset'}
    )
  except (KeyError, TypeError, AttributeError, ValueError):
    pass  # Said later, in one line, by the overrides' own update.
  source = _own_source(name, trial)
  return source.shape[0] if source else own_images.DEFAULT_SIDE


def _own_fingerprint(name: str, config) -> str:
  """What a folder's images were (gan_jax.data.own_images): recorded in the
  run's config, so resuming it after its files changed is refused."""
  source = _own_source(name, config)
  return source.fingerprint if source else ''


class ConfigFileError(ValueError):
  """A config file that cannot be loaded; the message is one line."""


def _chain(error: BaseException) -> List[BaseException]:
  """``error`` and what it was raised from, all the way down."""
  chain: List[BaseException] = []
  current: Optional[BaseException] = error
  while current is not None and all(current is not e for e in chain):
    chain.append(current)
    current = current.__cause__ or current.__context__
  return chain


def _frames(error: BaseException):
  """The traceback frames of ``error`` and of what it was raised from."""
  for link in _chain(error):
    yield from traceback.extract_tb(link.__traceback__)


def _innermost(error: BaseException) -> BaseException:
  return _chain(error)[-1]


def why_not_loaded(path: str, error: BaseException) -> str:
  """Why the config file at ``path`` could not be loaded, in one line: the
  exception and, when the file's own code raised it, its line there."""
  root = _innermost(error)
  lines = [line.strip() for line in str(root).splitlines() if line.strip()]
  reason = lines[-1] if lines else ''
  if isinstance(root, AttributeError) and 'get_config' in reason:
    return (
        f'{path}: it has no get_config(); define one that returns a ConfigDict'
    )
  where = os.path.abspath(path)
  own = [f for f in _frames(error) if os.path.abspath(f.filename) == where]
  at = f' at {path}:{own[-1].lineno}' if own else ''
  return f'{path}: cannot load it ({type(root).__name__}{at}: {reason})'


_GAN_FIELDS = (
    "the config file's (default: experiments/configs/default.py) and its "
    "plug-ins'"
)


def unknown_override(
    arguments: Iterable[str],
    fields: Optional[Dict[str, Any]] = None,
    whose: str = _GAN_FIELDS,
) -> Optional[str]:
  """The one line for the first ``--config.FIELD=...`` argument whose field
  is not in ``fields`` (flattened; default: default.py's, with the
  plug-ins the config file registered), or None. ``whose``: as for
  :func:`unknown_field`."""
  fields = default_fields() if fields is None else fields
  for argument in arguments:
    if argument.startswith('--config.'):
      field = argument[len('--config.') :].split('=', 1)[0]
      if field not in fields:
        return (
            f'{argument.split("=")[0]}: {unknown_field(field, fields, whose)}'
        )
  return None


def config_file_error(
    argv: Sequence[str],
    error: BaseException,
    fields: Optional[Dict[str, Any]] = None,
    whose: str = _GAN_FIELDS,
) -> str:
  """The one line for a ``--config`` file that cannot be loaded, or for a
  ``--config.FIELD`` override of a field it does not have (``fields`` and
  ``whose`` as for :func:`unknown_override`): the close name or the
  section's fields, else where the file failed."""
  try:
    unknown = unknown_override(argv[1:], fields, whose)
  except Exception:  # The plug-ins the file registered are themselves wrong.
    unknown = None
  if unknown:
    return f'error: {unknown}'
  path = next(
      (arg.split('=', 1)[1] for arg in argv if arg.startswith('--config=')),
      None,
  )
  if path is None:
    return f'error: --config: {one_line(str(error))}'
  return f'error: --config={why_not_loaded(path, error)}'


_LOADED: Dict[str, Any] = {}  # Config files' modules, by absolute path.


def load_config_file(path: str):
  """``get_config()`` of the Python file at ``path``. The file runs once per
  process (its plug-in registrations with it); later calls reuse it."""
  where = os.path.abspath(path)
  try:
    if where not in _LOADED:
      if not os.path.isfile(where):
        raise FileNotFoundError(
            f'no such file {path}'
            + ('' if os.path.isabs(path) else f' (in {os.getcwd()})')
        )
      name = 'gan_jax_config_' + hashlib.sha1(where.encode()).hexdigest()[:12]
      module_spec = importlib.util.spec_from_file_location(name, where)
      if module_spec is None or module_spec.loader is None:
        raise ImportError(f'{path} is not a Python file')
      module = importlib.util.module_from_spec(module_spec)
      module_spec.loader.exec_module(module)
      _LOADED[where] = module
    config = _LOADED[where].get_config()
  except Exception as error:  # Whatever the file raised.
    raise ConfigFileError(why_not_loaded(path, error)) from None
  if not hasattr(config, 'to_dict'):
    raise ConfigFileError(
        f'{path}: its get_config() returned {type(config).__name__}, not a '
        'ConfigDict'
    )
  return config


def with_shortcuts(
    overrides, dataset=None, seed=None, data_dir=None
) -> Dict[str, Any]:
  """``overrides`` (dotted fields) plus the shortcut flags that are set."""
  shortcuts = {'dataset': dataset, 'seed': seed, 'data.dir': data_dir}
  return {
      **overrides,
      **{
          field: value
          for field, value in shortcuts.items()
          if value is not None
      },
  }


def _check_run_label(label) -> None:
  """``variant`` names the run's directory and its rows in tables."""
  if not (isinstance(label, str) and re.fullmatch(r'[\w.-]+', label)):
    raise gan_config.ConfigError(
        f'variant={label!r} is not allowed: it names the run (runs/<variant>_'
        '<dataset>_seed<seed>); give letters, digits, _, - or .'
    )


def replaced_file_choices(
    base, config, command_line: Iterable[str]
) -> List[str]:
  """What the dataset or variant layer replaced of the config file's own
  choices: the fields where ``base`` (the file) differs from default.py and
  the resolved ``config`` from the file, leaving out the fields the command
  line set (``command_line``, dotted) and the run's name. As
  ``["optim.d.lr 0.005 -> 0.01"]``."""
  defaults = default_fields()
  file = flatten(base.to_dict())
  final = flatten(config.to_dict())
  skip = set(command_line) | {'variant'}
  return [
      f'{field} {file[field]!r} -> {final[field]!r}'
      for field in file
      if field not in skip
      and field in defaults
      and file[field] != defaults[field]
      and final[field] != file[field]
  ]


def default_fields() -> Dict[str, Any]:
  """The default config's fields as ``{'train.steps': 3500, ...}``."""
  return flatten(default.get_config().to_dict())


def with_new_fields(saved: dict, defaults: Optional[Dict[str, Any]] = None):
  """A run's saved config (config.json) as a ConfigDict, with the fields
  the defaults (flattened; default.py's if None, translate.py's for a
  translation run) have gained since the run was written at their
  defaults."""
  config = ml_collections.ConfigDict(saved)
  present = flatten(saved)
  defaults = default_fields() if defaults is None else defaults
  missing = {
      field: value for field, value in defaults.items() if field not in present
  }
  with config.unlocked():
    for field, value in missing.items():
      *sections, name = field.split('.')
      node = config
      for section in sections:
        if section not in node:
          node[section] = ml_collections.ConfigDict()
        node = node[section]
      node[name] = value
  return config


def unknown_field(
    field: str,
    fields: Optional[Dict[str, Any]] = None,
    whose: str = _GAN_FIELDS,
) -> str:
  """Says that ``field`` (dotted) is none of ``fields`` (flattened; default:
  default.py's and its plug-ins'), and what is near: a close name in the
  section it names, else that section's fields, else the closest dotted
  name (a misspelt section). ``whose`` ends the line: whose fields they
  are."""
  fields = default_fields() if fields is None else fields
  section, _, name = field.rpartition('.')
  siblings = [
      known.rpartition('.')[2]
      for known in fields
      if known.rpartition('.')[0] == section
  ]
  if siblings:
    close = [
        f'{section}.{match}' if section else match
        for match in difflib.get_close_matches(name, siblings, n=1)
    ]
  else:
    close = difflib.get_close_matches(field, fields, n=1)
  if close:
    hint = f' (did you mean {close[0]!r}?)'
  elif section and siblings:
    hint = f' ({section} has {", ".join(siblings)})'
  else:
    hint = ''
  return f'unknown config field {field!r}{hint}; the fields are {whose}'


def one_line(message: str) -> str:
  """An error message as one line: line breaks (e.g. inside a quoted
  value) written as \\n."""
  return message.strip().replace('\n', '\\n')


def default_workdir(config) -> str:
  return os.path.join(
      'runs',
      f'{config.variant}_{own_images.short_name(config.dataset)}'
      f'_seed{config.seed}',
  )


# Fields a resumed run may change: they say how long to train, how often to
# log, evaluate and checkpoint, how to evaluate, and which devices to use;
# the trained numbers do not depend on them. (The device count, the route
# and the formulation change float rounding only.) train.steps is one unless a learning rate
# follows a schedule, which is stretched over train.steps.
RESUMABLE_CHANGES = (
    'train.steps',
    'train.log_every',
    'train.eval_every',
    'train.checkpoint_every',
    'train.keep_checkpoints',
    'train.steps_per_dispatch',
    'train.num_devices',
    'train.parallel',
    'train.formulation',
    'train.profile_steps',
    'data.dir',
    'eval.num_samples',
    'eval.threshold',
    'eval.mode_samples',
    'eval.classifier_steps',
    'eval.features',
    'eval.inception.weights',
    'eval.inception.any_weights',
    'eval.inception.num_samples',
    'eval.inception.batch_size',
    'eval.inception.resize',
)


def resume_changes(
    saved: dict, requested: dict, defaults: Optional[Dict[str, Any]] = None
):
  """``[(field, saved value, requested value)]`` for the fields that differ
  between a workdir's config.json and the config now requested and that
  change the run (see RESUMABLE_CHANGES). A field the saved config does
  not have (added to the code, or declared by a plug-in, since the run was
  written) changes nothing while it is at its default (``defaults``, the
  flattened default config; default.py's if None): the run trained that
  way."""
  old, new = flatten(saved), flatten(json.loads(json.dumps(requested)))
  defaults = json.loads(
      json.dumps(default_fields() if defaults is None else defaults)
  )
  allowed = set(RESUMABLE_CHANGES)
  if any(
      new.get(f'optim.{side}.schedule', 'constant') != 'constant'
      for side in ('g', 'd')
  ):
    allowed.discard('train.steps')
  missing = '(absent)'
  return [
      (field, old.get(field, missing), new.get(field, missing))
      for field in sorted(set(old) | set(new))
      if field not in allowed
      and old.get(field, missing) != new.get(field, missing)
      and not (
          field not in old
          and field in defaults
          and new.get(field) == defaults[field]
      )
  ]


def run_kind(config: Dict[str, Any]) -> str:
  """What trained a config's run, from its fields: a translation's has a
  ``pair``, a GAN's a ``variant``."""
  if 'pair' in config:
    return 'a translation run (experiments.translate)'
  if 'variant' in config:
    return 'a GAN run (experiments.run)'
  return 'another kind of run'


def check_resume(
    workdir: str,
    config,
    allow: bool,
    defaults: Optional[Dict[str, Any]] = None,
) -> None:
  """Raises ConfigError if ``workdir`` holds a run whose config differs from
  ``config`` in a field that changes the run, unless ``allow``
  (``defaults``: as for :func:`resume_changes`)."""
  if os.path.exists(os.path.join(workdir, 'sweep.json')):
    raise gan_config.ConfigError(
        f'--workdir={workdir} holds a sweep (its sweep.json), not a run; '
        'give another --workdir'
    )
  sweep = os.path.dirname(os.path.dirname(os.path.abspath(workdir)))
  if os.path.exists(os.path.join(sweep, 'sweep.json')):
    raise gan_config.ConfigError(
        f'--workdir={workdir} is part of the sweep in {sweep}: its runs are '
        "trained and resumed by the sweep's own command; give another "
        '--workdir'
    )
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    return
  try:
    with open(path) as f:
      saved = json.load(f)
    if not isinstance(saved, dict):
      raise ValueError('not a JSON object')
  except (OSError, ValueError) as error:
    if allow:
      return  # Kept beside the new one (experiments.runner.driver).
    raise gan_config.ConfigError(
        f'--workdir={workdir}: {path} cannot be read '
        f"({one_line(str(error))[:200]}); put back the run's config "
        "(its summary.json's 'config' holds a copy once it has ended), or "
        '--allow_config_change to resume it with this config'
    ) from error
  kind, saved_kind = run_kind(config.to_dict()), run_kind(saved)
  if kind != saved_kind:  # No flag can make one the other.
    raise gan_config.ConfigError(
        f'--workdir={workdir} holds {saved_kind}, not {kind}; give '
        'another --workdir'
    )
  if allow:
    return
  changes = resume_changes(saved, config.to_dict(), defaults)
  if changes:
    shown = ', '.join(
        f'{field} {old!r} -> {new!r}' for field, old, new in changes[:8]
    )
    more = f' and {len(changes) - 8} more' if len(changes) > 8 else ''
    raise gan_config.ConfigError(
        f'--workdir={workdir} holds a run with another config: {shown}{more}'
        '; use another --workdir, or --allow_config_change to resume it '
        'with the new values'
    )
