"""Multi-layer perceptrons for 2-D (and other flat) data.

The defaults are the toy networks of the WGAN-GP paper's official code
(``gan_toy.py``): three hidden layers of 512 units with ReLU, a 2-D latent, no
normalisation. Hidden layers may be normalised (``norm``): 'batch' keeps its
running statistics in the ``batch_stats`` collection (averaged over
``batch_axis_name`` when the step runs under pmap/shard_map), 'layer' has no
state.
"""

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

NORMS = ('none', 'batch', 'layer')


def _normalize(h: jax.Array, norm: str, train: bool,
               axis_name: Optional[str]) -> jax.Array:
  if norm == 'batch':
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        axis_name=axis_name)(h)
  if norm == 'layer':
    return nn.LayerNorm()(h)
  return h


class MLPGenerator(nn.Module):
  """z [B, latent_dim] -> x [B, *output_shape]."""
  output_shape: Sequence[int] = (2,)
  width: int = 512
  depth: int = 3
  norm: str = 'none'
  batch_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    h = z
    for _ in range(self.depth):
      # A bias before batch norm is cancelled by its mean subtraction.
      h = nn.Dense(self.width, use_bias=self.norm != 'batch')(h)
      h = nn.relu(_normalize(h, self.norm, train, self.batch_axis_name))
    size = 1
    for dim in self.output_shape:
      size *= dim
    return nn.Dense(size)(h).reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """x [B, ...] -> one logit (or critic value) per example, shape [B]."""
  width: int = 512
  depth: int = 3
  norm: str = 'none'
  batch_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    h = x.reshape((x.shape[0], -1))
    for _ in range(self.depth):
      # A bias before batch norm is cancelled by its mean subtraction.
      h = nn.Dense(self.width, use_bias=self.norm != 'batch')(h)
      h = nn.relu(_normalize(h, self.norm, train, self.batch_axis_name))
    return jnp.squeeze(nn.Dense(1)(h), axis=-1)
