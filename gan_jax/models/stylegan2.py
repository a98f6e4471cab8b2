"""StyleGAN2's generator and discriminator (Karras et al. 2020, "Analyzing
and Improving the Image Quality of StyleGAN"), config F where it applies,
sized from the image as the DCGAN family is.

Generator: z -> normalised to unit second moment -> mapping MLP (``depth``
layers, learning-rate multiplier 0.01) -> w. The synthesis network starts
from a learned constant at the base resolution and doubles it
``num_stages`` times (8 -> 4 one stage, 32 -> 4 three, 28 -> 7 two). Every
3x3 convolution is *modulated* by a style s = A(w) (an affine map of w,
bias 1) and *demodulated*:

  w'_{ijk} = s_i w_{ijk},   w''_{ijk} = w'_{ijk} / sqrt(sum_{i,k} w'_{ijk}^2 + eps)

(i input channel, j output channel, k tap), so that unit-variance inputs
give unit-variance outputs. It is computed as the paper's equivalent
"non-fused" form: inputs scaled by s, one shared convolution, outputs
scaled by the demodulation coefficient. Each convolution adds per-pixel
Gaussian noise times a learned strength (zero at init), a bias, and leaky
ReLU(0.2) times sqrt(2). Each resolution has a toRGB (modulated 1x1, no
demodulation) whose outputs are upsampled and summed (the skip generator).
Upsampling is the paper's: zeros inserted, then the [1, 3, 3, 1] filter
(bilinear). With ``w_avg`` (a running mean of w in the ``stylegan``
collection, decay 0.995) the truncation trick samples
w_avg + psi (w - w_avg).

Discriminator: fromRGB, then residual blocks (two 3x3 convolutions, the
second after a [1, 3, 3, 1] blur and stride 2; a 1x1 stride-2 skip after
the same blur; their sum times 1/sqrt(2)), a minibatch standard-deviation
feature (groups of up to 4), a 3x3 convolution, a dense layer and the
output, with a projection term when conditional.

Every weight uses the *equalised learning rate*: stored as N(0, 1/lr_mul)
and scaled at run time by lr_mul / sqrt(fan_in) (He's constant), biases by
lr_mul, so Adam's per-parameter steps act alike on every layer.

Randomness (per-pixel noise, style mixing) comes from the ``noise`` RNG
stream when the caller gives one (``rngs={'noise': key}``); without it the
noise is zero and no styles are mixed (deterministic inference).
"""

import functools
import math
import operator
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models.conditioning import check_labels
from gan_jax.models.dcgan import num_stages

NORMS = ('none',)  # Demodulation and the equalised learning rate instead.
SQRT2 = math.sqrt(2.0)
_FILTER = (1.0, 3.0, 3.0, 1.0)


def check_image_shape(shape: Sequence[int]) -> Optional[str]:
  """None if the StyleGAN2 pair can take images of ``shape``, else why."""
  if len(shape) != 3 or shape[0] != shape[1]:
    return f'images must be square (height, width, channels), got {shape}'
  if num_stages(shape[0]) == 0:
    return (
        f'image side {shape[0]} cannot be halved to an integer of at '
        'least 4; sides like 8, 28, 32 and 64 work'
    )
  return None


def draw(sampler, key: jax.Array, shape, axis_name: Optional[str]) -> jax.Array:
  """``sampler(key, shape)`` for this device's part of a batch of
  ``shape[0]`` per device: under shard_map or pmap over ``axis_name`` the
  draw is made for the global batch and each device keeps its block, so
  the result does not depend on how many devices share the batch."""
  if axis_name is None:
    return sampler(key, shape)
  count = lax.psum(1, axis_name)
  full = sampler(key, (count * shape[0], *shape[1:]))
  return lax.dynamic_slice_in_dim(
      full, lax.axis_index(axis_name) * shape[0], shape[0]
  )


def lrelu(x: jax.Array) -> jax.Array:
  """Leaky ReLU(0.2) with StyleGAN's gain sqrt(2), which keeps the second
  moment of He-initialised activations."""
  return nn.leaky_relu(x, 0.2) * SQRT2


