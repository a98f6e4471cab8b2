"""Datasets: on-device 2-D samplers (``toy2d``)."""

from gan_jax.data.toy2d import TOY_DATASETS, Toy2D, get_toy_dataset
