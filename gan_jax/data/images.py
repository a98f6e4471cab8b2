"""Image datasets by name, read with ``tfds.data_source`` (no TensorFlow).

Public datasets must have been prepared by the user in ArrayRecord format
(``tfds build NAME --file_format=array_record``); the embedded ones
(:mod:`gan_jax.data.embedded`) are built on first use. A record becomes a
uint8 image [H, W, C] and an int label through its source's ``decode``
(CelebA: centre crop and resize to 64x64, and a label made of three
attributes). :func:`load_split` reads a split into host arrays;
:class:`RecordReader` reads any records by index, for streaming.
"""

import contextlib
import dataclasses
import os
import re
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import numpy as np

# TensorFlow Datasets (and the embedded builders, made with it) are
# imported where records are read: the library's 2-D path and its config
# need neither (``pip install gan_jax`` leaves them out).


def _plain(record) -> Tuple[np.ndarray, int]:
  return np.asarray(record['image'], np.uint8), int(record['label'])


# CelebA at 64x64 as in the GAN literature (e.g. compare_gan): the central
# 140x140 of the 218x178 aligned faces, downsampled with a Lanczos filter.
CELEB_A_CROP = 140
CELEB_A_ATTRIBUTES = ('Male', 'Smiling', 'Young')


def _celeb_a(record) -> Tuple[np.ndarray, int]:
  from PIL import Image  # Pillow comes with matplotlib.

  image = np.asarray(record['image'], np.uint8)
  top = (image.shape[0] - CELEB_A_CROP) // 2
  left = (image.shape[1] - CELEB_A_CROP) // 2
  crop = image[top : top + CELEB_A_CROP, left : left + CELEB_A_CROP]
  small = Image.fromarray(crop).resize((64, 64), Image.Resampling.LANCZOS)
  # CelebA has 40 binary attributes and no class label: the 8 combinations
  # of three roughly balanced ones label the images for the classifier
  # that gives the metrics their feature space.
  attributes = record['attributes']
  label = sum(
      int(bool(attributes[name])) << bit
      for bit, name in enumerate(reversed(CELEB_A_ATTRIBUTES))
  )
  return np.asarray(small, np.uint8), label


@dataclasses.dataclass(frozen=True)
class ImageSource:
  """Where a dataset comes from, the shape of its images after ``decode``,
  and its classes."""

  tfds_name: str
  shape: Tuple[int, int, int]
  num_classes: int
  train_split: str = 'train'
  held_out_split: str = 'test'
  decode: Callable[..., Tuple[np.ndarray, int]] = _plain
  # Images in the train split as TFDS prepares it (epochs of top-k
  # training, gan_jax.regularizers.topk); 0 if not known.
  train_size: int = 0
  # (split, data_dir) -> its records, for a dataset TFDS does not read by
  # name (a folder's cached arrays, gan_jax.data.own_images); None: TFDS.
  records: Optional[Callable[[str, str], Any]] = None
  # What the images were read from, where it can change (a folder's files).
  fingerprint: str = ''
  # A short hash of everything that shapes the decoded images and labels
  # (a folder's or tfds: dataset's path, fingerprint, side, resize filter,
  # channels, ...): part of file names derived from them (file_label).
  file_key: str = ''


IMAGE_SOURCES = {
    'digits': ImageSource('digits', (8, 8, 1), 10, train_size=1437),
    'stacked_digits': ImageSource(
        'stacked_digits', (8, 8, 3), 1000, train_size=60000
    ),
    'mnist': ImageSource('mnist', (28, 28, 1), 10, train_size=60000),
    'fashion_mnist': ImageSource(
        'fashion_mnist', (28, 28, 1), 10, train_size=60000
    ),
    'cifar10': ImageSource('cifar10', (32, 32, 3), 10, train_size=50000),
    'celeb_a': ImageSource(
        'celeb_a', (64, 64, 3), 8, decode=_celeb_a, train_size=162770
    ),
}


def image_source(name: str, config: Optional[Mapping] = None) -> ImageSource:
  """The ImageSource of an image dataset: a named one (IMAGE_SOURCES), a
  directory of images (``folder:PATH``) or a prepared TFDS dataset
  (``tfds:NAME[:SPLIT]``), the last two shaped by ``config``'s fields
  (data.image_size, data.folder_resize, ...; gan_jax.data.own_images) --
  without one, as this process last resolved them. KeyError for an unknown
  name; DatasetNotPrepared (one line) for a folder or tfds: dataset that
  cannot be used."""
  if name in IMAGE_SOURCES:
    return IMAGE_SOURCES[name]
  from gan_jax.data import own_images

  if not own_images.is_own(name):
    raise KeyError(name)
  return own_images.resolve(name, config)