def normalize_second_moment(x: jax.Array, eps: float = 1e-8) -> jax.Array:
  return x * lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def _fir_axis(
    x: jax.Array,
    axis: int,
    gain: float,
    stride: int,
    pad: Tuple[int, int],
    up: bool = False,
) -> jax.Array:
  """upfirdn along one axis with the [1, 3, 3, 1] filter (sum ``gain``):
  zeros inserted after each sample when ``up``, zero padding ``pad``, the
  4-tap filter, every ``stride``-th output. Written as shifted slices and
  adds: a depthwise convolution, and above all its gradient, is many times
  slower on XLA:CPU, and this is as fast elsewhere."""
  if up:
    x = jnp.stack([x, jnp.zeros_like(x)], axis=axis + 1)
    shape = list(x.shape)
    shape[axis : axis + 2] = [shape[axis] * 2]
    x = x.reshape(shape)
  widths = [(0, 0)] * x.ndim
  widths[axis] = pad
  x = jnp.pad(x, widths)
  taps = [t / sum(_FILTER) * gain for t in _FILTER]
  size = (x.shape[axis] - len(taps)) // stride + 1
  parts = [
      tap * lax.slice_in_dim(x, t, t + (size - 1) * stride + 1, stride, axis)
      for t, tap in enumerate(taps)
  ]
  return functools.reduce(operator.add, parts)


def _fir(
    x: jax.Array,
    gain: float,
    stride: int,
    pad: Tuple[int, int],
    up: bool = False,
) -> jax.Array:
  """The separable 2-D filter on [B, H, W, C]: the 1-D one on H, then W
  (each with the square root of the gain)."""
  for axis in (1, 2):
    x = _fir_axis(x, axis, math.sqrt(gain), stride, pad, up)
  return x


def upsample_2x(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, 2H, 2W, C]: zeros inserted after each pixel, then
  the [1, 3, 3, 1] filter with gain 4 (upfirdn2d with up=2, pad (2, 1):
  bilinear interpolation inside the image)."""
  return _fir(x, 4.0, 1, (2, 1), up=True)


def downsample_2x(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H/2, W/2, C]: the [1, 3, 3, 1] filter, every
  second pixel (upfirdn2d with down=2, pad (1, 1))."""
  return _fir(x, 1.0, 2, (1, 1))


