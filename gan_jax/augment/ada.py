r"""ADA: adaptive discriminator augmentation.

Karras, Aittala, Hellsten, Laine, Lehtinen and Aila 2020, "Training
Generative Adversarial Networks with Limited Data" (NeurIPS; Appendix B
for the pipeline, Sec. 3 for the heuristic). Every image D sees, real or
fake, in D's steps and in G's, goes through a random transform; each
elementary transform fires on each image with probability ``p``, and ``p``
is adapted during training so that D does not overfit the few reals.

The pipeline ('bgc': blit, geometric, colour), in the paper's order, for
an image of ``H x W`` pixels (pixel coordinates centred on the image, x
along W, y along H) and draws made anew for each image:

* pixel blitting, lossless:

  - x-flip with probability p: ``i ~ U{0, 1}``, mirror x when ``i = 1``;
  - 90-degree rotations with probability p: ``i ~ U{0, 3}`` quarter turns;
  - integer translation with probability p: ``t ~ U(-1/8, 1/8)^2`` of the
    image's size, rounded to whole pixels;

* general geometric transforms, composed into one 3x3 matrix per image:

  - isotropic scaling with probability p by ``s = 2^N(0, 0.2^2)`` (a
    log-normal of standard deviation 0.2 ln 2);
  - pre-rotation with probability ``p_rot`` by ``theta ~ U(-pi, pi)``;
  - anisotropic scaling with probability p by ``(s, 1/s)``,
    ``s = 2^N(0, 0.2^2)``;
  - post-rotation with probability ``p_rot`` by ``theta ~ U(-pi, pi)``;
  - fractional translation with probability p by ``t ~ N(0, 0.125^2)`` of
    the image's size per axis;

  where ``p_rot = 1 - sqrt(1 - p)``, so that an image is rotated at all
  (pre or post) with probability ``1 - (1 - p_rot)^2 = p``;

* colour transforms, composed into one 4x4 matrix ``C`` per image acting
  on ``(r, g, b, 1)``, with ``v = (1, 1, 1, 0) / sqrt(3)`` the luma axis:

  - brightness with probability p: add ``b ~ N(0, 0.2^2)`` to each channel;
  - contrast with probability p: multiply by ``c = 2^N(0, 0.5^2)``;
  - luma flip with probability p: ``i ~ U{0, 1}``, the Householder
    reflection ``I - 2 v v^T`` when ``i = 1``;
  - hue rotation with probability p by ``theta ~ U(-pi, pi)`` about ``v``;
  - saturation with probability p: ``v v^T + (I - v v^T) s``,
    ``s = 2^N(0, 1)``.

  The images are in [-1, 1], so brightness and contrast act about 0, as in
  the official code. On a 1-channel image a grey pixel ``x`` is the
  colour ``(x, x, x)``: brightness, contrast and the luma flip (which
  negates it) apply, hue and saturation do not (they leave grey alone);
  the official code's reduction, ``x -> mean_i sum_j C_ij x + mean_i
  C_i3`` over the colour rows ``i, j < 3``, is what :func:`recolor` does.
  Other channel counts are refused (with colour on: the luma axis is an
  RGB notion); blit and geometric transforms take any channel count.

The adaptive ``p`` (Sec. 3): every ``interval`` D steps (the paper's
N = 4 minibatches), with ``r_t = E[sign(D(x_real))]`` over the reals D
judged in those steps (augmented, as D saw them),

.. math:: p \leftarrow \mathrm{clip}\Big(p + \mathrm{sign}(r_t - \text{target})
          \,\frac{B \cdot \text{interval}}{\text{speed\_kimg} \cdot 1000},
          \,0,\, 1\Big)

with ``B`` the global batch, target 0.6 and speed 500 kimg (``p`` can go
from 0 to 1 in 500k reals), as the official ``training_loop.py`` does it
(``sign(0) = 0``: no step when ``r_t`` hits the target). The official code
clamps only at 0; clipping at 1 as well changes no transform (a ``p``
above 1 fires every one, as 1 does) but lets ``p`` come down at once when
D stops overfitting, instead of first unwinding an excess above 1.

Execution. Blits are exact pixel permutations, done as one index gather
per image with reflection at the borders (flipping twice is the identity
to the bit). The general transform resamples once, as the official code
does: reflection padding, 2x upsampling with the orthogonal ``sym6``
wavelet low-pass filter, bilinear sampling at twice the resolution, then
filtering with the same filter and 2x downsampling (against aliasing; the
filter's orthogonality makes up-then-down the identity, so an identity
matrix returns the image to float rounding). Here the reflection is
unbounded (a periodic mirror of the image, sampled by wrapping indices;
the official code pads by reflection up to one image width and by zeros
beyond), so no sample ever reads zeros. An image no transform of a stage
fired on is passed through that stage unchanged, bit for bit: ``p = 0``
is the identity exactly.

Differences from the official ``AugmentPipe`` ('bgc'): the blits run as
separate exact gathers, not folded into the geometric matrix (through the
filter, a flip of fine detail is not a flip: sym6 is not symmetric); the
2x grid is aligned with the filter's centre of mass, not its middle (see
``_DELAY``); reflection is unbounded (above); ``p`` is clipped at 1; the
image-space filtering ('f') and corruption ('n', 'c') groups are left out.

Every random number is drawn through ``draw(sampler, key, shape)``; the
plug-in passes ``ctx.draw``, which draws for the global batch and keeps
this device's slice, so the result does not depend on the device count.

State (``GANState.extra['ada']``, float32 scalars, so it checkpoints,
vmaps and averages over devices like the rest): ``p``, the probability in
force (-1 before the first D step: then ``p`` is the batchable ``ada_p``,
which lives in the state's hyperparameters, not in the spec that
``init_extra`` sees); ``signs`` and ``count``, the sum of the per-step
means of ``sign(D(real))`` and the number of steps since the last
adjustment; ``rt``, the last completed interval's ``r_t`` (0 before one).
With ``augment.adapt`` False, ``p`` stays ``ada_p`` and ``r_t`` is still
measured and logged.
"""

