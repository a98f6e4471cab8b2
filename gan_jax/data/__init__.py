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
]


def is_image_dataset(name: str) -> bool:
  return name in IMAGE_SOURCES
