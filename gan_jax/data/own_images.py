"""Your own images as datasets: ``folder:PATH`` and ``tfds:NAME[:SPLIT]``.

* ``folder:PATH``: the PNG and JPEG files under a directory (walked, in
  sorted order; hidden files and directories skipped), each centre-cropped
  to a square and resized to ``data.image_size`` (``DEFAULT_SIDE`` when 0)
  with the PIL filter ``data.folder_resize``. With ``model.conditional`` each
  subdirectory of PATH is a class (sorted names -> labels 0..K-1);
  otherwise every image has label 0. The images are decoded once into a
  cache of uint8 arrays under the data dir
  (``<data dir>/gan_jax_folders/<key>/``, sealed like the library's other
  caches, gan_jax.cache_files) and decoded again only when the folder
  changes: its fingerprint is the sorted relative paths with each file's
  size and modification time.
* ``tfds:NAME[:SPLIT]``: any TFDS image dataset prepared in the data dir in
  ArrayRecord format; the image and label features are found from the
  builder's features (``data.image_key``, ``data.label_key`` name them).

Bad input is refused in one line (:class:`FolderError`) before anything is
written: a user's images silently dropped or converted would be worse.
"""

import dataclasses
import hashlib
import io
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from gan_jax import cache_files
from gan_jax.data.images import DatasetNotPrepared, ImageSource

FOLDER_PREFIX = 'folder:'
TFDS_PREFIX = 'tfds:'
# data.folder_resize: PIL's filters by name.
RESIZE_METHODS = ('lanczos', 'bicubic', 'bilinear', 'box')
# data.folder_channels: 'auto' refuses a mix of grey and colour images;
# '1' or '3' converts every image. Strings, as flags and --set give them.
CHANNEL_CHOICES = ('auto', '1', '3')
EXTENSIONS = ('.png', '.jpg', '.jpeg')
# The side of a folder's images when data.image_size is 0 (and of a tfds:
# dataset whose images are not all one square size): the size of CelebA's
# GAN protocol, which the image networks are set up for.
DEFAULT_SIDE = 64
CACHE_DIR = 'gan_jax_folders'
# Part of every cache key and file label: raised when decoding changes
# (2: 16-bit grey scaled to 8 bits, no longer clipped), so images decoded
# the old way, and features computed from them, are made again.
DECODE_VERSION = 2
SHOWN = 3  # Files named in a refusal; the count says how many in all.
# PIL modes read as grey; every other mode (RGB, RGBA, P, CMYK, ...) is
# colour. Alpha is composited over white.
_GREY_MODES = (
    '1',
    'L',
    'LA',
    'I',
    'I;16',
    'I;16B',
    'I;16L',
    'I;16N',
    'F',
    'La',
)
# Modes of 16 bits a channel (PIL gives a 16-bit grey PNG one of them):
# scaled to 8 (>> 8), not clipped (PIL's own convert('L') saturates).
_SIXTEEN_BIT_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'I;16N')


class FolderError(DatasetNotPrepared):
  """A folder or tfds: dataset that cannot be used; one line."""


def is_own(name: str) -> bool:
  return any(
      isinstance(name, str) and name.startswith(p) and len(name) > len(p)
      for p in (FOLDER_PREFIX, TFDS_PREFIX)
  )


def absolute(name):
  """``folder:PATH`` with PATH absolute (``~`` expanded; symlinks kept as
  given), so a run's config names the folder from any directory; any other
  name as it is."""
  if not (
      isinstance(name, str)
      and name.startswith(FOLDER_PREFIX)
      and len(name) > len(FOLDER_PREFIX)
  ):
    return name
  return FOLDER_PREFIX + _folder_root(name)


def short_name(name: str) -> str:
  """``name`` as a part of a file or run name, without '/' or ':':
  ``folder-<basename>`` or ``tfds-<name>[-<split>]``."""
  if name.startswith(FOLDER_PREFIX):
    base = os.path.basename(os.path.normpath(name[len(FOLDER_PREFIX) :]))
    return _safe(f'folder-{base}')
  if name.startswith(TFDS_PREFIX):
    return _safe('tfds-' + name[len(TFDS_PREFIX) :].replace(':', '-'))
  return name


def _safe(text: str) -> str:
  return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in text)