import functools
import math
from collections.abc import Mapping
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.augment import AUGMENTATIONS, Augmentation, images_only
from gan_jax.context import Context
from gan_jax.hparams import HParam

Array = jax.Array
Sampler = Callable[[Array, Tuple[int, ...]], Array]
Draw = Callable[[Sampler, Array, Tuple[int, ...]], Array]

# The elementary transforms, in the pipeline's order, by group.
BLIT = ('xflip', 'rotate90', 'xint')
GEOM = ('scale', 'rotate', 'aniso', 'xfrac')
COLOR = ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation')
TRANSFORMS = BLIT + GEOM + COLOR

# The paper's parameter distributions (Appendix B; the official defaults).
XINT_MAX = 0.125  # Integer translation: U(-1/8, 1/8) of the size.
SCALE_STD = 0.2  # log2 of the isotropic scale: N(0, 0.2^2).
ROTATE_MAX = math.pi  # Arbitrary rotation: U(-pi, pi).
ANISO_STD = 0.2  # log2 of the anisotropic scale.
XFRAC_STD = 0.125  # Fractional translation: N(0, 0.125^2) of the size.
BRIGHTNESS_STD = 0.2  # Brightness: N(0, 0.2^2), added.
CONTRAST_STD = 0.5  # log2 of the contrast.
HUE_MAX = math.pi  # Hue rotation: U(-pi, pi).
SATURATION_STD = 1.0  # log2 of the saturation.

# The orthogonal low-pass filter of the symlet 'sym6' (Daubechies' least
# asymmetric wavelet with 6 vanishing moments; the decomposition low-pass,
# sum sqrt(2), orthonormal to its even shifts), the official pipeline's
# anti-aliasing filter for the geometric transforms.
SYM6 = np.array(
    [
        0.015404109327027373,
        0.0034907120842174702,
        -0.11799011114819057,
        -0.048311742585633,
        0.4910559419267466,
        0.787641141030194,
        0.3379294217276218,
        -0.07263752278646252,
        -0.021060292512300564,
        0.04472490177066578,
        0.0017677118642428036,
        -0.007800708325034148,
    ]
)
# Where the filter puts things: input pixel n spreads over the upsampled
# samples 2n - 5 .. 2n + 6 (_OFFSET = 5, the official upfirdn2d's padding)
# and sits at their centre of mass, 2n + 0.0983 (sym6 is least asymmetric,
# not symmetric: its taps' centre of mass is 5.0983, not the middle 5.5).
# Pixel n is taken at 2n + _DELAY, the nearest float with a short binary
# expansion (25/256, so an identity matrix maps every sample to itself
# exactly). The official code, as we read it, takes 2n + 1/2, the middle:
# content it flips or rotates lands about 0.4 pixel off (here a rotated
# smooth image matches the exact rotation to about 1e-3, there 1e-2).
_OFFSET = len(SYM6) // 2 - 1
_DELAY = 0.09765625