def file_label(name: str) -> str:
  """``name`` as part of a file name: a folder's or tfds: dataset's without
  '/' or ':', with a hash of everything that shapes its decoded images
  (ImageSource.file_key: its files, side, resize filter, channels, ...),
  so files derived from them -- reference features, statistics,
  classifiers -- are not shared by images decoded differently."""
  if name in IMAGE_SOURCES:
    return name
  from gan_jax.data import own_images

  label = own_images.short_name(name)
  key = image_source(name).file_key
  return f'{label}-{key}' if key else label


class DatasetNotPrepared(Exception):
  """A dataset is not in the data dir in a readable form; the message (one
  line) says how to prepare it."""


def default_data_dir() -> str:
  """TFDS's own default: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  return os.environ.get('TFDS_DATA_DIR') or os.path.expanduser(
      os.path.join('~', 'tensorflow_datasets')
  )


def prepare_command(name: str, data_dir: str) -> str:
  return (
      f'pip install tensorflow && tfds build {name} '
      f'--file_format=array_record --data_dir={data_dir}'
  )


def _how_to_fix(name: str, data_dir: str, damaged: bool = False) -> str:
  """What to do, in a few words: build or prepare the dataset, after
  deleting its damaged files where ``damaged``."""
  from gan_jax.data import embedded

  if name in embedded.EMBEDDED:
    return (
        f'delete {os.path.join(data_dir, name)} and run again: it is '
        'rebuilt on first use'
    )
  if damaged:
    return (
        f'delete {os.path.join(data_dir, name)} and prepare it again with: '
        f'{prepare_command(name, data_dir)}'
    )
  return f'prepare it with: {prepare_command(name, data_dir)}'


def data_dir_problem(path: str) -> Optional[str]:
  """Why ``path`` cannot be a TFDS data dir (a few words), or None. One
  that does not exist yet is fine: the embedded datasets are built there.
  Checked before TFDS sees it, which otherwise announces a download into a
  file and then advises deleting ``FILE/digits``."""
  if os.path.exists(path) and not os.path.isdir(path):
    return 'is a file, not a directory'
  if os.path.isdir(path) and not os.access(path, os.R_OK | os.X_OK):
    return 'cannot be read (permission denied)'
  ancestor = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    return f'is under {ancestor}, a file, not a directory'
  return None


def check_data_dir(data_dir: str) -> None:
  """DatasetNotPrepared, one line, if ``data_dir`` cannot be one."""
  problem = data_dir_problem(data_dir)
  if problem:
    raise DatasetNotPrepared(
        f'the data dir {data_dir} {problem}; give a directory '
        '(--data_dir, or $TFDS_DATA_DIR)'
    )


@contextlib.contextmanager
def _quiet_tfds():
  """TFDS warns while it looks for a dataset that is not there yet; the
  error we raise says it better, in one line."""
  from absl import logging as absl_logging

  level = absl_logging.get_verbosity()
  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    yield
  finally:
    absl_logging.set_verbosity(level)


def _data_source(name: str, split: str, data_dir: str, tfds_name: str):
  """The split's random-access source, or DatasetNotPrepared."""
  with _quiet_tfds():
    return _open_source(name, split, data_dir, tfds_name)


def _open_source(name: str, split: str, data_dir: str, tfds_name: str):
  import tensorflow_datasets as tfds

  from gan_jax.data import embedded

  try:
    if name in embedded.EMBEDDED:
      return embedded.prepare(name, data_dir).as_data_source(split=split)
    return tfds.data_source(
        tfds_name, split=split, data_dir=data_dir, download=False
    )
  except Exception as error:  # Not there, partial, or no random access.
    how = _how_to_fix(tfds_name, data_dir)
    try:
      builder = tfds.builder(tfds_name, data_dir=data_dir)
    except Exception as info_error:  # The files that describe it are damaged.
      raise DatasetNotPrepared(
          _unreadable_info(name, data_dir, info_error, tfds_name)
      ) from None
    if not builder.is_prepared():
      raise DatasetNotPrepared(
          f'dataset {name!r} is not prepared in {data_dir}; {how}'
      ) from None
    file_format = builder.info.file_format
    if file_format is not None and file_format.value != 'array_record':
      raise DatasetNotPrepared(
          f'dataset {name!r} in {data_dir} cannot be read with random access '
          f'(file format {file_format.value}, as '
          f'{os.path.join(builder.data_dir, INFO_FILE)} says); {how}'
      ) from None
    raise DatasetNotPrepared(
        _unreadable(name, data_dir, error, tfds_name)
    ) from None


# Where TFDS keeps a prepared dataset's description (splits, sizes, file
# format), beside its record files.
INFO_FILE = 'dataset_info.json'

