"""Pairs of domains for unpaired translation (gan_jax.translation).

* ``digits_rot`` (embedded): X is scikit-learn's 8x8 digits, Y the digits
  rotated 90 degrees counter-clockwise and intensity-inverted. The train
  split's even-indexed images make X and its odd-indexed ones Y, so no x
  has its own translation in Y: the data are unpaired. The right answer is
  known -- G(x) should be the rotated, inverted x, keeping its label -- so
  correctness is measured, not only realism (gan_jax.translation.evaluation).
  Test halves the held-out split the same way (180 images each).
* ``grid25_shear`` (2-D, sampled on device): X is grid25 (25 Gaussians,
  gan_jax.data.toy2d), Y the same points sheared, (a, b) -> (a + b/2, b).
  The right G is the shear; a translated point is right when its un-sheared
  self lies within 3 sigma of the mode its source came from.
* the CycleGAN datasets (``horse2zebra``, ``monet2photo``, ...): TFDS
  ``cycle_gan/NAME`` (splits trainA/trainB/testA/testB), read with
  ``tfds.data_source`` once prepared (``tfds build cycle_gan/NAME
  --file_format=array_record``), images resized to 256x256 if they are not.
* ``A:B`` for any two image datasets of gan_jax.data (e.g.
  ``mnist:fashion_mnist``): X from A, Y from B, test on their held-out
  splits; domains of different channel counts need ``data.channels``
  ('grey' or 'rgb') to say how to meet.
"""

import dataclasses
from typing import Callable, NamedTuple, Optional

import jax.numpy as jnp
import numpy as np

from gan_jax.data import embedded, images as image_data
from gan_jax.data.toy2d import Toy2D, get_toy_dataset

CYCLE_GAN = (
    'apple2orange',
    'summer2winter_yosemite',
    'horse2zebra',
    'monet2photo',
    'cezanne2photo',
    'ukiyoe2photo',
    'vangogh2photo',
    'maps',
    'cityscapes',
    'facades',
    'iphone2dslr_flower',
)
CYCLE_GAN_SIZE = 256
CHANNELS = ('', 'grey', 'rgb')  # data.channels: '' keeps them as they are.


def _cycle_gan_decode(record):
  from PIL import Image  # Pillow comes with matplotlib.

  image = np.asarray(record['image'], np.uint8)
  if image.shape[:2] != (CYCLE_GAN_SIZE, CYCLE_GAN_SIZE):
    image = np.asarray(
        Image.fromarray(image).resize(
            (CYCLE_GAN_SIZE, CYCLE_GAN_SIZE), Image.Resampling.BICUBIC
        )
    )
  return image, int(record['label'])


def cycle_gan_source(name: str) -> image_data.ImageSource:
  return image_data.ImageSource(
      f'cycle_gan/{name}',
      (CYCLE_GAN_SIZE, CYCLE_GAN_SIZE, 3),
      2,
      train_split='trainA',
      held_out_split='testA',
      decode=_cycle_gan_decode,
  )


# --- digits_rot's known translation -----------------------------------------


def rotate_invert(images: np.ndarray, inverse: bool = False):
  """X -> Y of digits_rot (or Y -> X with ``inverse``) on images [N, H, W,
  C]: uint8 pixels (0..255) or network values in [-1, 1]. Works on NumPy
  and JAX arrays alike."""
  xp = np if isinstance(images, np.ndarray) else jnp
  flipped = (255 - images) if images.dtype == np.uint8 else -images
  return xp.rot90(flipped, k=-1 if inverse else 1, axes=(1, 2))


SHEAR = np.array([[1.0, 0.5], [0.0, 1.0]], np.float32)  # (a, b) -> (a + b/2, b)


def shear(points, inverse: bool = False):
  """X -> Y of grid25_shear on points [..., 2] (Y -> X with ``inverse``)."""
  matrix = np.linalg.inv(SHEAR) if inverse else SHEAR
  return points @ matrix.T.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Pair:
  """A pair of domains.

  Attributes:
    name: as given to --pair.
    kind: 'images' or 'points'.
    description: one line for summaries.
    y_to_x: the known correspondence's inverse, Y -> X on network values
      (rotate_invert(inverse) or shear(inverse)); None when unknown.
    points: the X distribution of a 2-D pair.
  """

  name: str
  kind: str
  description: str
  y_to_x: Optional[Callable] = None
  points: Optional[Toy2D] = None


class ImageDomains(NamedTuple):
  """uint8 images [N, H, W, C] of both domains, with labels (the digit, or
  -1 where the domain has none that G keeps)."""

  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  x_test_labels: np.ndarray
  y_test: np.ndarray
  y_test_labels: np.ndarray