class Params(NamedTuple):
  """One draw of the pipeline's parameters for a batch.

  Attributes:
    values: ``{name: [B] or [B, 2]}``, each transform's parameter with its
      identity value where it did not fire: 'xflip' (1. to flip),
      'rotate90' (quarter turns), 'xint' and 'xfrac' ([B, 2], (x, y), as
      fractions of the size), 'scale', 'aniso', 'contrast', 'saturation'
      (factors), 'rotate_pre', 'rotate_post', 'hue' (angles),
      'brightness' (an offset), 'lumaflip' (1. to flip).
    fired: ``{name: bool [B]}``, whether each fired (the rotation as
      'rotate_pre' and 'rotate_post').
  """

  values: Dict[str, Array]
  fired: Dict[str, Array]


def _draw_directly(sampler: Sampler, key: Array, shape: Tuple[int, ...]):
  return sampler(key, shape)


def rotation_probability(p: Any) -> Array:
  """``p_rot = 1 - sqrt(1 - p)``: the probability of each of the two
  rotations, so that one or both happen with probability ``p``."""
  return 1.0 - jnp.sqrt(jnp.clip(1.0 - p, 0.0, 1.0))


def _strengths(
    strengths: Optional[Mapping[str, Any]],
    blit: bool,
    geom: bool,
    color: bool,
    channels: int,
) -> Dict[str, Any]:
  """Each transform's multiplier of p: 1 unless ``strengths`` says
  otherwise, 0 for a group switched off and for hue and saturation on
  1-channel images (grey has neither)."""
  unknown = set(strengths or {}) - set(TRANSFORMS)
  if unknown:
    raise ValueError(
        f'unknown ADA transform(s) {sorted(unknown)}; valid: '
        f'{", ".join(TRANSFORMS)}'
    )
  out = {name: 1.0 for name in TRANSFORMS}
  out.update(strengths or {})
  for group, on in ((BLIT, blit), (GEOM, geom), (COLOR, color)):
    if not on:
      out.update({name: 0.0 for name in group})
  if channels == 1:
    out.update(hue=0.0, saturation=0.0)
  return out


def draw_parameters(
    key: Array,
    batch_size: int,
    p: Any,
    draw: Optional[Draw] = None,
    strengths: Optional[Mapping[str, Any]] = None,
) -> Params:
  """The random parameters of every transform for ``batch_size`` images.

  Three draws, whatever fires or is switched on (so switching a group off
  leaves the others' numbers as they were): uniforms deciding what fires,
  uniforms and normals for the parameters.

  Args:
    key: the PRNG key.
    batch_size: images in this (device's part of the) batch.
    p: the probability (a float or a traced scalar).
    draw: ``draw(sampler, key, shape)`` (default ``sampler(key, shape)``).
    strengths: ``{transform: multiplier of p}`` (names in
      :data:`TRANSFORMS`; 1 for those left out).
  """
  draw = draw or _draw_directly
  s = {name: 1.0 for name in TRANSFORMS}
  s.update(strengths or {})
  fire_key, uniform_key, normal_key = jax.random.split(key, 3)
  b = batch_size
  chance = draw(jax.random.uniform, fire_key, (b, 13))
  uniform = draw(jax.random.uniform, uniform_key, (b, 8))
  normal = draw(jax.random.normal, normal_key, (b, 7))
  p = jnp.asarray(p, jnp.float32)
  p_rot = rotation_probability(p * s['rotate'])
  # One column of ``chance`` per decision; the rotation decides twice.
  geometric = ('scale', 'rotate_pre', 'aniso', 'rotate_post', 'xfrac')
  columns = (*BLIT, *geometric, *COLOR)
  fired = {}
  for i, name in enumerate(columns):
    probability = p_rot if name.startswith('rotate_') else p * s[name]
    fired[name] = chance[:, i] < probability

  def pick(name, value, identity):
    mask = fired[name].reshape((-1,) + (1,) * (jnp.ndim(value) - 1))
    return jnp.where(mask, value, identity)

  values = {
      'xflip': pick('xflip', jnp.floor(uniform[:, 0] * 2), 0.0),
      'rotate90': pick('rotate90', jnp.floor(uniform[:, 1] * 4), 0.0),
      'xint': pick('xint', (uniform[:, 2:4] * 2 - 1) * XINT_MAX, 0.0),
      'scale': pick('scale', jnp.exp2(normal[:, 0] * SCALE_STD), 1.0),
      'rotate_pre': pick(
          'rotate_pre', (uniform[:, 4] * 2 - 1) * ROTATE_MAX, 0.0
      ),
      'aniso': pick('aniso', jnp.exp2(normal[:, 1] * ANISO_STD), 1.0),
      'rotate_post': pick(
          'rotate_post', (uniform[:, 5] * 2 - 1) * ROTATE_MAX, 0.0
      ),
      'xfrac': pick('xfrac', normal[:, 2:4] * XFRAC_STD, 0.0),
      'brightness': pick('brightness', normal[:, 4] * BRIGHTNESS_STD, 0.0),
      'contrast': pick('contrast', jnp.exp2(normal[:, 5] * CONTRAST_STD), 1.0),
      'lumaflip': pick('lumaflip', jnp.floor(uniform[:, 6] * 2), 0.0),
      'hue': pick('hue', (uniform[:, 7] * 2 - 1) * HUE_MAX, 0.0),
      'saturation': pick(
          'saturation', jnp.exp2(normal[:, 6] * SATURATION_STD), 1.0
      ),
  }
  return Params(values, fired)


