"""DCGAN-family convolutional generator and discriminator (Radford et al.
2016), sized from the image shape.

The generator projects z to a ``base x base`` map and doubles its size with
4x4 stride-2 transposed convolutions until it reaches the image size; the
discriminator mirrors it with 4x4 stride-2 convolutions and LeakyReLU(0.2),
then one linear output. The number of stride-2 stages is how often the side
halves to an integer of at least 4: 8 -> 4 (one stage), 28 -> 14 -> 7 (two),
32 -> 4 (three), 64 -> 4 (four). Channels double at every stage going down
(``width`` at the image end, ``width * 2**(stages-1)`` at the base).

Normalisation, as in the papers that use these networks: no normalisation on
the discriminator's first layer or on the generator's output (DCGAN), batch
norm elsewhere when chosen; 'layer' (LayerNorm over the channels and
positions of each example, safe with per-example gradient penalties) and
'spectral' (Miyato et al. 2018: every D weight divided by its largest
singular value, estimated by one power iteration per call; the iteration's
vector lives in the ``batch_stats`` collection, i.e. in the train state).

With ``num_classes > 0`` both are class-conditional
(:mod:`gan_jax.models.conditioning`) and take ``labels`` [B].
"""

from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.conditioning import LabelToLatent, Projection, check_labels
from gan_jax.models.conv_transpose import Conv4x4, ConvTranspose4x4

G_NORMS = ('none', 'batch')
D_NORMS = ('none', 'batch', 'layer', 'spectral')


def num_stages(side: int) -> int:
  """How many stride-2 stages a side of ``side`` pixels takes (0: none)."""
  stages = 0
  while side % 2 == 0 and side // 2 >= 4:
    side //= 2
    stages += 1
  return stages


def check_image_shape(shape: Sequence[int]) -> Optional[str]:
  """None if the DCGAN pair can take images of ``shape`` (H, W, C), else
  why not."""
  if len(shape) != 3:
    return f'images must be (height, width, channels), got {tuple(shape)}'
  height, width, _ = shape
  if height != width:
    return f'images must be square, got {height}x{width}'
  if num_stages(height) == 0:
    return (
        f'image side {height} cannot be halved to an integer of at '
        'least 4; sides like 8, 28, 32 and 64 work'
    )
  return None


def _norm(kind: str, train: bool, axis_name: Optional[str]):
  """The normalisation after a hidden layer, or None."""
  if kind == 'batch':
    return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, axis_name=axis_name
    )
  if kind == 'layer':
    # Over height, width and channels of each example: no batch mixing.
    return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1)
  return None


def d_layer(norm: str, train: bool):
  """``layer(module, h)``: applies a discriminator layer, spectrally
  normalised when ``norm`` is 'spectral' (called inside the module's
  compact method, so the wrapper's variables are the module's own)."""

  def apply(module, h):
    if norm == 'spectral':
      return nn.SpectralNorm(module)(h, update_stats=train)
    return module(h)

  return apply


class DCGANGenerator(nn.Module):
  """z [B, latent_dim] -> images [B, H, W, C] in [-1, 1] (tanh)."""

  output_shape: Sequence[int] = (32, 32, 3)
  width: int = 64
  norm: str = 'batch'
  batch_axis_name: Optional[str] = None
  num_classes: int = 0
  # The 4x4 stride-2 transposed convolution, called (features, use_bias=,
  # name=): the XLA:CPU formulation or flax's own (conv_transpose.
  # layers_4x4). The names are flax's, so params keep nn.ConvTranspose's
  # paths either way.
  conv_transpose: Callable[..., nn.Module] = ConvTranspose4x4

  @nn.compact
  def __call__(
      self, z: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)
    if labels is not None:  # check_labels: given iff num_classes > 0.
      z = LabelToLatent(self.num_classes)(z, labels)
    side, _, channels = self.output_shape
    stages = num_stages(side)
    base = side >> stages
    features = self.width * 2 ** (stages - 1)
    use_bias = self.norm != 'batch'  # Batch norm cancels a bias.
    h = nn.Dense(base * base * features, use_bias=use_bias)(z)
    h = h.reshape((z.shape[0], base, base, features))
    for stage in range(stages):
      norm = _norm(self.norm, train, self.batch_axis_name)
      h = nn.relu(norm(h) if norm else h)
      if stage == stages - 1:  # The output layer: no norm, tanh.
        h = self.conv_transpose(channels, name=f'ConvTranspose_{stage}')(h)
      else:
        features //= 2
        h = self.conv_transpose(
            features, use_bias=use_bias, name=f'ConvTranspose_{stage}'
        )(h)
    return jnp.tanh(h)


class DCGANDiscriminator(nn.Module):
  """images [B, H, W, C] -> one logit (or critic value) per image, [B]."""

  width: int = 64
  norm: str = 'none'
  batch_axis_name: Optional[str] = None
  num_classes: int = 0
  # The 4x4 stride-2 convolution, called (features, use_bias=, name=):
  # flax's nn.Conv or the same with a penalty-friendly input gradient on
  # XLA:CPU (conv_transpose.layers_4x4), under nn.Conv's param names.
  conv: Callable[..., nn.Module] = Conv4x4

  @nn.compact
  def __call__(
      self, x: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)

    layer = d_layer(self.norm, train)
    stages = num_stages(x.shape[1])
    h, features = x, self.width
    for stage in range(stages):
      use_bias = stage == 0 or self.norm != 'batch'
      h = layer(self.conv(features, use_bias=use_bias, name=f'Conv_{stage}'), h)
      norm = _norm(self.norm, train, self.batch_axis_name) if stage else None
      h = nn.leaky_relu(norm(h) if norm else h, negative_slope=0.2)
      features *= 2
    h = h.reshape((h.shape[0], -1))
    out = jnp.squeeze(layer(nn.Dense(1), h), axis=-1)
    if labels is not None:
      out = out + Projection(self.num_classes)(h, labels)
    return out
