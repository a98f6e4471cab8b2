"""The SNGAN networks for 32x32 images (Miyato et al. 2018, "Spectral
Normalization for Generative Adversarial Networks", Appendix B), which
most CIFAR-10 loss comparisons use (compare_gan, StudioGAN, mimicry).

* ``sngan_cnn``, the "standard CNN" (Table 3): G projects z to a 4x4x512
  map, three 4x4 stride-2 transposed convolutions with batch norm and ReLU
  halve the channels (512 -> 256 -> 128 -> 64), a 3x3 convolution to the
  image's channels and tanh. D alternates 3x3 stride-1 and 4x4 stride-2
  convolutions (64, 64, 128, 128, 256, 256, 512) with LeakyReLU(0.1), then
  one linear output.
* ``sngan_resnet`` (Table 4): G projects z to 4x4x256 and applies three
  up-sampling residual blocks (batch norm, ReLU, nearest-neighbour
  up-sampling, 3x3 convolutions; a 1x1 convolution on the up-sampled
  shortcut), then batch norm, ReLU, a 3x3 convolution and tanh. D applies
  an "optimised" first block and one more down-sampling block (2x2 average
  pooling), two blocks at that size, ReLU, a sum over positions and one
  linear output; 128 channels throughout.

``model.width`` (64 by default) scales every layer: 512 = 8 x width (CNN),
256 = 4 x width and 128 = 2 x width (ResNet). Images of side S (a multiple
of 8, at least 16) start from an S/8 x S/8 map: 4x4 for 32x32. With
``d_norm='spectral'`` (the paper's) every D weight is divided by its
largest singular value, one power iteration per call, the iteration's
vector kept in ``batch_stats`` (the train state). Class-conditional as the
DCGAN pair is (:mod:`gan_jax.models.conditioning`).
"""

from typing import Callable, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.conditioning import LabelToLatent, Projection, check_labels
from gan_jax.models.conv_transpose import Conv4x4, ConvTranspose4x4
from gan_jax.models.dcgan import d_layer

G_NORMS = ('batch', 'none')
D_NORMS = ('spectral', 'none')


def check_image_shape(shape: Sequence[int]) -> Optional[str]:
  """None if the SNGAN networks can take images of ``shape``, else why."""
  if len(shape) != 3 or shape[0] != shape[1]:
    return f'images must be square (height, width, channels), got {shape}'
  if shape[0] % 8 or shape[0] < 16:
    return (
        f'the image side must be a multiple of 8 and at least 16 (three '
        f'doublings from side / 8), got {shape[0]}'
    )
  return None


def _batch_norm(kind: str, train: bool, axis_name: Optional[str]):
  if kind == 'batch':
    return nn.BatchNorm(
        use_running_average=not train, momentum=0.9, axis_name=axis_name
    )
  return lambda h: h


def _generator_input(
    module, z, labels, side: int, features: int, use_bias: bool
):
  check_labels(module.num_classes, labels)
  if module.num_classes:
    z = LabelToLatent(module.num_classes)(z, labels)
  base = side // 8
  h = nn.Dense(base * base * features, use_bias=use_bias)(z)
  return h.reshape((z.shape[0], base, base, features))


def _discriminator_output(module, h, labels, layer):
  """[B, F] features -> [B] outputs, with the projection term when
  conditional."""
  out = jnp.squeeze(layer(nn.Dense(1), h), axis=-1)
  if module.num_classes:
    out = out + Projection(module.num_classes)(h, labels)
  return out


class _Generator(nn.Module):
  """The generators' settings (see models/__init__.py's interface)."""

  output_shape: Sequence[int] = (32, 32, 3)
  width: int = 64
  norm: str = 'batch'
  batch_axis_name: Optional[str] = None
  num_classes: int = 0
  # The standard CNN's 4x4 stride-2 layer (conv_transpose.layers_4x4).
  conv_transpose: Callable[..., nn.Module] = ConvTranspose4x4


class _Discriminator(nn.Module):
  """The discriminators' settings."""

  width: int = 64
  norm: str = 'spectral'
  num_classes: int = 0
  conv: Callable[..., nn.Module] = Conv4x4  # As the generator's.