# --- 3x3 (geometric) and 4x4 (colour) matrices, one per image -------------


# Full float32 precision in every product: on GPUs a float32 dot may run
# in TF32 (10-bit mantissa), coarse for coordinates (an index off by a
# pixel) and for the filter (a visible error on the identity).
_HIGHEST = jax.lax.Precision.HIGHEST


def _product(*matrices: Array) -> Array:
  """The (batched) matrix product of ``matrices``, left to right."""
  return functools.reduce(
      functools.partial(jnp.matmul, precision=_HIGHEST), matrices
  )


def _matrices(*rows) -> Array:
  """[B, n, n] from rows of entries, each a [B] array or a number."""
  entries = [jnp.asarray(e, jnp.float32) for row in rows for e in row]
  batch = max((e.shape for e in entries), key=len)
  entries = [jnp.broadcast_to(e, batch) for e in entries]
  return jnp.stack(entries, axis=-1).reshape(batch + (len(rows), -1))


def _translate(tx: Array, ty: Array) -> Array:
  return _matrices([1, 0, tx], [0, 1, ty], [0, 0, 1])


def _scale(sx: Array, sy: Array) -> Array:
  return _matrices([sx, 0, 0], [0, sy, 0], [0, 0, 1])


def _rotate(cos: Array, sin: Array) -> Array:
  return _matrices([cos, -sin, 0], [sin, cos, 0], [0, 0, 1])


def blit_matrices(values: Dict[str, Array], height: int, width: int):
  """[B, 3, 3]: for each image, the blit (flip, then quarter turns, then
  integer translation) as a map from output to input pixel coordinates
  (centred, x along W). Integer entries, exactly."""
  flip = 1.0 - 2.0 * values['xflip']
  turns = values['rotate90'].astype(jnp.int32) % 4
  # The cosine and sine of the quarter turns, exactly (jnp.cos(pi/2) is
  # not 0 in float).
  cos = jnp.array([1.0, 0.0, -1.0, 0.0])[turns]
  sin = jnp.array([0.0, 1.0, 0.0, -1.0])[turns]
  shift = jnp.round(values['xint'] * jnp.array([width, height], jnp.float32))
  # Output -> input: the forward steps' inverses, the last one undone
  # first (rightmost).
  return _product(
      _scale(flip, jnp.ones_like(flip)),
      _rotate(cos, -sin),
      _translate(-shift[:, 0], -shift[:, 1]),
  )


def geometric_matrices(values: Dict[str, Array], height: int, width: int):
  """[B, 3, 3]: for each image, the general transform (isotropic scale,
  pre-rotation, anisotropic scale, post-rotation, fractional translation,
  in that order) as a map from output to input pixel coordinates."""
  s, a = values['scale'], values['aniso']
  pre, post = values['rotate_pre'], values['rotate_post']
  t = values['xfrac'] * jnp.array([width, height], jnp.float32)
  return _product(
      _scale(1.0 / s, 1.0 / s),
      _rotate(jnp.cos(pre), -jnp.sin(pre)),
      _scale(1.0 / a, a),
      _rotate(jnp.cos(post), -jnp.sin(post)),
      _translate(-t[:, 0], -t[:, 1]),
  )