@dataclasses.dataclass(frozen=True)
class Settings:
  """The config fields that shape an own dataset's images and labels."""

  data_dir: str
  image_size: int = 0
  resize: str = 'lanczos'
  channels: str = 'auto'  # CHANNEL_CHOICES.
  conditional: bool = False
  image_key: str = ''
  label_key: str = ''

  @classmethod
  def of(cls, config: Optional[Mapping]) -> 'Settings':
    from gan_jax.data.images import default_data_dir

    config = config if config is not None else {}
    data = config.get('data') or {}
    model = config.get('model') or {}
    return cls(
        data_dir=data.get('dir') or default_data_dir(),
        image_size=int(data.get('image_size') or 0),
        resize=data.get('folder_resize', 'lanczos'),
        channels=str(data.get('folder_channels', 'auto')),
        conditional=bool(model.get('conditional', False)),
        image_key=data.get('image_key', '') or '',
        label_key=data.get('label_key', '') or '',
    )


def _pil():
  from PIL import Image  # Pillow comes with matplotlib.

  return Image


def _filter(method: str):
  Image = _pil()
  return {
      'lanczos': Image.Resampling.LANCZOS,
      'bicubic': Image.Resampling.BICUBIC,
      'bilinear': Image.Resampling.BILINEAR,
      'box': Image.Resampling.BOX,
  }[method]


def square(image, side: int, method: str) -> np.ndarray:
  """A PIL image, centre-cropped to a square and resized to side x side,
  as uint8 [side, side, C]."""
  width, height = image.size
  s = min(width, height)
  left, top = (width - s) // 2, (height - s) // 2
  box = (left, top, left + s, top + s)
  if width != height:  # Cropped first: the filter sees nothing outside.
    image = image.crop(box)
  if image.size != (side, side):
    image = image.resize((side, side), _filter(method))
  pixels = np.asarray(image, np.uint8)
  return pixels[..., None] if pixels.ndim == 2 else pixels


def _counted(n: int, noun: str) -> str:
  return f'{n} {noun}' + ('' if n == 1 else 's')


def _listing(names: Sequence[str]) -> str:
  shown = ', '.join(names[:SHOWN])
  return shown + (
      f' and {len(names) - SHOWN} more' if len(names) > SHOWN else ''
  )


# --- folder: ---------------------------------------------------------------


def _scan(root: str) -> List[Tuple[str, int, int]]:
  """(relative path, size, mtime in ns) of every image file, sorted."""
  found = []
  for directory, subdirectories, files in os.walk(root, followlinks=True):
    subdirectories[:] = sorted(d for d in subdirectories if d[0] != '.')
    for name in sorted(files):
      if name[0] == '.' or not name.lower().endswith(EXTENSIONS):
        continue
      path = os.path.join(directory, name)
      stat = os.stat(path)
      found.append(
          (os.path.relpath(path, root), stat.st_size, stat.st_mtime_ns)
      )
  return sorted(found)


@dataclasses.dataclass(frozen=True)
class Folder:
  """A folder's images and what validation needs: no pixels decoded."""

  root: str
  files: Tuple[str, ...]
  labels: Tuple[int, ...]
  classes: Tuple[str, ...]  # Subdirectory names (conditional), else ().
  fingerprint: str

  @property
  def num_classes(self) -> int:
    return max(len(self.classes), 1)


def _folder_root(name: str) -> str:
  return os.path.abspath(os.path.expanduser(name[len(FOLDER_PREFIX) :]))


def scan_folder(name: str, conditional: bool) -> Folder:
  """The folder's image files, labels and fingerprint; FolderError for a
  missing path, no images, or classes that cannot be (conditional)."""
  root = _folder_root(name)
  if not os.path.exists(root):
    raise FolderError(f'{root} does not exist; give a directory of images')
  if not os.path.isdir(root):
    raise FolderError(f'{root} is not a directory; give a directory of images')
  found = _scan(root)
  if not found:
    raise FolderError(
        f'{root} holds no images ({", ".join(EXTENSIONS)}, in it or its '
        'subdirectories)'
    )
  files = tuple(path for path, _, _ in found)
  fingerprint = hashlib.sha256(json.dumps(found).encode()).hexdigest()[:16]
  if not conditional:
    return Folder(root, files, (0,) * len(files), (), fingerprint)
  loose = [f for f in files if os.sep not in f]
  if loose:
    raise FolderError(
        f'{root} has {_counted(len(loose), "image")} outside class '
        'subdirectories '
        f'({_listing(loose)}); with model.conditional=True every image goes '
        'in a subdirectory named for its class'
    )
  classes = tuple(sorted({f.split(os.sep)[0] for f in files}))
  if len(classes) < 2:
    raise FolderError(
        f'{root} has {len(classes)} class subdirectory ({classes[0]}); '
        'model.conditional=True needs at least 2 (one per class)'
    )
  index = {c: i for i, c in enumerate(classes)}
  labels = tuple(index[f.split(os.sep)[0]] for f in files)
  return Folder(root, files, labels, classes, fingerprint)


