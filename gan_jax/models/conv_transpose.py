"""DCGAN's 4x4 stride-2 convolutions, with fast gradients on XLA:CPU.

``ConvTranspose4x4`` computes exactly what ``flax.linen.ConvTranspose(
features, (4, 4), strides=(2, 2))`` computes (same forward op, same params,
same initialisation; tests/test_conv_transpose.py). Only the gradient with
respect to the kernel is formulated differently.

Why: a transposed convolution is a convolution of the input dilated by the
stride. XLA:CPU runs its forward pass and its input gradient at the speed of
an ordinary convolution, but its kernel gradient -- a convolution of the
dilated input with the output gradient -- about 20x slower (7x7x128 -> 14x14x64
at batch 64: forward 8 ms, input gradient 7 ms, kernel gradient 180 ms).
Here the kernel gradient is one matrix product instead: every input pixel i
contributes ``x[i] @ kernel[t, u]`` to output pixel ``(2i + 2 - t, 2j + 2 -
u)``, so

  dkernel[t, u] = sum over pixels of x[i, j]^T g[2i + 2 - t, 2j + 2 - u],

i.e. ``x^T @ unfold(g)`` with ``unfold(g)`` the 16 strided views of the
padded output gradient (``_unfold``): [B*H*W, C_in]^T x [B*H*W, 16*C_out].
The layer's forward and backward then take 23 ms instead of 197 ms. (Other
formulations measured on the same machine: sub-pixel, one stride-1 3x3
convolution to 4x the channels then depth-to-space, 51 ms, since 5 of its 9
taps per phase are zeros; four 2x2 phase convolutions, 38 ms; a matrix
product followed by a col2im overlap-add, 35 ms, its data movement costing
more than the product.)

``Conv4x4`` is ``flax.linen.Conv(features, (4, 4), strides=(2, 2))``, the
discriminator's layer, with its input gradient written as the transposed
convolution above (kernel flipped, channels swapped). Its first-order
gradients are XLA's own speed; what changes is the second order: WGAN-GP's
and R1's penalties differentiate D's input gradient with respect to D's
kernels, and XLA's input gradient of a strided convolution is a convolution
of the dilated output gradient -- the slow kernel-gradient path again.
"""

import functools
from typing import Callable, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models.initializers import lecun_normal_kernel

_KERNEL, _STRIDE = 4, 2
_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def _conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """What flax's ConvTranspose does with padding 'SAME': [B, H, W, C_in] ->
  [B, 2H, 2W, C_out]."""
  return lax.conv_transpose(
      x, kernel, (_STRIDE, _STRIDE), 'SAME', dimension_numbers=_DIMENSIONS
  )


def _unfold(g: jax.Array) -> jax.Array:
  """[B, 2H, 2W, C] -> [B, H, W, 4, 4, C]: entry (i, j, t, u) is
  g[2i + 2 - t, 2j + 2 - u], zero outside the image."""
  height, width = g.shape[1] // _STRIDE, g.shape[2] // _STRIDE
  padded = jnp.pad(g, ((0, 0), (1, 1), (1, 1), (0, 0)))

  def view(t, u):  # Padded index 2i + 3 - t, every second row.
    return padded[
        :, 3 - t : 3 - t + 2 * height : 2, 3 - u : 3 - u + 2 * width : 2
    ]

  return jnp.stack(
      [
          jnp.stack([view(t, u) for u in range(_KERNEL)], axis=3)
          for t in range(_KERNEL)
      ],
      axis=3,
  )


