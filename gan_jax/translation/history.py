"""The history buffer of generated images that D is trained on.

Shrivastava et al. (2017, Sec. 2.3) and CycleGAN (Zhu et al. 2017, Sec. 4):
D is updated on a mix of the newest fakes and fakes from earlier steps,
which damps the oscillation of G and D chasing each other. The buffer holds
up to ``size`` images (50 in CycleGAN). Each generated image, in batch
order:

* while the buffer is not full, is stored and returned as it is;
* once it is full, with probability 1/2 is returned as it is; otherwise a
  uniformly chosen stored image is returned in its place and the new one
  stored in that slot.

So, once full, half of the returned images come from the buffer in
expectation. The buffer is part of the train state (a pytree), so a
resumed run continues with the same contents, and every random choice comes
from the step's key.
"""

from typing import Tuple

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax


class History(struct.PyTreeNode):
  """``images`` [size, ...] (the first ``count`` are filled) and ``count``."""

  images: jax.Array
  count: jax.Array  # int32 scalar, at most size.

  @property
  def size(self) -> int:
    return self.images.shape[0]


def empty(size: int, shape) -> History:
  """A buffer for ``size`` images of ``shape``, none stored yet."""
  return History(
      jnp.zeros((size, *shape), jnp.float32), jnp.zeros((), jnp.int32)
  )


def query(
    history: History, fakes: jax.Array, rng: jax.Array
) -> Tuple[History, jax.Array, jax.Array]:
  """(updated buffer, the images to train D on, which of them came from the
  buffer [B] bool) for a batch of ``fakes`` [B, ...], by the rules of the
  module docstring. A buffer of size 0 returns ``fakes`` unchanged."""
  if history.size == 0:
    return history, fakes, jnp.zeros(fakes.shape[0], bool)
  coin_key, slot_key = jax.random.split(rng)
  from_buffer = jax.random.bernoulli(coin_key, 0.5, (fakes.shape[0],))
  slots = jax.random.randint(slot_key, (fakes.shape[0],), 0, history.size)

  def one(carry, inputs):
    # One image at a time: an image stored by this batch may be the one a
    # later image of the batch takes back out, as in the reference code.
    images, count = carry
    fake, use_buffer, slot = inputs
    filling = count < history.size
    swap = ~filling & use_buffer
    slot = jnp.where(filling, count, slot)
    returned = jnp.where(swap, images[slot], fake)
    stored = jnp.where(filling | swap, fake, images[slot])
    images = lax.dynamic_update_index_in_dim(images, stored, slot, 0)
    return (images, count + filling.astype(jnp.int32)), (returned, swap)

  (images, count), (returned, swapped) = lax.scan(
      one, (history.images, history.count), (fakes, from_buffer, slots)
  )
  return History(images, count), returned, swapped