def _is_grey(mode: str) -> bool:
  return mode in _GREY_MODES


def _modes(folder: Folder) -> Tuple[List[str], List[str], List[str]]:
  """(grey files, colour files, unreadable files), from the headers."""
  Image = _pil()
  grey: List[str] = []
  colour: List[str] = []
  bad: List[str] = []
  for f in folder.files:
    try:
      with Image.open(os.path.join(folder.root, f)) as image:
        (grey if _is_grey(image.mode) else colour).append(f)
    except Exception:  # Not an image PIL reads: named in the refusal.
      bad.append(f)
  return grey, colour, bad


def _refuse_unreadable(root: str, bad: Sequence[str]) -> None:
  if bad:
    raise FolderError(
        f'{root}: {_counted(len(bad), "file")} cannot be read as images '
        '(damaged or '
        f'truncated): {_listing(list(bad))}; repair or remove them '
        '(none is skipped silently)'
    )


def channels_of(folder: Folder, setting) -> int:
  """1 or 3: ``setting`` where it is one, else from the files' headers
  (FolderError for a mix of grey and colour, or an unreadable file)."""
  grey, colour, bad = _modes(folder)
  _refuse_unreadable(folder.root, bad)
  if setting in ('1', '3'):
    return int(setting)
  if grey and colour:
    raise FolderError(
        f'{folder.root} mixes {_counted(len(grey), "grey image")} '
        f'({_listing(grey)}) and {_counted(len(colour), "colour one")} '
        f'({_listing(colour)}); to convert them all add '
        '--config.data.folder_channels=1 (grey) or '
        '--config.data.folder_channels=3 (colour)'
    )
  return 1 if grey else 3


def _eight_bit(image):
  """A 16-bit grey image as 8-bit 'L', scaled (>> 8); others as given."""
  if image.mode not in _SIXTEEN_BIT_MODES:
    return image
  pixels = np.asarray(image).astype(np.int64)
  scaled = np.clip(pixels >> 8, 0, 255).astype(np.uint8)
  return _pil().fromarray(scaled, 'L')


def _decode(path: str, side: int, method: str, channels: int) -> np.ndarray:
  Image = _pil()
  with Image.open(path) as opened:
    opened.load()  # A truncated file raises here.
    image = _eight_bit(opened)
    if image.mode in ('RGBA', 'LA', 'PA') or (
        image.mode == 'P' and 'transparency' in image.info
    ):
      rgba = image.convert('RGBA')
      white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
      image = Image.alpha_composite(white, rgba)
    return square(image.convert('L' if channels == 1 else 'RGB'), side, method)


class ArrayRecords:
  """Decoded (image, label) pairs by index, as a TFDS data source is read."""

  def __init__(self, images: np.ndarray, labels: np.ndarray):
    self.images, self.labels = images, labels

  def __len__(self) -> int:
    return len(self.images)

  def __getitem__(self, index: int):
    return self.images[index], int(self.labels[index])

  def __getitems__(self, indices: Sequence[int]):
    return [self[i] for i in indices]


def _digest(key: Sequence[Any]) -> str:
  return hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:16]


def cache_path(folder: Folder, settings: Settings, side: int) -> str:
  key = json.dumps(
      [
          DECODE_VERSION,
          folder.root,
          side,
          settings.resize,
          str(settings.channels),
          bool(folder.classes),
      ]
  )
  digest = hashlib.sha256(key.encode()).hexdigest()[:16]
  return os.path.join(settings.data_dir, CACHE_DIR, digest)