def color_matrices(values: Dict[str, Array]) -> Array:
  """[B, 4, 4]: for each image, the colour transform (brightness,
  contrast, luma flip, hue rotation, saturation, in that order) acting on
  ``(r, g, b, 1)``."""
  b = values['brightness']
  eye = jnp.eye(4, dtype=jnp.float32)
  v = np.array([1.0, 1.0, 1.0, 0.0]) / np.sqrt(3.0)
  vv = jnp.asarray(np.outer(v, v), jnp.float32)  # Onto the luma axis.
  flip = values['lumaflip'][:, None, None]
  theta = values['hue'][:, None, None]
  # Rodrigues' rotation about v: cos I + sin [v]x + (1 - cos) v v^T on the
  # colour block, the homogeneous coordinate left alone.
  cross = jnp.asarray(
      [[0, -v[2], v[1], 0], [v[2], 0, -v[0], 0], [-v[1], v[0], 0, 0]]
      + [[0, 0, 0, 0]],
      jnp.float32,
  )
  colour_block = jnp.diag(jnp.array([1.0, 1.0, 1.0, 0.0], jnp.float32))
  hue = (
      jnp.cos(theta) * colour_block
      + jnp.sin(theta) * cross
      + (1.0 - jnp.cos(theta)) * vv
      + (eye - colour_block)
  )
  saturation = vv + (eye - vv) * values['saturation'][:, None, None]
  c = values['contrast']
  return _product(
      saturation,
      hue,
      eye - 2.0 * vv * flip,
      _matrices([c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]),
      _matrices([1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]),
  )


# --- Executing them ---------------------------------------------------------


def _reflect(index: Any, size: int) -> Any:
  """Integer indices (a jax or numpy array) mirrored into ``0 .. size -
  1`` about the end pixels' centres (``.. 2 1 | 0 1 2 .. size-1 | size-2
  ..``), any distance out."""
  xp = np if isinstance(index, np.ndarray) else jnp
  if size == 1:
    return xp.zeros_like(index)
  period = 2 * (size - 1)
  index = xp.mod(index, period)
  return xp.where(index >= size, period - index, index)


def _gather(images: Array, rows: Array, cols: Array) -> Array:
  """``images[b, rows[b, k], cols[b, k]]`` -> [B, K, C]."""
  _, _, width, channels = images.shape
  flat = images.reshape(images.shape[0], -1, channels)
  index = (rows * width + cols).astype(jnp.int32)
  return jnp.take_along_axis(flat, index[:, :, None], axis=1)


def _centred_grid(height: int, width: int, y: np.ndarray, x: np.ndarray):
  """[3, K]: the homogeneous centred coordinates of the pixel positions
  (``y``, ``x`` in pixel-index units) of a grid."""
  yy, xx = np.meshgrid(y, x, indexing='ij')
  return np.stack(
      [
          xx.ravel() - (width - 1) / 2,
          yy.ravel() - (height - 1) / 2,
          np.ones(xx.size),
      ]
  ).astype(np.float32)


def blit_images(images: Array, matrices: Array) -> Array:
  """Each image moved by its blit matrix (:func:`blit_matrices`): output
  pixel ``q`` takes input pixel ``round(M q)``, mirrored into the image.
  Exact: a permutation of pixels where nothing leaves the image."""
  batch, height, width, channels = images.shape
  grid = _centred_grid(height, width, np.arange(height), np.arange(width))
  source = _product(matrices, jnp.asarray(grid))  # [B, 3, K]
  cols = jnp.round(source[:, 0] + (width - 1) / 2).astype(jnp.int32)
  rows = jnp.round(source[:, 1] + (height - 1) / 2).astype(jnp.int32)
  out = _gather(images, _reflect(rows, height), _reflect(cols, width))
  return out.reshape(batch, height, width, channels)