DIGITS_ROT = Pair(
    'digits_rot',
    'images',
    'X: 8x8 digits; Y: other digits rotated 90 degrees and inverted '
    '(embedded, unpaired halves)',
    y_to_x=lambda y: rotate_invert(y, inverse=True),
)
GRID25_SHEAR = Pair(
    'grid25_shear',
    'points',
    'X: grid25; Y: grid25 sheared, (a, b) -> (a + b/2, b)',
    y_to_x=lambda y: shear(y, inverse=True),
    points=get_toy_dataset('grid25'),
)
NAMED = {
    'digits_rot': DIGITS_ROT,
    'grid25_shear': GRID25_SHEAR,
    **{
        name: Pair(
            name,
            'images',
            f'TFDS cycle_gan/{name}: trainA -> '
            'trainB, tested on testA/testB',
        )
        for name in CYCLE_GAN
    },
}


class UnknownPair(ValueError):
  pass


def get_pair(name: str) -> Pair:
  """The pair called ``name``: a name of NAMED or ``A:B`` of two image
  datasets; UnknownPair (one line) otherwise."""
  if name in NAMED:
    return NAMED[name]
  parts = name.split(':') if isinstance(name, str) else []
  if len(parts) == 2 and all(p in image_data.IMAGE_SOURCES for p in parts):
    return Pair(
        name,
        'images',
        f'X: {parts[0]}; Y: {parts[1]} (train '
        'splits, tested on their held-out splits)',
    )
  raise UnknownPair(
      f'unknown pair {name!r}: choose from {", ".join(NAMED)}, or A:B of '
      f'two image datasets ({", ".join(image_data.IMAGE_SOURCES)})'
  )


def domain_shapes(name: str):
  """(x shape, y shape) of an image pair as stored, before conversion."""
  if name == 'digits_rot':
    return (8, 8, 1), (8, 8, 1)
  if name in CYCLE_GAN:
    shape = (CYCLE_GAN_SIZE, CYCLE_GAN_SIZE, 3)
    return shape, shape
  a, b = name.split(':')
  return (image_data.IMAGE_SOURCES[a].shape, image_data.IMAGE_SOURCES[b].shape)


def _halves(images, labels):
  return (images[0::2], labels[0::2]), (images[1::2], labels[1::2])


def _convert(images: np.ndarray, channels: str) -> np.ndarray:
  """uint8 images to one channel ('grey': ITU-R 601 luma) or three ('rgb':
  the grey channel repeated); unchanged when they have it already."""
  if channels == 'grey' and images.shape[-1] == 3:
    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114])
    return np.round(luma)[..., None].astype(np.uint8)
  if channels == 'rgb' and images.shape[-1] == 1:
    return np.repeat(images, 3, axis=-1)
  return images


def load_image_domains(
    name: str,
    data_dir: Optional[str] = None,
    channels: str = '',
    test_limit: Optional[int] = None,
) -> ImageDomains:
  """Both domains of image pair ``name`` (DatasetNotPrepared, one line,
  when a public one is not prepared)."""
  if name == 'digits_rot':
    splits = embedded.digit_splits()
    (x, _), (y, _) = _halves(splits['train'][0][..., None], splits['train'][1])
    (x_test, x_labels), (y_test, y_labels) = _halves(
        splits['test'][0][..., None], splits['test'][1]
    )
    return ImageDomains(
        x,
        rotate_invert(y),
        x_test,
        x_labels.astype(np.int32),
        rotate_invert(y_test),
        y_labels.astype(np.int32),
    )
  if name in CYCLE_GAN:
    source = cycle_gan_source(name)
    read = lambda split: image_data.RecordReader(name, split, data_dir, source)

    def whole(split, limit=None):
      reader = read(split)
      count = len(reader) if limit is None else min(limit, len(reader))
      return reader.read(range(count))

    x, _ = whole('trainA')
    y, _ = whole('trainB')
    x_test, _ = whole('testA', test_limit)
    y_test, _ = whole('testB', test_limit)
    none = lambda a: np.full(len(a), -1, np.int32)
    return ImageDomains(x, y, x_test, none(x_test), y_test, none(y_test))
  a, b = name.split(':')
  loaded = {}
  for domain, dataset in (('x', a), ('y', b)):
    source = image_data.IMAGE_SOURCES[dataset]
    train, _ = image_data.load_split(dataset, source.train_split, data_dir)
    test, labels = image_data.load_split(
        dataset, source.held_out_split, data_dir, limit=test_limit
    )
    loaded[domain] = (
        _convert(train, channels),
        _convert(test, channels),
        np.full(len(test), -1, np.int32),
    )
  return ImageDomains(
      loaded['x'][0],
      loaded['y'][0],
      loaded['x'][1],
      loaded['x'][2],
      loaded['y'][1],
      loaded['y'][2],
  )
