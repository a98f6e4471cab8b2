"""DiffAugment: colour, translation and cutout, applied to everything D sees.

Zhao, Liu, Lin, Zhu and Han 2020, "Differentiable Augmentation for
Data-Efficient GAN Training" (arXiv:2006.10738). Each transform is
differentiable in the image, so G's gradient flows back through it. For an
image ``x`` of the batch ([H, W, C], in the data's range [-1, 1]) and its
own draws (``r ~ U[0, 1)``, integers uniform on the ranges shown):

* brightness: ``x + (r - 1/2)``, a shift in [-0.5, 0.5);
* saturation: ``m + 2 r (x - m)``, ``m`` each pixel's mean over the
  channels (a scale in [0, 2) of the colour; nothing on 1-channel data);
* contrast: ``m + (r + 1/2) (x - m)``, ``m`` the image's mean over H, W
  and C (a scale in [0.5, 1.5));
* translation by ``(t_h, t_w)``, ``t ~ U{-s, ..., s}``,
  ``s = int(side * ratio + 1/2)`` per axis (ratio 1/8)::

      out[i, j] = x[i + t_h, j + t_w]  where that pixel exists, else 0

  (a positive shift moves the content up / left; zeros come in);
* cutout of a ``k_h x k_w`` rectangle, ``k = int(side * ratio + 1/2)``
  (ratio 1/2), at offsets ``o ~ U{0, ..., side - (k mod 2)}``: the pixels
  with ``o_h - k_h // 2 <= i < o_h - k_h // 2 + k_h`` and likewise for
  ``j`` are set to 0. The rectangle may hang over the edge (a smaller hole
  there) but always overlaps the image.

:func:`diffaugment` applies them in the authors' order (colour:
brightness, saturation, contrast; then translation; then cutout), each
with fresh per-example draws. The conventions (the direction of the
shift, the rounding of the sizes, the range of the cutout's offset) are
those of the authors' PyTorch code (``DiffAugment_pytorch.py`` in
mit-han-lab/data-efficient-gans, its StyleGAN2 version); the tests check
each transform against a PyTorch reference written in that formulation.

The transforms take their random numbers as arguments, so they are pure
functions a test can compare. :func:`diffaugment` draws them through
``draw(sampler, key, shape)``; the plug-in passes ``ctx.draw``, which
draws for the global batch and keeps this device's slice, so the result
does not depend on the device count.
"""

import functools
from typing import Callable, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax.augment import AUGMENTATIONS, Augmentation, images_only
from gan_jax.context import Context
from gan_jax.hparams import HParam

Array = jax.Array
Sampler = Callable[[Array, Tuple[int, ...]], Array]
Draw = Callable[[Sampler, Array, Tuple[int, ...]], Array]


def _per_example(values: Array, x: Array) -> Array:
  """``values`` [B] shaped to broadcast over ``x`` [B, H, W, C], in its
  dtype (so bfloat16 images stay bfloat16)."""
  return values.astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))


def brightness(x: Array, r: Array) -> Array:
  """``x + (r - 1/2)``: each image shifted by its own amount in [-0.5, 0.5).

  Args:
    x: images [B, H, W, C].
    r: uniform draws in [0, 1) [B].
  """
  return x + _per_example(r - 0.5, x)


def saturation(x: Array, r: Array) -> Array:
  """Each pixel's deviation from its mean over the channels scaled by
  ``2 r`` (in [0, 2): 0 makes the image grey). The identity on 1-channel
  images, where a pixel is its own mean."""
  mean = jnp.mean(x, axis=-1, keepdims=True)
  return (x - mean) * _per_example(2.0 * r, x) + mean


def contrast(x: Array, r: Array) -> Array:
  """Each image's deviation from its mean (over H, W and C) scaled by
  ``r + 1/2`` (in [0.5, 1.5))."""
  mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  return (x - mean) * _per_example(r + 0.5, x) + mean


