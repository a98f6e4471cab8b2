"""Datasets: on-device 2-D samplers (``toy2d``), image datasets read with
``tfds.data_source`` (``images``; the embedded ones in ``embedded``), and
image data held in device memory (``on_device``)."""

from gan_jax.data.toy2d import TOY_DATASETS, Toy2D, get_toy_dataset