def blur_before_strided_conv(x: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [B, H + 1, W + 1, C]: the filter that precedes a 3x3
  stride-2 'VALID' convolution, so that it gives H/2 (the paper's
  downsampling convolution; pad (2, 2))."""
  return _fir(x, 1.0, 1, (2, 2))


class EqualDense(nn.Module):
  """Dense with the equalised learning rate: kernel N(0, 1/lr_mul), used
  times lr_mul / sqrt(fan_in); bias (init ``bias_init``) used times
  lr_mul."""

  features: int
  lr_mul: float = 1.0
  bias_init: float = 0.0
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param(
        'kernel',
        nn.initializers.normal(1.0 / self.lr_mul),
        (fan_in, self.features),
    )
    y = x @ (kernel * (self.lr_mul / math.sqrt(fan_in))).astype(x.dtype)
    if self.use_bias:
      bias = self.param(
          'bias',
          nn.initializers.constant(self.bias_init / self.lr_mul),
          (self.features,),
      )
      y = y + (bias * self.lr_mul).astype(x.dtype)
    return y


class EqualConv(nn.Module):
  """A k x k convolution with the equalised learning rate (unit-normal
  kernel used times 1/sqrt(k k C_in)): 'SAME' at stride 1, 'VALID' at
  stride 2 (after blur_before_strided_conv)."""

  features: int
  kernel_size: int = 3
  stride: int = 1
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    kernel = self.param(
        'kernel',
        nn.initializers.normal(1.0),
        (k, k, x.shape[-1], self.features),
    )
    scale = 1.0 / math.sqrt(k * k * x.shape[-1])
    pad = ((k - 1) // 2, k // 2) if self.stride == 1 else (0, 0)
    y = lax.conv_general_dilated(
        x,
        (kernel * scale).astype(x.dtype),
        (self.stride, self.stride),
        (pad, pad),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
    )
    if self.use_bias:
      y = y + self.param(
          'bias', nn.initializers.zeros_init(), (self.features,)
      ).astype(x.dtype)
    return y


def demodulation(
    kernel: jax.Array, styles: jax.Array, eps: float = 1e-8
) -> jax.Array:
  """[B, C_out]: 1 / sqrt(sum_{taps, i} (s_i w_{ijk})^2 + eps) for a kernel
  [k, k, C_in, C_out] (already scaled) and styles [B, C_in]."""
  squared = jnp.einsum('hwio,bi->bo', jnp.square(kernel), jnp.square(styles))
  return lax.rsqrt(squared + eps)


class ModulatedConv(nn.Module):
  """A modulated (and, with ``demodulate``, demodulated) k x k convolution
  of x [B, H, W, C_in] by the style of w [B, w_dim]; ``up`` upsamples x
  first. No bias, noise or activation (SynthesisLayer adds them)."""

  features: int
  kernel_size: int = 3
  demodulate: bool = True
  up: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    c_in, k = x.shape[-1], self.kernel_size
    styles = EqualDense(c_in, bias_init=1.0, name='affine')(w)
    kernel = self.param(
        'kernel', nn.initializers.normal(1.0), (k, k, c_in, self.features)
    )
    kernel = kernel / math.sqrt(k * k * c_in)
    if self.up:
      x = upsample_2x(x)
    pad = ((k - 1) // 2, k // 2)
    y = lax.conv_general_dilated(
        x * styles[:, None, None, :].astype(x.dtype),
        kernel.astype(x.dtype),
        (1, 1),
        (pad, pad),
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'),
    )
    if self.demodulate:
      y = y * demodulation(kernel, styles)[:, None, None, :].astype(y.dtype)
    return y


class SynthesisLayer(nn.Module):
  """Modulated 3x3 convolution, per-pixel noise times a learned strength,
  bias, leaky ReLU."""

  features: int
  up: bool = False
  batch_axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    y = ModulatedConv(self.features, 3, up=self.up, name='conv')(x, w)
    strength = self.param('noise_strength', nn.initializers.zeros_init(), ())
    if self.has_rng('noise'):
      noise = draw(
          jax.random.normal,
          self.make_rng('noise'),
          (*y.shape[:3], 1),
          self.batch_axis_name,
      ).astype(y.dtype)
      y = y + noise * strength.astype(y.dtype)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return lrelu(y + bias.astype(y.dtype))


class ToRGB(nn.Module):
  """Modulated 1x1 convolution to the image's channels, no
  demodulation, plus a bias."""

  channels: int

  @nn.compact
  def __call__(self, x: jax.Array, w: jax.Array) -> jax.Array:
    y = ModulatedConv(self.channels, 1, demodulate=False, name='conv')(x, w)
    bias = self.param('bias', nn.initializers.zeros_init(), (self.channels,))
    return y + bias.astype(y.dtype)


def channels_at(width: int, stages: int, level: int) -> int:
  """Channels at ``level`` (0: the base resolution) of ``stages``
  doublings: ``width`` at the image, doubling towards the base, at most
  8 x width (StyleGAN2's 512 at 64x64 with width 64)."""
  return min(8 * width, width * 2 ** (stages - level))


class Mapping(nn.Module):
  """z [B, Z] (and labels) -> w [B, w_dim]."""

  w_dim: int
  depth: int = 8
  num_classes: int = 0
  lr_mul: float = 0.01

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array]) -> jax.Array:
    x = normalize_second_moment(z)
    if self.num_classes:
      embedded = EqualDense(self.w_dim, name='embed')(
          jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)
      )
      x = jnp.concatenate([x, normalize_second_moment(embedded)], axis=-1)
    for i in range(self.depth):
      x = lrelu(
          EqualDense(self.w_dim, lr_mul=self.lr_mul, name=f'Dense_{i}')(x)
      )
    return x


