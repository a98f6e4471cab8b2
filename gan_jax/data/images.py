"""Image datasets by name, read with ``tfds.data_source`` (no TensorFlow).

Public datasets must have been prepared by the user in ArrayRecord format
(``tfds build NAME --file_format=array_record``); the embedded ones
(:mod:`gan_jax.data.embedded`) are built on first use. Either way a split is
read once into host arrays: ``images`` uint8 [N, H, W, C] and ``labels``.
"""

import dataclasses
import os
from typing import Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds

from gan_jax.data import embedded


@dataclasses.dataclass(frozen=True)
class ImageSource:
  """Where a dataset comes from and the shape its images have."""
  tfds_name: str
  shape: Tuple[int, int, int]
  num_classes: int
  train_split: str = 'train'
  held_out_split: str = 'test'


IMAGE_SOURCES = {
    'digits': ImageSource('digits', (8, 8, 1), 10),
    'stacked_digits': ImageSource('stacked_digits', (8, 8, 3), 1000),
    'mnist': ImageSource('mnist', (28, 28, 1), 10),
    'fashion_mnist': ImageSource('fashion_mnist', (28, 28, 1), 10),
    'cifar10': ImageSource('cifar10', (32, 32, 3), 10),
}


class DatasetNotPrepared(Exception):
  """A public dataset is not in the data dir in a readable format; the
  message (one line) says how to prepare it."""


def default_data_dir() -> str:
  """TFDS's own default: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
  return os.environ.get('TFDS_DATA_DIR') or os.path.expanduser(
      os.path.join('~', 'tensorflow_datasets'))


def prepare_command(name: str, data_dir: str) -> str:
  return (f'pip install tensorflow && tfds build {name} '
          f'--file_format=array_record --data_dir={data_dir}')


def _data_source(name: str, split: str, data_dir: str):
  """The split's random-access source, or DatasetNotPrepared."""
  if name in embedded.EMBEDDED:
    return embedded.prepare(name, data_dir).as_data_source(split=split)
  tfds_name = IMAGE_SOURCES[name].tfds_name
  try:
    return tfds.data_source(tfds_name, split=split, data_dir=data_dir,
                            download=False)
  except Exception:  # Not there, or written without random access.
    how = f'prepare it with: {prepare_command(tfds_name, data_dir)}'
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    if not builder.is_prepared():
      raise DatasetNotPrepared(
          f'dataset {name!r} is not prepared in {data_dir}; {how}') from None
    raise DatasetNotPrepared(
        f'dataset {name!r} in {data_dir} cannot be read with random access '
        f'(file format {builder.info.file_format.value}); {how}') from None


def load_split(name: str, split: str, data_dir: Optional[str] = None
               ) -> Tuple[np.ndarray, np.ndarray]:
  """(images uint8 [N, H, W, C], labels int32 [N]) of one split."""
  data_dir = data_dir or default_data_dir()
  source = _data_source(name, split, data_dir)
  records = [source[i] for i in range(len(source))]
  images = np.stack([np.asarray(r['image'], np.uint8) for r in records])
  labels = np.asarray([r['label'] for r in records], np.int32)
  return images, labels