class SNGANCNNGenerator(_Generator):
  """z -> images [B, S, S, C] in [-1, 1]: the standard CNN's G."""

  @nn.compact
  def __call__(
      self, z: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    side, _, channels = self.output_shape
    use_bias = self.norm != 'batch'  # Batch norm cancels a bias.
    features = 8 * self.width
    h = _generator_input(self, z, labels, side, features, use_bias)
    for stage in range(3):
      h = nn.relu(_batch_norm(self.norm, train, self.batch_axis_name)(h))
      features //= 2
      h = self.conv_transpose(
          features, use_bias=use_bias, name=f'ConvTranspose_{stage}'
      )(h)
    h = nn.relu(_batch_norm(self.norm, train, self.batch_axis_name)(h))
    return jnp.tanh(nn.Conv(channels, (3, 3), padding=1, name='to_rgb')(h))


class SNGANCNNDiscriminator(_Discriminator):
  """images -> [B] outputs: the standard CNN's D."""

  @nn.compact
  def __call__(
      self, x: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)
    layer = d_layer(self.norm, train)
    h = x
    for stage, multiple in enumerate((1, 2, 4)):
      features = multiple * self.width
      h = nn.leaky_relu(
          layer(
              nn.Conv(features, (3, 3), padding=1, name=f'Conv3x3_{stage}'), h
          ),
          0.1,
      )
      h = nn.leaky_relu(
          layer(self.conv(features, name=f'Conv4x4_{stage}'), h), 0.1
      )
    h = nn.leaky_relu(
        layer(nn.Conv(8 * self.width, (3, 3), padding=1, name='Conv3x3_3'), h),
        0.1,
    )
    return _discriminator_output(
        self, h.reshape((h.shape[0], -1)), labels, layer
    )


class GeneratorBlock(nn.Module):
  """BN, ReLU, up-sample x2, 3x3 conv, BN, ReLU, 3x3 conv; shortcut:
  up-sample, 1x1 conv."""

  features: int
  norm: str
  batch_axis_name: Optional[str]

  @nn.compact
  def __call__(self, x, train: bool):
    def up(h):
      return jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)

    def bn(h):
      return _batch_norm(self.norm, train, self.batch_axis_name)(h)

    h = nn.Conv(self.features, (3, 3), padding=1)(up(nn.relu(bn(x))))
    h = nn.Conv(self.features, (3, 3), padding=1)(nn.relu(bn(h)))
    return h + nn.Conv(self.features, (1, 1), name='shortcut')(up(x))


class DiscriminatorBlock(nn.Module):
  """(ReLU,) 3x3 conv, ReLU, 3x3 conv (, 2x2 average pool); the shortcut a
  1x1 conv where the shape changes. ``first``: the optimised first block
  (no ReLU before the first conv; shortcut pooled before its conv)."""

  features: int
  down: bool
  first: bool
  norm: str

  @nn.compact
  def __call__(self, x, train: bool):
    layer = d_layer(self.norm, train)

    def pool(h):
      return nn.avg_pool(h, (2, 2), strides=(2, 2)) if self.down else h

    h = x if self.first else nn.relu(x)
    h = layer(nn.Conv(self.features, (3, 3), padding=1), h)
    h = pool(layer(nn.Conv(self.features, (3, 3), padding=1), nn.relu(h)))
    if self.first:
      shortcut = layer(nn.Conv(self.features, (1, 1), name='shortcut'), pool(x))
    elif self.down or x.shape[-1] != self.features:
      shortcut = pool(layer(nn.Conv(self.features, (1, 1), name='shortcut'), x))
    else:
      shortcut = x
    return h + shortcut


class SNGANResNetGenerator(_Generator):
  """z -> images [B, S, S, C] in [-1, 1]: the ResNet G."""

  @nn.compact
  def __call__(
      self, z: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    side, _, channels = self.output_shape
    features = 4 * self.width
    h = _generator_input(self, z, labels, side, features, use_bias=True)
    for block in range(3):
      h = GeneratorBlock(
          features, self.norm, self.batch_axis_name, name=f'block{block}'
      )(h, train)
    h = nn.relu(_batch_norm(self.norm, train, self.batch_axis_name)(h))
    return jnp.tanh(nn.Conv(channels, (3, 3), padding=1, name='to_rgb')(h))


class SNGANResNetDiscriminator(_Discriminator):
  """images -> [B] outputs: the ResNet D."""

  @nn.compact
  def __call__(
      self, x: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)
    features = 2 * self.width
    h = x
    for block, (down, first) in enumerate(
        ((True, True), (True, False), (False, False), (False, False))
    ):
      h = DiscriminatorBlock(
          features, down, first, self.norm, name=f'block{block}'
      )(h, train)
    h = jnp.sum(nn.relu(h), axis=(1, 2))  # Global sum pooling.
    return _discriminator_output(self, h, labels, d_layer(self.norm, train))