class StyleGAN2Generator(nn.Module):
  """z [B, latent_dim] -> images [B, H, W, C]: linear, as StyleGAN2's
  (clipped when shown), or in (-1, 1) through tanh with ``squash_output``.

  ``__call__`` is ``synthesis(mapping_ws(z))``. ``truncation_psi`` < 1
  pulls w towards the tracked mean w_avg in inference; ``mixing_prob`` is
  the chance that a training sample takes its styles from a second z after
  a random layer (decided per sample)."""

  output_shape: Sequence[int] = (32, 32, 3)
  width: int = 64
  depth: int = 8  # Mapping layers.
  w_dim: int = 256
  num_classes: int = 0
  mixing_prob: float = 0.9
  truncation_psi: float = 1.0
  # tanh on the images (the paper's are linear; see docs/images.md).
  squash_output: bool = False
  w_avg_decay: float = 0.995
  # Under shard_map or pmap: noise and mixing drawn for the global batch.
  batch_axis_name: Optional[str] = None

  def setup(self):
    side, _, channels = self.output_shape
    stages = self.stages = num_stages(side)
    base = side >> stages
    self.mapping = Mapping(self.w_dim, self.depth, self.num_classes)
    self.const = self.param(
        'const',
        nn.initializers.normal(1.0),
        (base, base, channels_at(self.width, stages, 0)),
    )
    self.w_avg = self.variable('stylegan', 'w_avg', jnp.zeros, (self.w_dim,))
    axis = self.batch_axis_name
    convs = [
        SynthesisLayer(
            self.const.shape[-1], batch_axis_name=axis, name='b0_conv'
        )
    ]
    rgbs = [ToRGB(channels, name='b0_torgb')]
    for level in range(1, stages + 1):
      features = channels_at(self.width, stages, level)
      convs += [
          SynthesisLayer(
              features, up=True, batch_axis_name=axis, name=f'b{level}_conv0'
          ),
          SynthesisLayer(
              features, batch_axis_name=axis, name=f'b{level}_conv1'
          ),
      ]
      rgbs.append(ToRGB(channels, name=f'b{level}_torgb'))
    self.convs, self.rgbs = convs, rgbs

  def num_ws(self) -> int:
    """One w per synthesis layer and per toRGB not shared: 2 + 2 x stages
    (the paper's 2 log2(res) - 2 at a base of 4)."""
    return 2 + 2 * num_stages(self.output_shape[0])

  def __call__(
      self, z: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    return self.synthesis(self.mapping_ws(z, labels, train))

  def mapping_ws(
      self, z: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    """z -> ws [B, num_ws, w_dim]: in training w_avg is updated and styles
    are mixed (with a ``noise`` RNG); in inference w is truncated."""
    check_labels(self.num_classes, labels)
    w = self.mapping(z, labels)
    if train and not self.is_initializing():
      mean = jnp.mean(w.astype(jnp.float32), axis=0)
      if self.batch_axis_name is not None:
        mean = lax.pmean(mean, self.batch_axis_name)
      self.w_avg.value = (
          self.w_avg_decay * self.w_avg.value + (1 - self.w_avg_decay) * mean
      )
    num_ws = self.num_ws()
    ws = jnp.repeat(w[:, None], num_ws, axis=1)
    if train and self.mixing_prob > 0 and self.has_rng('noise'):
      ws = self._mix(ws, z, labels, num_ws)
    if not train and self.truncation_psi != 1.0:
      avg = self.w_avg.value.astype(ws.dtype)
      ws = avg + self.truncation_psi * (ws - avg)
    return ws

  def _mix(self, ws, z, labels, num_ws):
    """Style mixing: with probability mixing_prob a sample's layers from a
    random cutoff on take the w of a second z."""
    z_key, cut_key, use_key = jax.random.split(self.make_rng('noise'), 3)
    axis, batch = self.batch_axis_name, z.shape[0]
    w2 = self.mapping(
        draw(jax.random.normal, z_key, z.shape, axis).astype(z.dtype), labels
    )
    cutoff = draw(
        lambda k, s: jax.random.randint(k, s, 1, num_ws),
        cut_key,
        (batch,),
        axis,
    )
    use = draw(jax.random.uniform, use_key, (batch,), axis) < self.mixing_prob
    cutoff = jnp.where(use, cutoff, num_ws)
    second = jnp.arange(num_ws)[None, :] >= cutoff[:, None]
    return jnp.where(second[..., None], w2[:, None].astype(ws.dtype), ws)

  def synthesis(self, ws: jax.Array, train: bool = True) -> jax.Array:
    """ws [B, num_ws, w_dim] -> images: block L reads ws[2L - 1 .. 2L + 1]
    (the base block ws[0] and ws[1]). ``train`` changes nothing: the
    interface of the other methods."""
    del train
    x = jnp.broadcast_to(
        self.const.astype(ws.dtype), (ws.shape[0], *self.const.shape)
    )
    x = self.convs[0](x, ws[:, 0])
    rgb = self.rgbs[0](x, ws[:, 1])
    for level in range(1, self.stages + 1):
      i = 2 * level - 1
      x = self.convs[2 * level - 1](x, ws[:, i])
      x = self.convs[2 * level](x, ws[:, i + 1])
      rgb = upsample_2x(rgb) + self.rgbs[level](x, ws[:, i + 2])
    return jnp.tanh(rgb) if self.squash_output else rgb


def minibatch_stddev(
    x: jax.Array, group_size: int = 4, axis_name: Optional[str] = None
) -> jax.Array:
  """x [B, H, W, C] with one more channel: within groups of
  min(group_size, B) samples (sample b in group b mod (B / G)), the standard
  deviation of each feature over the group, averaged over features and
  pixels, broadcast to the group's samples. Under shard_map or pmap over
  ``axis_name`` the groups are those of the global batch (gathered), so
  the feature does not depend on the device count."""
  if axis_name is not None:
    full = minibatch_stddev(
        lax.all_gather(x, axis_name, tiled=True), group_size
    )
    return lax.dynamic_slice_in_dim(
        full, lax.axis_index(axis_name) * x.shape[0], x.shape[0]
    )
  batch, height, width, channels = x.shape
  group = min(group_size, batch)
  if batch % group:
    raise ValueError(
        f'minibatch stddev: batch {batch} is not a multiple of '
        f'the group size {group}'
    )
  y = x.reshape(group, batch // group, height, width, channels)
  y = y.astype(jnp.float32)
  std = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)  # [B/G, H, W, C]
  std = jnp.mean(std, axis=(1, 2, 3))  # [B/G]
  std = jnp.tile(std, group).astype(x.dtype)  # sample b: b mod B/G
  feature = jnp.broadcast_to(
      std[:, None, None, None], (batch, height, width, 1)
  )
  return jnp.concatenate([x, feature], axis=-1)


class StyleGAN2Discriminator(nn.Module):
  """images [B, H, W, C] -> [B] outputs: residual D."""

  width: int = 64
  num_classes: int = 0
  mbstd_group: int = 4
  batch_axis_name: Optional[str] = None  # Global minibatch-stddev groups.

  @nn.compact
  def __call__(
      self, x: jax.Array, labels: Optional[jax.Array] = None, train: bool = True
  ) -> jax.Array:
    check_labels(self.num_classes, labels)
    stages = num_stages(x.shape[1])
    h = lrelu(
        EqualConv(channels_at(self.width, stages, stages), 1, name='fromrgb')(x)
    )
    for level in range(stages, 0, -1):
      features = channels_at(self.width, stages, level - 1)
      skip = EqualConv(features, 1, use_bias=False, name=f'b{level}_skip')(
          downsample_2x(h)
      )
      y = lrelu(EqualConv(h.shape[-1], 3, name=f'b{level}_conv0')(h))
      y = lrelu(
          EqualConv(features, 3, stride=2, name=f'b{level}_conv1')(
              blur_before_strided_conv(y)
          )
      )
      h = (skip + y) / SQRT2
    # (No device axis exists while the params are created.)
    axis = None if self.is_initializing() else self.batch_axis_name
    h = minibatch_stddev(h, self.mbstd_group, axis)
    h = lrelu(EqualConv(h.shape[-1] - 1, 3, name='epilogue_conv')(h))
    h = h.reshape((h.shape[0], -1))
    h = lrelu(
        EqualDense(channels_at(self.width, stages, 0), name='epilogue_dense')(h)
    )
    out = jnp.squeeze(EqualDense(1, name='out')(h), axis=-1)
    if self.num_classes:
      # Projection (Miyato & Koyama 2018) with an equalised embedding.
      embedded = EqualDense(h.shape[-1], use_bias=False, name='embed')(
          jax.nn.one_hot(labels, self.num_classes, dtype=h.dtype)
      )
      out = out + jnp.sum(embedded * h, axis=-1) / math.sqrt(h.shape[-1])
    return out