@functools.lru_cache(maxsize=None)
def _upsampling(size: int) -> np.ndarray:
  """[4 (size - 1), size]: one period of the 2x upsampling (zero
  insertion and the sym6 filter, gain 2 per axis) of the image's unbounded
  mirror extension. Upsampled sample ``m`` lies at input pixel
  ``(m - _DELAY) / 2``; the extension has period ``2 (size - 1)`` pixels,
  so the upsampled one has period ``4 (size - 1)``."""
  period = 4 * (size - 1)
  matrix = np.zeros((period, size))
  for m in range(period):
    for j, tap in enumerate(SYM6):
      twice = m + _OFFSET - j  # Twice the input pixel this tap reads.
      if twice % 2 == 0:
        n = int(_reflect(np.asarray(twice // 2), size))
        matrix[m, n] += np.sqrt(2.0) * tap
  return matrix.astype(np.float32)


@functools.lru_cache(maxsize=None)
def _downsampling(size: int) -> np.ndarray:
  """[size, 2 size + 10]: the sym6 filter and 2x decimation, from
  upsampled samples ``m = -5 .. 2 size + 4`` to the ``size`` pixels. With
  :func:`_upsampling` it is the identity (the filter is orthonormal to
  its even shifts)."""
  taps = len(SYM6)
  matrix = np.zeros((size, 2 * size + taps - 2))
  for k in range(size):
    matrix[k, 2 * k : 2 * k + taps] = SYM6 / np.sqrt(2.0)
  return matrix.astype(np.float32)


def resample(images: Array, matrices: Array) -> Array:
  """Each image transformed by its 3x3 matrix (output -> input centred
  pixel coordinates): the image's mirror extension upsampled 2x with the
  sym6 filter, sampled bilinearly at twice the resolution, filtered and
  decimated 2x. Differentiable in ``images``; the identity matrix returns
  them to float rounding. Needs at least 2 pixels per side."""
  batch, height, width, channels = images.shape
  if min(height, width) < 2:
    raise ValueError(
        f'ADA resamples images of 2 pixels a side or more, got {height}x'
        f'{width}'
    )
  up_h, up_w = _upsampling(height), _upsampling(width)
  up = jnp.einsum('mh,bhwc->bmwc', up_h, images, precision=_HIGHEST)
  up = jnp.einsum('nw,bmwc->bmnc', up_w, up, precision=_HIGHEST)
  # The upsampled positions each decimated pixel reads, m = -5 .. 2N + 4,
  # as input pixel positions (m - _DELAY) / 2.
  extra = len(SYM6) - 2
  rows = (np.arange(2 * height + extra) - _OFFSET - _DELAY) / 2
  cols = (np.arange(2 * width + extra) - _OFFSET - _DELAY) / 2
  grid = _centred_grid(height, width, rows, cols)
  # [B, 3, K]: the centred input pixels they read.
  source = _product(matrices, jnp.asarray(grid))
  # Back to upsampled sample indices (pixel n sits at 2n + _DELAY).
  x = 2 * (source[:, 0] + (width - 1) / 2) + _DELAY
  y = 2 * (source[:, 1] + (height - 1) / 2) + _DELAY
  x0, y0 = jnp.floor(x), jnp.floor(y)
  fx, fy = (x - x0)[..., None], (y - y0)[..., None]
  x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
  # The extension is periodic: wrapping the indices reads it anywhere.
  period_h, period_w = up.shape[1], up.shape[2]
  r0, r1 = jnp.mod(y0, period_h), jnp.mod(y0 + 1, period_h)
  c0, c1 = jnp.mod(x0, period_w), jnp.mod(x0 + 1, period_w)
  sampled = (1 - fy) * (
      (1 - fx) * _gather(up, r0, c0) + fx * _gather(up, r0, c1)
  ) + fy * ((1 - fx) * _gather(up, r1, c0) + fx * _gather(up, r1, c1))
  sampled = sampled.reshape(batch, len(rows), len(cols), channels)
  down_h, down_w = _downsampling(height), _downsampling(width)
  out = jnp.einsum('ki,bijc->bkjc', down_h, sampled, precision=_HIGHEST)
  return jnp.einsum('lj,bkjc->bklc', down_w, out, precision=_HIGHEST)


def recolor(images: Array, matrices: Array) -> Array:
  """Each image's colours through its 4x4 matrix (:func:`color_matrices`):
  ``C[:3, :3] rgb + C[:3, 3]`` on 3 channels; on 1 channel the official
  reduction ``x -> mean_i sum_j C_ij x + mean_i C_i3`` (i, j < 3)."""
  channels = images.shape[-1]
  if channels == 3:
    offset = matrices[:, None, None, :3, 3]
    mixed = jnp.einsum(
        'bij,bhwj->bhwi', matrices[:, :3, :3], images, precision=_HIGHEST
    )
    return mixed + offset
  if channels == 1:
    gain = jnp.mean(jnp.sum(matrices[:, :3, :3], axis=2), axis=1)
    offset = jnp.mean(matrices[:, :3, 3], axis=1)
    return images * gain[:, None, None, None] + offset[:, None, None, None]
  raise ValueError(
      f'ADA colour transforms take 1 or 3 channels, got {channels}'
  )


def ada_augment(
    images: Array,
    key: Array,
    p: Any,
    draw: Optional[Draw] = None,
    blit: bool = True,
    geom: bool = True,
    color: bool = True,
    strengths: Optional[Mapping[str, Any]] = None,
) -> Array:
  """The 'bgc' pipeline (see the module docstring) on ``images``.

  Args:
    images: [B, H, W, C], in [-1, 1]; C is 1 or 3 when ``color``.
    key: the PRNG key of every draw.
    p: the probability of each transform (a float or a traced scalar).
    draw: ``draw(sampler, key, shape) -> sampler(key, shape)`` for this
      batch (the default); ``ctx.draw`` under per-device steps.
    blit, geom, color: which groups run (Python bools: each sets the
      program).
    strengths: ``{transform: multiplier of p}`` (the official pipeline's
      per-transform multipliers; all 1 in 'bgc'), Python or traced
      numbers: tests fire one transform at a time with it.

  Returns:
    The augmented images, of the input's shape and dtype; differentiable
    in ``images``.
  """
  batch, height, width, channels = images.shape
  if color and channels not in (1, 3):
    raise ValueError(
        f'ADA colour transforms take 1 or 3 channels, got {channels}; '
        'switch them off (color=False) for other images'
    )
  if (blit or geom) and min(height, width) < 2:
    raise ValueError(
        f'ADA transforms images of 2 pixels a side or more, got {height}x'
        f'{width}'
    )
  s = _strengths(strengths, blit, geom, color, channels)
  params = draw_parameters(key, batch, p, draw, s)
  values, fired = params
  x = images.astype(jnp.float32)
  if blit:
    x = blit_images(x, blit_matrices(values, height, width))
  if geom:
    geometric = ('scale', 'rotate_pre', 'aniso', 'rotate_post', 'xfrac')
    changed = functools.reduce(jnp.logical_or, [fired[n] for n in geometric])
    moved = resample(x, geometric_matrices(values, height, width))
    # Images no geometric transform fired on skip the resampling's float
    # rounding: p = 0 is the identity to the bit.
    x = jnp.where(changed[:, None, None, None], moved, x)
  if color:
    changed = functools.reduce(jnp.logical_or, [fired[n] for n in COLOR])
    x = jnp.where(
        changed[:, None, None, None], recolor(x, color_matrices(values)), x
    )
  return x.astype(images.dtype)


# --- The adaptive p ---------------------------------------------------------


def adjusted_p(
    p: Any,
    rt: Any,
    target: Any,
    global_batch: Any,
    interval: Any,
    speed_kimg: Any,
) -> Array:
  """One adjustment of the paper's heuristic: ``clip(p + sign(rt -
  target) * global_batch * interval / (speed_kimg * 1000), 0, 1)``."""
  step = global_batch * interval / (speed_kimg * 1000.0)
  return jnp.clip(p + jnp.sign(rt - target) * step, 0.0, 1.0)


def init_state(spec: Any = None) -> Dict[str, Array]:
  """The state at step 0 (see the module docstring); ``spec`` unused."""
  del spec
  # A new array per leaf: the steps donate the state's buffers, and one
  # buffer in two leaves cannot be donated.
  return {
      'p': jnp.full((), -1.0, jnp.float32),
      'signs': jnp.zeros((), jnp.float32),
      'count': jnp.zeros((), jnp.float32),
      'rt': jnp.zeros((), jnp.float32),
  }


def current_p(extra: Optional[Mapping[str, Any]], hparams: Mapping) -> Array:
  """The p in force: ``ada_p`` before the first D step or when not
  adapting, else the state's."""
  start = jnp.asarray(hparams[P.name], jnp.float32)
  if extra is None or not hparams.get(ADAPT.name, True):
    return start
  return jnp.where(extra['p'] < 0, start, extra['p'])


def update_state(
    extra: Mapping[str, Any],
    sign_mean: Any,
    hparams: Mapping,
    global_batch: Any,
) -> Dict[str, Array]:
  """The state after one D step whose reals had ``mean(sign(D(real)))``
  = ``sign_mean`` (over the global batch): the sign accumulated, and every
  ``ada_interval``-th step ``r_t`` taken and (when adapting) p adjusted.

  Args:
    extra: the state before the step.
    sign_mean: the step's mean sign of D's outputs on the reals.
    hparams: the scalars (``ada_p``, ``ada_target``, ``ada_kimg``,
      ``ada_interval``, ``ada_adapt``).
    global_batch: reals per D step, over all devices.
  """
  interval = hparams[INTERVAL.name]
  signs = extra['signs'] + jnp.asarray(sign_mean, jnp.float32)
  count = extra['count'] + 1.0
  due = count >= interval
  rt = signs / count
  p = current_p(extra, hparams)
  if hparams.get(ADAPT.name, True):
    moved = adjusted_p(
        p,
        rt,
        hparams[TARGET.name],
        global_batch,
        interval,
        hparams[KIMG.name],
    )
    p = jnp.where(due, moved, p)
  zero = jnp.zeros((), jnp.float32)
  return {
      'p': jnp.asarray(p, jnp.float32),
      'signs': jnp.where(due, zero, signs),
      'count': jnp.where(due, zero, count),
      'rt': jnp.where(due, rt, extra['rt']).astype(jnp.float32),
  }


# --- The plug-in --------------------------------------------------------------

P = HParam(
    'ada_p',
    0.0,
    field='augment.p',
    low=0.0,
    high=1.0,
    doc='p at step 0 (the fixed p when ada_adapt is False)',
)
TARGET = HParam(
    'ada_target',
    0.6,
    field='augment.target',
    low=0.0,
    high=1.0,
    doc='the E[sign(D(real))] that ADA steers p toward',
)
KIMG = HParam(
    'ada_kimg',
    500.0,
    field='augment.speed_kimg',
    low=0.0,
    low_open=True,
    doc='thousands of reals over which p can go from 0 to 1',
)
INTERVAL = HParam(
    'ada_interval',
    4,
    field='augment.interval',
    low=1,
    batchable=False,
    doc='D steps between adjustments of p',
)
ADAPT = HParam(
    'ada_adapt',
    True,
    field='augment.adapt',
    batchable=False,
    doc='adapt p to D overfitting (else p stays ada_p)',
)
BLIT_ON = HParam(
    'ada_blit',
    True,
    field='augment.blit',
    batchable=False,
    doc="ADA's pixel blitting (x-flip, quarter turns, integer translation)",
)
GEOM_ON = HParam(
    'ada_geom',
    True,
    field='augment.geom',
    batchable=False,
    doc="ADA's general geometric transforms (scale, rotation, translation)",
)
COLOR_ON = HParam(
    'ada_color',
    True,
    field='augment.ada_color',
    batchable=False,
    doc="ADA's colour transforms (brightness, contrast, luma, hue, saturation)",
)
HPARAMS = (P, TARGET, KIMG, INTERVAL, ADAPT, BLIT_ON, GEOM_ON, COLOR_ON)


def apply(images: Array, ctx: Context) -> Array:
  """The plug-in: :func:`ada_augment` with ``ctx.rng``, ``ctx.draw``, the
  p in force and the switches in ``ctx.hparams``."""
  hparams = ctx.hparams
  p = jax.lax.stop_gradient(current_p(ctx.extra, hparams))
  return ada_augment(
      images,
      ctx.rng,
      p,
      draw=ctx.draw,
      blit=hparams[BLIT_ON.name],
      geom=hparams[GEOM_ON.name],
      color=hparams[COLOR_ON.name],
  )


def update(ctx: Context) -> Dict[str, Array]:
  """The plug-in's state after a D step (``ctx.real_out``: D's outputs on
  the augmented reals; ``ctx.batch_size``: reals per device)."""
  sign_mean = ctx.mean(jnp.sign(jax.lax.stop_gradient(ctx.real_out)))
  per_device = ctx.batch_size or (
      ctx.real_out.shape[0] * getattr(ctx.spec, 'pack', 1)
  )
  devices = 1 if ctx.axis_name is None else jax.lax.psum(1, ctx.axis_name)
  return update_state(ctx.extra, sign_mean, ctx.hparams, per_device * devices)


def log(extra: Mapping[str, Any]) -> Dict[str, Array]:
  """``ada_p`` (the p in force after the step) and ``ada_rt`` (the last
  interval's r_t); the runner logs them, like every metric, as their mean
  over the log interval."""
  return {'ada_p': extra['p'], 'ada_rt': extra['rt']}


def check(config: Mapping) -> None:
  """Refuses 2-D data, and colour transforms on images of neither 1 nor 3
  channels."""
  images_only('ada')(config)
  from gan_jax.data.images import image_source  # Keep this import light.

  try:
    color = config['augment']['ada_color']
  except (KeyError, TypeError, AttributeError):
    color = COLOR_ON.default
  height, width, channels = image_source(config['dataset'], config).shape
  if color and channels not in (1, 3):
    raise ValueError(
        'augment.ada_color=True is not allowed with dataset='
        f"{config['dataset']!r} ({channels} channels): ADA's colour "
        'transforms take 1 or 3 channels; set augment.ada_color=False'
    )
  if min(height, width) < 2:
    raise ValueError(
        f"augment.name='ada' is not allowed with dataset="
        f"{config['dataset']!r} ({height}x{width}): ADA needs 2 pixels a "
        'side or more'
    )


AUGMENTATIONS.register(
    'ada',
    Augmentation(
        apply=apply,
        hparams=HPARAMS,
        init_extra=init_state,
        update=update,
        log=log,
        check=check,
    ),
)