# How TFDS prefixes an error met while it constructs a builder.
_CONSTRUCT_PREFIX = re.compile(
    r'^Failed to construct dataset .*?builder_kwargs ".*?": '
)


def _unreadable_info(
    name: str, data_dir: str, error: Exception, tfds_name: str
) -> str:
  """The message for a builder that cannot be constructed: TFDS read its
  dataset_info.json (garbled JSON, or fields of the wrong kind) -- named
  where it is there -- and failed."""
  import tensorflow_datasets as tfds

  text = _CONSTRUCT_PREFIX.sub('', str(error).strip())
  reason = (text.splitlines() or [type(error).__name__])[0][:200]
  try:
    version = str(tfds.builder_cls(tfds_name).VERSION)
  except Exception:  # An unknown name: then it is not the file.
    version = ''
  info = os.path.join(data_dir, tfds_name, version, INFO_FILE)
  what = (
      f'its {info} is damaged'
      if version and os.path.isfile(info)
      else 'it cannot be opened'
  )
  return (
      f'dataset {name!r} in {data_dir}: {what} ({reason}); '
      f'{_how_to_fix(tfds_name, data_dir, damaged=True)}'
  )


def _unreadable(
    name: str, data_dir: str, error: Exception, tfds_name: str
) -> str:
  reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
  how = _how_to_fix(tfds_name, data_dir, damaged=True)
  return (
      f'dataset {name!r} in {data_dir} is damaged or incomplete '
      f'({reason[:200]}); {how}'
  )


# Records per batched read, decoded before the next: bounds the raw records
# held at once (a CelebA record is 116 KB before its crop to 64x64) and
# keeps nearly all of the batched read's gain (60,000 stacked digits: 2.95 s
# in chunks of 1024, 2.89 s in one read, 12.7 s one by one).
_READ_CHUNK = 1024


def _read_records(records, indices: Sequence[int]) -> Sequence:
  """The records at ``indices``, in one batched read where the source has
  one that works: tfds.testing.mock_data's ``__getitems__`` is not bound to
  its source and raises TypeError, so there they are read one by one."""
  try:
    return records.__getitems__(indices)
  except TypeError:
    return [records[i] for i in indices]


class RecordReader:
  """Decoded records of one split by index: ``read(indices)`` -> (images
  uint8 [len, H, W, C], labels int32 [len]). Damaged files raise
  DatasetNotPrepared with a one-line message. ``source`` describes a
  dataset that is not in IMAGE_SOURCES (e.g. a translation pair's,
  gan_jax.data.pairs)."""

  def __init__(
      self,
      name: str,
      split: str,
      data_dir: Optional[str] = None,
      source: Optional[ImageSource] = None,
  ):
    self.name = name
    self.data_dir = data_dir or default_data_dir()
    self.source = source or image_source(name)
    check_data_dir(self.data_dir)
    if self.source.records is not None:
      self._records = self.source.records(split, self.data_dir)
    else:
      self._records = _data_source(
          name, split, self.data_dir, self.source.tfds_name
      )

  def __len__(self) -> int:
    return len(self._records)

  def read(self, indices: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    indices = [int(i) for i in indices]
    try:
      decoded = []
      for start in range(0, len(indices), _READ_CHUNK):
        decoded += [
            self.source.decode(record)
            for record in _read_records(
                self._records, indices[start : start + _READ_CHUNK]
            )
        ]
    except Exception as error:  # Truncated or corrupted record files.
      raise DatasetNotPrepared(
          _unreadable(self.name, self.data_dir, error, self.source.tfds_name)
      ) from None
    images = (
        np.stack([image for image, _ in decoded])
        if decoded
        else (np.zeros((0, *self.source.shape), np.uint8))
    )
    labels = np.asarray([label for _, label in decoded], np.int32)
    if images.shape[1:] != self.source.shape:
      raise DatasetNotPrepared(
          f'dataset {self.name!r} in {self.data_dir} has images of shape '
          f'{images.shape[1:]}, expected {self.source.shape}; '
          f'{_how_to_fix(self.source.tfds_name, self.data_dir)}'
      )
    return images, labels


def load_split(
    name: str,
    split: str,
    data_dir: Optional[str] = None,
    limit: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
  """(images uint8 [N, H, W, C], labels int32 [N]) of one split, or of
  ``limit`` of its records, the same ones on every call."""
  reader = RecordReader(name, split, data_dir)
  if limit is None or limit >= len(reader):
    return reader.read(range(len(reader)))
  rng = np.random.default_rng(0)
  chosen = np.sort(rng.choice(len(reader), limit, replace=False))
  return reader.read(chosen.tolist())