def _shift_axis(x: Array, shift: Array, axis: int) -> Array:
  """``out[.., i, ..] = x[.., i + shift, ..]`` along ``axis`` (1 or 2),
  per example, 0 where ``i + shift`` is off the image."""
  size = x.shape[axis]
  # Which input row (or column) each output one reads: an index grid per
  # example. Off the image it reads a clipped, valid index and is then
  # zeroed, so any integer shift is exact and nothing is padded.
  source = jnp.arange(size) + shift.astype(jnp.int32)[:, None]  # [B, size]
  inside = (source >= 0) & (source < size)
  shape = [1] * x.ndim
  shape[0], shape[axis] = -1, size
  moved = jnp.take_along_axis(
      x, jnp.clip(source, 0, size - 1).reshape(shape), axis=axis
  )
  # where, not a product with a 0/1 mask: an inf at the image's edge must
  # not become a NaN in the zeros that come in.
  return jnp.where(inside.reshape(shape), moved, jnp.zeros((), x.dtype))


def translation(x: Array, shift_h: Array, shift_w: Array) -> Array:
  """Each image moved by its own integer shift, zeros filling in:
  ``out[b, i, j] = x[b, i + shift_h[b], j + shift_w[b]]`` where that pixel
  exists, else 0 (the authors' sign: a positive shift moves the content up
  and left). A 2-D shift with zero fill is one shift per axis in turn.

  Args:
    x: images [B, H, W, C].
    shift_h, shift_w: integer shifts [B] (any size; beyond the side the
      image is all zeros).
  """
  return _shift_axis(_shift_axis(x, shift_h, 1), shift_w, 2)


def translation_range(side: int, ratio: float) -> int:
  """The largest shift along a side: ``int(side * ratio + 1/2)`` (the
  authors' rounding, half up), 4 on 32 pixels at the paper's 1/8."""
  return int(side * ratio + 0.5)


def cutout_size(side: int, ratio: float) -> int:
  """The cutout's extent along a side: ``int(side * ratio + 1/2)``."""
  return int(side * ratio + 0.5)


def cutout_offset_count(side: int, ratio: float) -> int:
  """How many offsets the cutout draws along a side, ``0 .. count - 1``:
  ``side + 1`` for an even size, ``side`` for an odd one (the authors'
  range, which keeps every hole overlapping the image)."""
  return side + 1 - cutout_size(side, ratio) % 2


def cutout(
    x: Array, offset_h: Array, offset_w: Array, ratio: float = 0.5
) -> Array:
  """Each image with a rectangle of zeros: rows ``offset_h - k_h // 2``
  to ``offset_h - k_h // 2 + k_h - 1`` (``k_h = cutout_size(H, ratio)``)
  and likewise columns, clipped to the image.

  Args:
    x: images [B, H, W, C].
    offset_h, offset_w: integer offsets [B], drawn in
      ``[0, cutout_offset_count(side, ratio))``.
    ratio: the rectangle's side over the image's (a Python float: it sets
      a shape).
  """
  _, height, width, _ = x.shape

  def outside(offset: Array, side: int) -> Array:
    # [B, side]: whether each row (column) lies outside the hole's span,
    # by comparison with an index grid (no scatter, unlike a mask written
    # at the hole's indices).
    size = cutout_size(side, ratio)
    start = offset.astype(jnp.int32)[:, None] - size // 2
    index = jnp.arange(side)
    return (index < start) | (index >= start + size)

  keep = (
      outside(offset_h, height)[:, :, None]
      | outside(offset_w, width)[:, None, :]
  )
  # A product, as the authors': the hole passes no gradient.
  return x * keep[..., None].astype(x.dtype)


def _draw_directly(sampler: Sampler, key: Array, shape: Tuple[int, ...]):
  return sampler(key, shape)


def _integers(low: int, high: int) -> Sampler:
  """A sampler of integers uniform on ``low .. high - 1``."""
  return functools.partial(jax.random.randint, minval=low, maxval=high)


# diffaugment's switches are named after the transforms (as the config's
# fields are), so inside it the functions go by these names.
_translate, _cut_out = translation, cutout


