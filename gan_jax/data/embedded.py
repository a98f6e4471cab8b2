"""Image datasets that ship with the install, as TFDS datasets.

Built from scikit-learn's copy of the UCI optical handwritten digits (1,797
grey 8x8 images, labels 0-9), so they need no download and no TensorFlow:
features are plain uint8 Tensors (not PNG-encoded Images) written as
ArrayRecord files and read back with ``tfds.data_source``.

* ``digits``: the 1,797 images, pixel values 0..16 rescaled to 0..255. Every
  fifth image (index % 5 == 0, 360 images) is the held-out ``test`` split,
  the other 1,437 are ``train``.
* ``stacked_digits``: 8x8x3 images whose three channels are independently
  drawn digits, so there are 10^3 = 1000 modes (label 100*a + 10*b + c for
  the digits a, b, c in channels 0, 1, 2): the 8x8 counterpart of Stacked
  MNIST (Metz et al. 2017; VEEGAN; PacGAN). ``train`` stacks 60,000 draws
  from the digits' train split, ``test`` 10,000 from its test split, with a
  fixed seed, so every machine builds the same files.

The builders register with TFDS under these names when this module is
imported; ``prepare(name, data_dir)`` builds one on first use (TFDS writes
into a temporary directory and renames it when complete, so an interrupted
build never looks finished).
"""

from typing import Dict, Iterator, Tuple, Type

import numpy as np
import tensorflow_datasets as tfds

HELD_OUT_EVERY = 5
STACKED_SIZES = {'train': 60_000, 'test': 10_000}
_STACKED_SEED = 20170721  # Fixed: the files are the same everywhere.


def digit_splits() -> dict:
  """{'train'|'test': (images uint8 [N, 8, 8], labels int64 [N])}."""
  from sklearn.datasets import load_digits  # Data files inside the wheel.

  digits = load_digits()
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
  held_out = np.arange(len(images)) % HELD_OUT_EVERY == 0
  return {
      'train': (images[~held_out], digits.target[~held_out]),
      'test': (images[held_out], digits.target[held_out]),
  }


def _dataset_info(
    builder, shape: Tuple[int, ...], num_classes: int, description: str
):
  # DatasetInfo directly, not dataset_info_from_configs, which looks for
  # README and checksum files beside the builder's module.
  return tfds.core.DatasetInfo(
      builder=builder,
      description=description,
      features=tfds.features.FeaturesDict(
          {
              'image': tfds.features.Tensor(shape=shape, dtype=np.uint8),
              'label': tfds.features.ClassLabel(num_classes=num_classes),
          }
      ),
      supervised_keys=('image', 'label'),
      homepage='https://scikit-learn.org/stable/datasets/toy_dataset.html',
  )


class Digits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's 8x8 handwritten digits (see the module docstring)."""

  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return _dataset_info(self, (8, 8, 1), 10, 'Grey 8x8 handwritten digits.')

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {
        split: self._generate_examples(split) for split in ('train', 'test')
    }

  def _generate_examples(self, split: str) -> Iterator:
    images, labels = digit_splits()[split]
    for index, (image, label) in enumerate(zip(images, labels)):
      yield index, {'image': image[..., None], 'label': int(label)}


def stack_digits(
    images: np.ndarray, labels: np.ndarray, count: int, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray]:
  """``count`` 3-channel images of independently drawn digits, and their
  modes 100*a + 10*b + c."""
  picks = rng.integers(0, len(images), size=(count, 3))
  stacked = np.stack([images[picks[:, c]] for c in range(3)], axis=-1)
  modes = labels[picks] @ np.array([100, 10, 1])
  return stacked, modes


class StackedDigits(tfds.core.GeneratorBasedBuilder):
  """Three independent digits per image, 1000 modes (module docstring)."""

  VERSION = tfds.core.Version('1.0.0')

  def _info(self):
    return _dataset_info(
        self,
        (8, 8, 3),
        1000,
        'Three independently drawn 8x8 digits as RGB channels.',
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split) for split in STACKED_SIZES}

  def _generate_examples(self, split: str) -> Iterator:
    images, labels = digit_splits()[split]
    rng = np.random.default_rng(
        [_STACKED_SEED, list(STACKED_SIZES).index(split)]
    )
    stacked, modes = stack_digits(images, labels, STACKED_SIZES[split], rng)
    for index, (image, mode) in enumerate(zip(stacked, modes)):
      yield index, {'image': image, 'label': int(mode)}


EMBEDDED: Dict[str, Type[tfds.core.GeneratorBasedBuilder]] = {
    'digits': Digits,
    'stacked_digits': StackedDigits,
}


def prepare(name: str, data_dir: str) -> tfds.core.DatasetBuilder:
  """The builder of embedded dataset ``name``, built into ``data_dir`` if it
  is not there yet."""
  builder = EMBEDDED[name](data_dir=data_dir, file_format='array_record')
  if not builder.is_prepared():
    tfds.disable_progress_bar()  # Seconds of work; keep the runner's bar.
    builder.download_and_prepare()
  return builder