def _npy(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  np.save(buffer, array, allow_pickle=False)
  return buffer.getvalue()


def load_or_build(
    folder: Folder,
    settings: Settings,
    side: int,
    channels: int,
    announce=cache_files.to_stderr,
    progress: bool = True,
) -> Tuple[np.ndarray, np.ndarray]:
  """(images uint8 [N, side, side, channels], labels int32 [N]) from the
  cache when it holds this fingerprint, else decoded (a progress bar) and
  cached. FolderError, with nothing written, for unreadable files."""
  directory = cache_path(folder, settings, side)
  files = [
      os.path.join(directory, n)
      for n in ('images.npy', 'labels.npy', 'meta.json')
  ]
  what = f'the cached images of {folder.root}'

  def read(sealed: bool):
    del sealed
    with open(files[2]) as f:
      meta = json.load(f)
    if meta.get('fingerprint') != folder.fingerprint:
      return None  # The folder changed: decoded again.
    images = np.load(files[0], allow_pickle=False)
    labels = np.load(files[1], allow_pickle=False)
    if images.shape != (len(folder.files), side, side, channels) or len(
        labels
    ) != len(images):
      raise ValueError(f'arrays of shape {images.shape}, {labels.shape}')
    return images, labels

  cached, writable = cache_files.load(files, read, what, announce)
  if cached is not None:
    return cached
  from tqdm import tqdm

  decoded, bad = [], []
  for f in tqdm(
      folder.files,
      desc=f'decoding {len(folder.files)} images of {folder.root}',
      unit='image',
      disable=not progress,
      leave=False,
      file=sys.stderr,
  ):
    try:
      decoded.append(
          _decode(os.path.join(folder.root, f), side, settings.resize, channels)
      )
    except Exception:  # Named in the refusal, with the others.
      bad.append(f)
  _refuse_unreadable(folder.root, bad)
  images = np.stack(decoded)
  labels = np.asarray(folder.labels, np.int32)
  if writable:
    meta = {
        'folder': folder.root,
        'fingerprint': folder.fingerprint,
        'count': len(images),
        'classes': list(folder.classes),
        'side': side,
        'resize': settings.resize,
        'channels': channels,
    }
    cache_files.save(
        [
            (files[0], _npy(images)),
            (files[1], _npy(labels)),
            (files[2], json.dumps(meta, indent=1).encode()),
        ],
        what,
        announce,
    )
  return images, labels


def _pair(record) -> Tuple[np.ndarray, int]:
  return record[0], record[1]


# Sources resolved in this process, by (name, settings): a folder's header
# scan is made once, and later look-ups by name alone (image_source(name))
# get the settings the run resolved them with.
_RESOLVED: Dict[Tuple[str, Settings], ImageSource] = {}
_LATEST: Dict[str, ImageSource] = {}


def folder_source(name: str, settings: Settings) -> ImageSource:
  folder = scan_folder(name, settings.conditional)
  side = settings.image_size or DEFAULT_SIDE
  meta_channels = _cached_channels(folder, settings, side)
  channels = meta_channels or channels_of(folder, settings.channels)

  def records(split: str, data_dir: str):
    del data_dir  # The settings' (the cache's place is part of the key).
    if split != 'train':
      raise FolderError(f"{folder.root} has one split, 'train', not {split!r}")
    return ArrayRecords(*load_or_build(folder, settings, side, channels))

  return ImageSource(
      tfds_name=name,
      shape=(side, side, channels),
      num_classes=folder.num_classes,
      train_split='train',
      held_out_split='train',
      decode=_pair,
      train_size=len(folder.files),
      records=records,
      fingerprint=folder.fingerprint,
      # Everything that changes the decoded images or labels.
      file_key=_digest(
          [
              DECODE_VERSION,
              folder.root,
              folder.fingerprint,
              side,
              settings.resize,
              channels,
              folder.classes,
          ]
      ),
  )


def _cached_channels(folder: Folder, settings: Settings, side: int) -> int:
  """The channels a sealed-or-not cache of this fingerprint records (0 if
  none): spares the header scan of a folder decoded before."""
  meta = os.path.join(cache_path(folder, settings, side), 'meta.json')
  try:
    with open(meta) as f:
      recorded = json.load(f)
    if recorded.get('fingerprint') == folder.fingerprint:
      return int(recorded['channels'])
  except (OSError, ValueError, KeyError, TypeError):
    pass
  return 0


# --- tfds: -----------------------------------------------------------------


def _tfds_parts(name: str) -> Tuple[str, str]:
  rest = name[len(TFDS_PREFIX) :]
  dataset, _, split = rest.partition(':')
  return dataset, split or 'train'


def _is_image_feature(feature) -> bool:
  import tensorflow_datasets as tfds

  if isinstance(feature, tfds.features.Image):
    return True
  return (
      isinstance(feature, tfds.features.Tensor)
      and np.dtype(feature.np_dtype) == np.uint8
      and len(feature.shape) == 3
  )


def tfds_source(name: str, settings: Settings) -> ImageSource:
  import tensorflow_datasets as tfds

  from gan_jax.data import images as image_data

  dataset, split = _tfds_parts(name)
  image_data.check_data_dir(settings.data_dir)
  try:
    with image_data._quiet_tfds():  # Its warnings, before our one line.
      builder = tfds.builder(dataset, data_dir=settings.data_dir)
      prepared = builder.is_prepared()
  except Exception as error:  # Unknown, or its files are damaged.
    reason = cache_files._one_line(error)
    raise FolderError(
        f'tfds dataset {dataset!r} cannot be opened in {settings.data_dir} '
        f'({reason}); prepare it with: '
        f'{image_data.prepare_command(dataset, settings.data_dir)}'
    ) from None
  if not prepared:
    raise FolderError(
        f'tfds dataset {dataset!r} is not prepared in {settings.data_dir}; '
        f'prepare it with: {image_data.prepare_command(dataset, settings.data_dir)}'
    )
  splits = builder.info.splits
  if split not in splits:
    raise FolderError(
        f'tfds dataset {dataset!r} has no split {split!r}; it has '
        + ', '.join(sorted(splits))
    )
  features = builder.info.features
  items = dict(features.items()) if hasattr(features, 'items') else {}
  image_key = settings.image_key or next(
      (k for k, f in items.items() if _is_image_feature(f)), ''
  )
  if image_key not in items or not _is_image_feature(items[image_key]):
    what = (
        f'data.image_key={image_key!r} is not one of its image features'
        if image_key
        else 'it has no image feature'
    )
    raise FolderError(
        f'tfds dataset {dataset!r}: {what} (its features: '
        f'{", ".join(items)}); name one with data.image_key'
    )
  label_key = settings.label_key or next(
      (k for k, f in items.items() if isinstance(f, tfds.features.ClassLabel)),
      '',
  )
  if label_key and not isinstance(
      items.get(label_key), tfds.features.ClassLabel
  ):
    raise FolderError(
        f'tfds dataset {dataset!r}: data.label_key={label_key!r} is not one '
        f'of its class labels ({", ".join(items)})'
    )
  num_classes = items[label_key].num_classes if label_key else 1
  shape = tuple(items[image_key].shape)
  channels = (
      int(settings.channels) if settings.channels in ('1', '3') else shape[-1]
  )
  if channels not in (1, 3):
    channels = 3
  native = shape[0] if shape[0] and shape[0] == shape[1] else 0
  side = settings.image_size or native or DEFAULT_SIDE
  method = settings.resize
  Image = _pil()

  def decode(record) -> Tuple[np.ndarray, int]:
    pixels = np.asarray(record[image_key], np.uint8)
    if pixels.ndim == 2:
      pixels = pixels[..., None]
    if pixels.shape != (side, side, channels):
      image = Image.fromarray(
          pixels[..., 0] if pixels.shape[-1] == 1 else pixels
      )
      image = image.convert('L' if channels == 1 else 'RGB')
      pixels = square(image, side, method)
    label = int(record[label_key]) if label_key else 0
    return pixels, label

  def records(split: str, data_dir: str):
    del data_dir  # The settings' (the one the features were read from).
    return image_data._data_source(name, split, settings.data_dir, dataset)

  return ImageSource(
      tfds_name=dataset,
      shape=(side, side, channels),
      num_classes=num_classes,
      train_split=split,
      held_out_split=split,
      decode=decode,
      train_size=splits[split].num_examples,
      records=records,
      file_key=_digest(
          [
              DECODE_VERSION,
              dataset,
              split,
              side,
              method,
              channels,
              image_key,
              label_key,
          ]
      ),
  )


def resolve(name: str, config: Optional[Mapping] = None) -> ImageSource:
  """The ImageSource of ``folder:`` or ``tfds:`` dataset ``name`` with the
  config's settings; without a config, the one resolved last in this
  process (else the defaults)."""
  if config is None and name in _LATEST:
    return _LATEST[name]
  settings = Settings.of(config)
  key = (name, settings)
  if key not in _RESOLVED:
    make = folder_source if name.startswith(FOLDER_PREFIX) else tfds_source
    _RESOLVED[key] = make(name, settings)
  _LATEST[name] = _RESOLVED[key]
  return _RESOLVED[key]
