"""CycleGAN's networks (Zhu et al. 2017, Sec. 4 and Appendix 7.2), sized
from the image, and MLPs for 2-D pairs.

Generator (Johnson et al. 2016's architecture): c7s1-w, then ``downsamples``
3x3 stride-2 convolutions doubling the width, ``blocks`` residual blocks
(two 3x3 convolutions each), as many 3x3 stride-1/2 transposed
convolutions back, and c7s1-C with tanh. Reflection padding on the 7x7 and
the residual convolutions, instance norm (no affine parameters, as in the
reference code) and ReLU after every convolution but the last. The paper
uses 2 downsamplings and 6 blocks at 128x128, 9 at 256x256.

Discriminator (PatchGAN, Isola et al. 2017): 4x4 convolutions C64 (no
norm), C128, C256 with stride 2, C512 with stride 1, then a 1-channel 4x4
convolution; LeakyReLU 0.2 and instance norm. Its outputs are a grid of
real/fake values, each judging a 70x70 patch. With ``strided`` stride-2
layers (3 above) the patch is 16, 34 or 70 pixels: small images get fewer,
so the grid keeps at least 2x2 outputs.

Weights are drawn from N(0, 0.02) as in the reference code.
"""

import math
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator

_INIT = nn.initializers.normal(stddev=0.02)


def generator_size(image_size: int):
  """(downsamples, residual blocks) for square images of ``image_size``:
  the paper's 2 and 6 at 128, 9 from 256; 4 blocks from 32 and 2 below
  (8x8 digits); one downsampling below 16 pixels, so the residual blocks
  still see a 4x4 map."""
  downsamples = 2 if image_size >= 16 else 1
  if image_size >= 256:
    blocks = 9
  elif image_size >= 128:
    blocks = 6
  elif image_size >= 32:
    blocks = 4
  else:
    blocks = 2
  return downsamples, blocks


def discriminator_strided(image_size: int) -> int:
  """Stride-2 layers of the PatchGAN: 3 (70x70 patches) from 64 pixels, 2
  (34x34) at 32, 1 (16x16) below."""
  return max(1, min(3, int(math.log2(image_size)) - 3))


def patch_size(strided: int) -> int:
  """The receptive field of one PatchGAN output: 16, 34, 70 for 1, 2, 3."""
  field = 1 + 3 + 3  # The last two stride-1 4x4 convolutions.
  for _ in range(strided):
    field = (field - 1) * 2 + 4
  return field


def _instance_norm(h: jax.Array) -> jax.Array:
  return nn.InstanceNorm(use_scale=False, use_bias=False, epsilon=1e-5)(h)


def _reflect(h: jax.Array, pad: int) -> jax.Array:
  return jnp.pad(h, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode='reflect')


class ResnetGenerator(nn.Module):
  """Images [B, H, W, C_in] in [-1, 1] -> images [B, H, W, channels]."""

  channels: int
  width: int = 64
  downsamples: int = 2
  blocks: int = 6

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train  # Instance norm has no running statistics.
    conv = lambda features, size, **kw: nn.Conv(
        features, (size, size), use_bias=False, kernel_init=_INIT, **kw
    )
    h = nn.relu(
        _instance_norm(conv(self.width, 7, padding='VALID')(_reflect(x, 3)))
    )
    for i in range(self.downsamples):
      h = nn.relu(
          _instance_norm(
              conv(self.width * 2 ** (i + 1), 3, strides=2, padding=1)(h)
          )
      )
    features = h.shape[-1]
    for _ in range(self.blocks):
      r = nn.relu(
          _instance_norm(conv(features, 3, padding='VALID')(_reflect(h, 1)))
      )
      h = h + _instance_norm(conv(features, 3, padding='VALID')(_reflect(r, 1)))
    for i in reversed(range(self.downsamples)):
      h = nn.ConvTranspose(
          self.width * 2**i,
          (3, 3),
          strides=(2, 2),
          padding='SAME',
          use_bias=False,
          kernel_init=_INIT,
      )(h)
      h = nn.relu(_instance_norm(h))
    out = nn.Conv(self.channels, (7, 7), padding='VALID', kernel_init=_INIT)(
        _reflect(h, 3)
    )
    return jnp.tanh(out)


class PatchDiscriminator(nn.Module):
  """Images [B, H, W, C] -> real/fake values per patch [B, H', W', 1].
  ``instance_norm`` False leaves the norm out: the outputs then depend on
  their patches alone (instance norm's statistics span the image)."""

  width: int = 64
  strided: int = 3
  instance_norm: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = True) -> jax.Array:
    del train
    conv = lambda features, stride, bias=False: nn.Conv(
        features,
        (4, 4),
        strides=stride,
        padding=1,
        use_bias=bias,
        kernel_init=_INIT,
    )
    h = nn.leaky_relu(conv(self.width, 2, bias=True)(x), 0.2)
    for i in range(1, self.strided + 1):
      # The last of these keeps the size (stride 1), as C512 does.
      stride = 2 if i < self.strided else 1
      h = conv(self.width * 2 ** min(i, 3), stride)(h)
      h = nn.leaky_relu(_instance_norm(h) if self.instance_norm else h, 0.2)
    return conv(1, 1, bias=True)(h)


def build_image_networks(
    x_shape: Sequence[int],
    y_shape: Sequence[int],
    g_width: int,
    d_width: int,
    blocks: int = 0,
):
  """(G: X -> Y, F: Y -> X, D_X, D_Y) for square images of one size;
  ``blocks`` 0 takes the count from the size."""
  downsamples, auto_blocks = generator_size(x_shape[0])
  blocks = blocks or auto_blocks
  strided = discriminator_strided(x_shape[0])
  g = ResnetGenerator(y_shape[-1], g_width, downsamples, blocks)
  f = ResnetGenerator(x_shape[-1], g_width, downsamples, blocks)
  return (
      g,
      f,
      PatchDiscriminator(d_width, strided),
      PatchDiscriminator(d_width, strided),
  )


def build_point_networks(g_width: int, d_width: int, depth: int):
  """(G, F, D_X, D_Y) for 2-D points: ReLU MLPs (the toy GAN's)."""
  g = MLPGenerator(output_shape=(2,), width=g_width, depth=depth)
  f = MLPGenerator(output_shape=(2,), width=g_width, depth=depth)
  return (
      g,
      f,
      MLPDiscriminator(width=d_width, depth=depth),
      MLPDiscriminator(width=d_width, depth=depth),
  )