def diffaugment(
    images: Array,
    key: Array,
    draw: Optional[Draw] = None,
    color: bool = True,
    translation: bool = True,
    cutout: bool = True,
    translation_ratio: float = 0.125,
    cutout_ratio: float = 0.5,
) -> Array:
  """The DiffAugment policy (see the module docstring) on ``images``.

  Args:
    images: [B, H, W, C], in the data's range.
    key: the PRNG key all the draws come from.
    draw: ``draw(sampler, key, shape) -> sampler(key, shape)`` for this
      batch (default: exactly that); ``ctx.draw`` under per-device steps.
    color, translation, cutout: which parts of the policy to apply (the
      authors' ``'color,translation,cutout'`` is all three).
    translation_ratio, cutout_ratio: the shift's largest size and the
      hole's size as fractions of the side (Python floats).

  Returns:
    The augmented images, of the input's shape and dtype.
  """
  draw = draw or _draw_directly
  batch, height, width, _ = images.shape
  # One key per draw, whatever is switched on: turning colour off leaves
  # the translation's and the cutout's numbers as they were.
  keys = jax.random.split(key, 7)
  x = images
  if color:
    for transform, k in zip((brightness, saturation, contrast), keys[:3]):
      x = transform(x, draw(jax.random.uniform, k, (batch,)))
  if translation:
    reach_h = translation_range(height, translation_ratio)
    reach_w = translation_range(width, translation_ratio)
    if reach_h or reach_w:  # Else every shift is 0.
      shift_h = draw(_integers(-reach_h, reach_h + 1), keys[3], (batch,))
      shift_w = draw(_integers(-reach_w, reach_w + 1), keys[4], (batch,))
      x = _translate(x, shift_h, shift_w)
  if cutout:
    if cutout_size(height, cutout_ratio) and cutout_size(width, cutout_ratio):
      offset_h, offset_w = (
          draw(
              _integers(0, cutout_offset_count(side, cutout_ratio)), k, (batch,)
          )
          for side, k in ((height, keys[5]), (width, keys[6]))
      )
      x = _cut_out(x, offset_h, offset_w, ratio=cutout_ratio)
  return x


COLOR = HParam(
    'diffaug_color',
    True,
    field='augment.color',
    batchable=False,
    doc="DiffAugment's colour transforms (brightness, saturation, contrast)",
)
TRANSLATION = HParam(
    'diffaug_translation',
    True,
    field='augment.translation',
    batchable=False,
    doc="DiffAugment's random translation, zeros filling in",
)
CUTOUT = HParam(
    'diffaug_cutout',
    True,
    field='augment.cutout',
    batchable=False,
    doc="DiffAugment's cutout of a random rectangle",
)
TRANSLATION_RATIO = HParam(
    'diffaug_translation_ratio',
    0.125,
    field='augment.translation_ratio',
    low=0.0,
    high=1.0,
    batchable=False,  # It sets the range of an integer draw.
    doc="DiffAugment's largest shift, as a fraction of the image's side",
)
CUTOUT_RATIO = HParam(
    'diffaug_cutout_ratio',
    0.5,
    field='augment.cutout_ratio',
    low=0.0,
    high=1.0,
    batchable=False,  # It sets the hole's size, a shape.
    doc="DiffAugment's cutout size, as a fraction of the image's side",
)


def apply(images: Array, ctx: Context) -> Array:
  """The plug-in: :func:`diffaugment` with ``ctx.rng``, ``ctx.draw`` and
  the scalars in ``ctx.hparams``."""
  hparams = ctx.hparams
  return diffaugment(
      images,
      ctx.rng,
      draw=ctx.draw,
      color=hparams[COLOR.name],
      translation=hparams[TRANSLATION.name],
      cutout=hparams[CUTOUT.name],
      translation_ratio=hparams[TRANSLATION_RATIO.name],
      cutout_ratio=hparams[CUTOUT_RATIO.name],
  )


AUGMENTATIONS.register(
    'diffaugment',
    Augmentation(
        apply=apply,
        hparams=(COLOR, TRANSLATION, CUTOUT, TRANSLATION_RATIO, CUTOUT_RATIO),
        check=images_only('diffaugment'),
    ),
)
