"""An image dataset that lives in device memory; batches are gathered inside
the jitted step, so training makes no per-step host-to-device copy.

The images stay uint8 on the device (a quarter of float32's memory) and are
scaled to [-1, 1] inside the step. ``DeviceImages`` is a pytree: pass it to
the jitted function as an argument (not as a closed-over constant, which XLA
would embed in the program).
"""

from typing import Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np


class DeviceImages(flax.struct.PyTreeNode):
  """uint8 images [N, H, W, C] and int32 labels [N] on device."""

  images: jax.Array
  labels: jax.Array

  @classmethod
  def from_host(
      cls, images: np.ndarray, labels: np.ndarray, sharding=None
  ) -> 'DeviceImages':
    return cls(
        jax.device_put(np.asarray(images, np.uint8), sharding),
        jax.device_put(np.asarray(labels, np.int32), sharding),
    )

  @property
  def shape(self):
    return tuple(self.images.shape[1:])

  def random_indices(self, rng: jax.Array, shape: Sequence[int]) -> jax.Array:
    """Record indices of batch shape ``shape``, uniform with replacement:
    every batch is an i.i.d. sample of the data, with no epoch bookkeeping
    in the state."""
    return jax.random.randint(rng, tuple(shape), 0, self.images.shape[0])

  def take(self, index: jax.Array):
    """The images (uint8) and labels at ``index``."""
    return self.images[index], self.labels[index]

  def sample_with_labels(self, rng: jax.Array, shape: Sequence[int]):
    """Images (uint8) and labels of a random batch of shape ``shape``."""
    return self.take(self.random_indices(rng, shape))

  def sample(self, rng: jax.Array, shape: Sequence[int]) -> jax.Array:
    return self.sample_with_labels(rng, shape)[0]

  @staticmethod
  def to_network(images: jax.Array) -> jax.Array:
    """uint8 0..255 -> float32 in [-1, 1], the generator's tanh range."""
    # (v - 127.5) / 127.5 maps 0 and 255 to -1 and 1 exactly in float32.
    return (images.astype(jnp.float32) - 127.5) / 127.5

  @staticmethod
  def from_network(x: jax.Array) -> jax.Array:
    """[-1, 1] -> float32 pixel values in [0, 255]."""
    return jnp.clip((x + 1.0) * 127.5, 0.0, 255.0)
