"""Datasets: on-device 2-D samplers (``toy2d``), image datasets read with
``tfds.data_source`` (``images``; the embedded ones in ``embedded``), image
data held in device memory (``on_device``) or streamed from the host
(``streaming``)."""

from gan_jax.data.images import IMAGE_SOURCES
from gan_jax.data.toy2d import TOY_DATASETS, Toy2D, get_toy_dataset

DATASETS = (*TOY_DATASETS, *IMAGE_SOURCES)

__all__ = [
    'DATASETS',
    'IMAGE_SOURCES',
    'TOY_DATASETS',
    'Toy2D',
    'get_toy_dataset',
    'is_image_dataset',
    'is_known_dataset',
]


def is_image_dataset(name: str) -> bool:
  """A named image dataset, ``folder:PATH`` or ``tfds:NAME[:SPLIT]``."""
  from gan_jax.data.own_images import is_own

  return name in IMAGE_SOURCES or is_own(name)


def is_known_dataset(name: str) -> bool:
  """A 2-D benchmark's or an image dataset's name."""
  return name in DATASETS or is_image_dataset(name)
