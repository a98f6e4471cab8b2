"""Multi-layer perceptrons for 2-D (and other flat) data.

The defaults are the toy networks of the WGAN-GP paper's official code
(``gan_toy.py``): three hidden layers of 512 units with ReLU, a 2-D latent, no
normalisation. Hidden layers may be normalised (``norm``): 'batch' keeps its
running statistics in the ``batch_stats`` collection (averaged over
``batch_axis_name`` when the step runs under pmap/shard_map), 'layer' has no
state. With ``num_classes > 0`` both are class-conditional
(:mod:`gan_jax.models.conditioning`) and take ``labels`` [B].
"""

import math
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.conditioning import LabelToLatent, Projection, check_labels

NORMS = ('none', 'batch', 'layer')
ACTIVATIONS = {'relu': nn.relu, 'tanh': jnp.tanh}
INITS = ('default', 'normal', 'orthogonal')


def kernel_init(init: str, scale: float):
  """The Dense kernels' initialiser (see the module docstring)."""
  if init == 'normal':
    return nn.initializers.normal(stddev=scale)
  if init == 'orthogonal':
    return nn.initializers.orthogonal(scale=scale)
  return nn.initializers.lecun_normal()


def _hidden_layers(h: jax.Array, module: nn.Module, train: bool) -> jax.Array:
  """``module.depth`` Dense -> norm -> activation layers (or maxout layers),
  created inside the calling module's compact scope."""
  init = kernel_init(module.weight_init, module.init_scale)
  pieces = max(module.maxout_pieces, 1)
  for _ in range(module.depth):
    # A bias before batch norm is cancelled by its mean subtraction.
    h = nn.Dense(
        module.width * pieces, use_bias=module.norm != 'batch', kernel_init=init
    )(h)
    if module.maxout_pieces:
      h = jnp.max(h.reshape(*h.shape[:-1], module.width, pieces), axis=-1)
    if module.norm == 'batch':
      h = nn.BatchNorm(
          use_running_average=not train,
          momentum=0.9,
          axis_name=module.batch_axis_name,
      )(h)
    elif module.norm == 'layer':
      h = nn.LayerNorm()(h)
    if not module.maxout_pieces:
      h = ACTIVATIONS[module.activation](h)
  return h


class MLPGenerator(nn.Module):
  """z [B, latent_dim] -> x [B, *output_shape]."""

  output_shape: Sequence[int] = (2,)
  width: int = 512
  depth: int = 3
  norm: str = 'none'
  batch_axis_name: Optional[str] = None
  num_classes: int = 0
  activation: str = 'relu'
  maxout_pieces: int = 0
  weight_init: str = 'default'
  init_scale: float = 1.0

  @nn.compact
  def __call__(
      self, z: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)
    if labels is not None:  # check_labels: given iff num_classes > 0.
      z = LabelToLatent(self.num_classes)(z, labels)
    h = _hidden_layers(z, self, train)
    flat = nn.Dense(
        math.prod(self.output_shape),
        kernel_init=kernel_init(self.weight_init, self.init_scale),
    )(h)
    return flat.reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """x [B, ...] -> one logit (or critic value) per example, shape [B]."""

  width: int = 512
  depth: int = 3
  norm: str = 'none'
  batch_axis_name: Optional[str] = None
  num_classes: int = 0
  activation: str = 'relu'
  maxout_pieces: int = 0
  weight_init: str = 'default'
  init_scale: float = 1.0

  @nn.compact
  def __call__(
      self, x: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)
    h = _hidden_layers(x.reshape((x.shape[0], -1)), self, train)
    out = jnp.squeeze(
        nn.Dense(1, kernel_init=kernel_init(self.weight_init, self.init_scale))(
            h
        ),
        axis=-1,
    )
    if labels is not None:
      out = out + Projection(self.num_classes)(h, labels)
    return out