@jax.custom_vjp
def conv_transpose_4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The 4x4 stride-2 'SAME' transposed convolution (see the module
  docstring); kernel [4, 4, C_in, C_out]."""
  return _conv_transpose(x, kernel)


def _forward(x, kernel):
  return _conv_transpose(x, kernel), (x, kernel)


def _backward(residuals, g):
  x, kernel = residuals
  # The input gradient is a strided convolution: XLA's own is fast.
  _, input_vjp = jax.vjp(lambda x: _conv_transpose(x, kernel), x)
  (dx,) = input_vjp(g)
  c_in, c_out = x.shape[-1], g.shape[-1]
  dkernel = x.reshape(-1, c_in).T @ _unfold(g).reshape(
      -1, _KERNEL * _KERNEL * c_out
  )
  dkernel = dkernel.reshape(c_in, _KERNEL, _KERNEL, c_out)
  return dx, dkernel.transpose(1, 2, 0, 3)


conv_transpose_4x4.defvjp(_forward, _backward)


class _Layer4x4(nn.Module):
  """A 4x4 stride-2 layer with flax's params: 'kernel' [4, 4, C_in,
  features] (lecun normal) and 'bias' (zeros)."""

  features: int
  use_bias: bool = True
  # flax's lecun normal, drawn as a matrix: the same numbers, compiled
  # faster (models/initializers.py).
  kernel_init: Callable = lecun_normal_kernel
  bias_init: Callable = nn.initializers.zeros_init()

  def _apply(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    raise NotImplementedError

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param(
        'kernel',
        self.kernel_init,
        (_KERNEL, _KERNEL, x.shape[-1], self.features),
    )
    y = self._apply(x, kernel)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,))
    return y


class ConvTranspose4x4(_Layer4x4):
  """``nn.ConvTranspose(features, (4, 4), strides=(2, 2))`` with the fast
  kernel gradient: the same params, initialisers and outputs."""

  def _apply(self, x, kernel):
    return conv_transpose_4x4(x, kernel)


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """What flax's Conv does with strides 2 and padding 'SAME'."""
  return lax.conv_general_dilated(
      x, kernel, (_STRIDE, _STRIDE), 'SAME', dimension_numbers=_DIMENSIONS
  )


@jax.custom_vjp
def conv_4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """The 4x4 stride-2 'SAME' convolution of even-sized images (see the
  module docstring); kernel [4, 4, C_in, C_out]."""
  return _conv(x, kernel)


def _conv_forward(x, kernel):
  return _conv(x, kernel), (x, kernel)


def _conv_backward(residuals, g):
  x, kernel = residuals
  # y[i] = sum_t x[2i + t - 1] k[t], so dx[j] = sum_t' g_dilated[j + t' - 2]
  # k[3 - t']: a transposed convolution with the flipped kernel.
  dx = conv_transpose_4x4(g, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
  _, kernel_vjp = jax.vjp(lambda k: _conv(x, k), kernel)
  (dkernel,) = kernel_vjp(g)
  return dx, dkernel


conv_4x4.defvjp(_conv_forward, _conv_backward)


class Conv4x4(_Layer4x4):
  """``nn.Conv(features, (4, 4), strides=(2, 2))`` on images of even side,
  with the input gradient above: same params, initialisers, outputs."""

  def _apply(self, x, kernel):
    if x.shape[-3] % 2 or x.shape[-2] % 2:
      raise ValueError(f'Conv4x4 takes even image sides, got {x.shape}')
    return conv_4x4(x, kernel)


# flax's own layers with the same params, names and initialisation: the
# standard forms, which cuDNN and the TPU compiler are built for.
StandardConvTranspose4x4 = functools.partial(
    nn.ConvTranspose,
    kernel_size=(_KERNEL, _KERNEL),
    strides=(_STRIDE, _STRIDE),
    padding='SAME',
    kernel_init=lecun_normal_kernel,
)
StandardConv4x4 = functools.partial(
    nn.Conv,
    kernel_size=(_KERNEL, _KERNEL),
    strides=(_STRIDE, _STRIDE),
    padding='SAME',
    kernel_init=lecun_normal_kernel,
)


def layers_4x4(
    cpu: bool,
) -> Tuple[Callable[..., nn.Module], Callable[..., nn.Module]]:
  """(transposed convolution, convolution) for 4x4 stride-2 layers: the
  XLA:CPU formulations above when ``cpu``, flax's own otherwise. Both are
  called (features, use_bias=, name=) and give the same params and outputs.
  """
  if cpu:
    return ConvTranspose4x4, Conv4x4
  return StandardConvTranspose4x4, StandardConv4x4
