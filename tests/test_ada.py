"""ADA (gan_jax.augment.ada): the 'bgc' pipeline's probabilities, what its
transforms preserve, its gradient, the adaptive p's rule, and the plug-in
on one device against 4 fake ones."""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from gan_jax import hparams as hparams_lib, parallel
from gan_jax.augment import AUGMENTATIONS, ada
from gan_jax.context import Context

KEY = jax.random.PRNGKey(0)
# Jitted once here: op by op, each call would compile its every operation.
blit_images = jax.jit(ada.blit_images)
resample = jax.jit(ada.resample)
# The scalars a step hands the plug-in (the defaults, p = 0.5).
HPARAMS = {h.name: h.default for h in ada.HPARAMS} | {'ada_p': 0.5}


def _noise(shape, seed=0):
  """Uniform in [-1, 1): no transform leaves such an image as it was."""
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(-1.0, 1.0, shape), jnp.float32)


def _binomial_close(fraction, expected, n):
  """Within 5 standard deviations of a binomial proportion."""
  sigma = math.sqrt(expected * (1 - expected) / n)
  assert abs(fraction - expected) <= 5 * sigma + 1e-9, (fraction, expected)


# --- Probabilities ------------------------------------------------------------


def test_each_decision_fires_with_p_and_the_rotations_with_p_rot():
  n, p = 20000, 0.3
  fired = jax.jit(lambda p: ada.draw_parameters(KEY, n, p).fired)
  rates = fired(p)
  for name, rate in rates.items():
    expected = ada.rotation_probability(p) if name.startswith('rotate_') else p
    _binomial_close(float(jnp.mean(rate)), float(expected), n)
  # p_rot = 1 - sqrt(1 - p): rotated at all (pre or post) with p.
  either = rates['rotate_pre'] | rates['rotate_post']
  _binomial_close(float(jnp.mean(either)), p, n)
  assert not any(bool(jnp.any(f)) for f in fired(0.0).values())


# Fraction of images changed when the transform fires with probability p:
# a flip or luma flip draws i ~ U{0, 1} (no change for 0), quarter turns
# U{0..3}; an integer shift of U(-1/8, 1/8) of 8 pixels rounds to 0 on
# both axes with probability 1/4.
CHANGED = {
    'xflip': 0.5,
    'rotate90': 0.75,
    'xint': 0.75,
    'scale': 1.0,
    'rotate': 1.0,
    'aniso': 1.0,
    'xfrac': 1.0,
    'brightness': 1.0,
    'contrast': 1.0,
    'lumaflip': 0.5,
    'hue': 1.0,
    'saturation': 1.0,
}


@pytest.mark.slow
def test_alone_each_transform_changes_the_expected_fraction():
  """One compile for every transform and p (both traced); p = 0 returns
  every image bit for bit."""
  n = 2048
  images = _noise((n, 8, 8, 3))

  @jax.jit
  def change(p, strengths):
    out = ada.ada_augment(images, KEY, p, strengths=strengths)
    return jnp.max(jnp.abs(out - images), axis=(1, 2, 3))

  def strengths(*names):
    return {t: np.float32(t in names) for t in ada.TRANSFORMS}

  for name in ada.TRANSFORMS:
    changed = np.asarray(change(np.float32(0.3), strengths(name))) > 1e-5
    _binomial_close(changed.mean(), 0.3 * CHANGED[name], n)
  every = strengths(*ada.TRANSFORMS)
  assert np.max(change(np.float32(0.0), every)) == 0.0
  assert np.mean(np.asarray(change(np.float32(1.0), every)) > 1e-5) > 0.99


# --- What the transforms preserve ---------------------------------------------


def _matrix(rows, batch=2):
  return jnp.broadcast_to(jnp.asarray(rows, jnp.float32), (batch, 3, 3))


def test_blits_are_exact_pixel_moves():
  x = _noise((2, 8, 8, 3))
  flip = _matrix([[-1, 0, 0], [0, 1, 0], [0, 0, 1]])
  once = blit_images(x, flip)
  np.testing.assert_array_equal(once, x[:, :, ::-1])
  np.testing.assert_array_equal(blit_images(once, flip), x)
  np.testing.assert_array_equal(blit_images(x, _matrix(np.eye(3))), x)
  # A shift by one column, the image mirrored about its edge pixel.
  shift = _matrix([[1, 0, 1], [0, 1, 0], [0, 0, 1]])
  np.testing.assert_array_equal(
      blit_images(x, shift),
      jnp.concatenate([x[:, :, 1:], x[:, :, -2:-1]], 2),
  )
  # Four quarter turns are the identity; one is numpy's rot90.
  values = {'xflip': jnp.zeros(2), 'xint': jnp.zeros((2, 2))}
  turn = ada.blit_matrices({**values, 'rotate90': jnp.ones(2)}, 8, 8)
  turned = blit_images(x, turn)
  assert any(
      np.array_equal(turned, np.rot90(x, k, axes=(1, 2))) for k in (1, 3)
  )
  for _ in range(3):
    turned = blit_images(turned, turn)
  np.testing.assert_array_equal(turned, x)


def test_resampling_is_exact_on_the_identity_and_on_integer_shifts():
  x = _noise((2, 8, 8, 1))
  np.testing.assert_allclose(
      resample(x, _matrix(np.eye(3))), x, rtol=0, atol=1e-6
  )
  # The 2x grid's samples land on themselves: a whole-pixel shift through
  # the filter is the exact (mirror-padded) shift.
  shift = _matrix([[1, 0, -2], [0, 1, 3], [0, 0, 1]])
  np.testing.assert_allclose(
      resample(x, shift), blit_images(x, shift), rtol=0, atol=1e-5
  )


def test_a_rotation_resamples_a_smooth_image_where_it_should():
  """Against the rotated function itself, away from the borders (the
  filter's alignment: off by a fraction of a pixel would show here)."""
  size, theta = 32, 0.4
  yy, xx = np.mgrid[:size, :size].astype(np.float64)
  f = lambda x, y: np.sin(x / 5.0) * np.cos(y / 7.0)
  c = (size - 1) / 2
  inverse = np.array(
      [
          [np.cos(theta), -np.sin(theta), 0],
          [np.sin(theta), np.cos(theta), 0],
          [0, 0, 1],
      ]
  )
  sx, sy, _ = inverse @ np.stack([xx - c, yy - c, np.ones_like(xx)]).reshape(
      3, -1
  )
  expected = f(sx + c, sy + c).reshape(size, size)
  image = jnp.asarray(f(xx, yy), jnp.float32)[None, ..., None]
  out = resample(image, _matrix(inverse, 1))[0, 8:-8, 8:-8, 0]
  np.testing.assert_allclose(out, expected[8:-8, 8:-8], atol=5e-3)


def test_geometric_matrix_composes_in_the_papers_order():
  values = {
      'scale': jnp.array([2.0]),
      'rotate_pre': jnp.array([0.0]),
      'aniso': jnp.array([1.0]),
      'rotate_post': jnp.array([np.pi / 2]),
      'xfrac': jnp.array([[0.25, 0.0]]),
  }
  # Forward: scale by 2, turn a quarter, shift by 0.25 * 8 = 2 along x.
  inverse = np.asarray(ada.geometric_matrices(values, 8, 8)[0])
  forward = np.array([[0, -2, 2], [2, 0, 0], [0, 0, 1]])
  np.testing.assert_allclose(inverse, np.linalg.inv(forward), atol=1e-6)


def _colour_values(**changes):
  values = {
      'brightness': jnp.zeros(1),
      'contrast': jnp.ones(1),
      'lumaflip': jnp.zeros(1),
      'hue': jnp.zeros(1),
      'saturation': jnp.ones(1),
  }
  return values | {k: jnp.asarray([v], jnp.float32) for k, v in changes.items()}


@jax.jit
def _recolor(x, values):
  return ada.recolor(x, ada.color_matrices(values))


def test_colour_transforms():
  rgb = _noise((1, 4, 4, 3))
  grey = _noise((1, 4, 4, 1))
  recolor = lambda x, **v: _recolor(x, _colour_values(**v))
  for x in (rgb, grey):  # A zero brightness draw (the identity): exact.
    np.testing.assert_array_equal(recolor(x, brightness=0.0), x)
  # A hue turn of a third about the grey axis permutes the channels.
  turned = recolor(rgb, hue=2 * np.pi / 3)
  assert any(
      np.allclose(turned, jnp.roll(rgb, k, axis=-1), atol=1e-5) for k in (1, 2)
  )
  np.testing.assert_allclose(  # Saturation 0: every pixel its grey.
      recolor(rgb, saturation=0.0),
      jnp.broadcast_to(jnp.mean(rgb, -1, keepdims=True), rgb.shape),
      atol=1e-6,
  )
  # On grey: brightness, then contrast, then the luma flip (a negation).
  np.testing.assert_allclose(
      recolor(grey, brightness=0.1, contrast=2.0, lumaflip=1.0),
      -2.0 * (grey + 0.1),
      atol=1e-6,
  )
  # On colour: the luma axis reflected, the chroma kept.
  np.testing.assert_allclose(
      recolor(rgb, lumaflip=1.0),
      rgb - 2 * jnp.mean(rgb, -1, keepdims=True),
      atol=1e-6,
  )


@pytest.mark.slow
def test_the_augmentation_is_differentiable():
  """For a fixed key it is affine in the images: the gradient of a linear
  read-out is finite, nonzero and predicts the read-out's change exactly."""
  x, v, w = (_noise((8, 8, 8, 3), seed) for seed in range(3))

  @jax.jit
  def check(x, v):
    readout = lambda im: jnp.sum(w * ada.ada_augment(im, KEY, 0.8))
    return jax.grad(readout)(x), readout(x + v) - readout(x)

  grad, change = check(x, v)
  assert bool(jnp.all(jnp.isfinite(grad))) and float(jnp.abs(grad).sum()) > 0
  np.testing.assert_allclose(jnp.sum(grad * v), change, rtol=1e-4, atol=1e-3)


# --- The adaptive p -----------------------------------------------------------


def test_p_follows_the_papers_rule():
  hp = HPARAMS | {'ada_p': 0.1, 'ada_kimg': 1.0, 'ada_interval': 4}
  batch = 64  # A step of 64 * 4 / 1000 = 0.256 every 4 D steps.
  state = ada.init_state()
  np.testing.assert_allclose(ada.current_p(state, hp), 0.1)

  def run(state, signs):
    ps = []
    for s in signs:
      state = ada.update_state(state, s, hp, batch)
      ps.append(float(ada.current_p(state, hp)))
    return state, ps

  # r_t = 1 > 0.6: up, on the 4th step only.
  state, ps = run(state, [1.0] * 4)
  np.testing.assert_allclose(ps, [0.1, 0.1, 0.1, 0.356], atol=1e-6)
  np.testing.assert_allclose(ada.log(state)['ada_rt'], 1.0)
  # r_t = mean(1, 1, 0, -1) = 0.25 < 0.6: down.
  state, ps = run(state, [1.0, 1.0, 0.0, -1.0])
  np.testing.assert_allclose(ps[-1], 0.1, atol=1e-6)
  np.testing.assert_allclose(ada.log(state)['ada_rt'], 0.25)
  # r_t = target: sign 0, no step.
  state, ps = run(state, [0.6] * 4)
  np.testing.assert_allclose(ps[-1], 0.1, atol=1e-6)
  # Clipped at 0, then at 1.
  state, ps = run(state, [-1.0] * 8)
  assert ps[-1] == 0.0
  state, ps = run(state, [1.0] * 40)
  assert ps[-1] == 1.0 and ps[-5] == 1.0
  np.testing.assert_allclose(ada.log(state)['ada_p'], 1.0)
  # Not adapting: p stays ada_p, r_t is still measured.
  fixed = hp | {'ada_adapt': False}
  state = ada.init_state()
  for s in [1.0, 0.5, 0.0, -0.5]:
    state = ada.update_state(state, s, fixed, batch)
  np.testing.assert_allclose(ada.log(state)['ada_p'], 0.1)
  np.testing.assert_allclose(ada.log(state)['ada_rt'], 0.25)


# --- The plug-in --------------------------------------------------------------


def test_plugin_declares_its_scalars_and_state():
  plugin = AUGMENTATIONS.lookup('ada')
  fields = {h.name: h.config_field for h in plugin.hparams}
  assert fields['ada_p'] == 'augment.p'
  assert fields['ada_color'] == 'augment.ada_color'
  batchable = {h.name for h in plugin.hparams if h.batchable}
  assert batchable == {'ada_p', 'ada_target', 'ada_kimg'}
  # Names and fields clash with no other augmentation's.
  hparams_lib.merged(
      (name, h) for name, a in AUGMENTATIONS.items() for h in a.hparams
  )
  state = plugin.init_extra(None)
  leaves = jax.tree.leaves(state)
  for leaf in leaves:
    chex.assert_shape(leaf, ())
    assert leaf.dtype == jnp.float32
  # One buffer per leaf: the steps donate the state.
  assert len({id(leaf) for leaf in leaves}) == len(leaves) == 4
  assert set(plugin.log(state)) == {'ada_p', 'ada_rt'}


def test_refusals():
  check = AUGMENTATIONS.lookup('ada').check
  check({'dataset': 'digits', 'augment': {'ada_color': True}})
  check({'dataset': 'cifar10', 'augment': {'ada_color': True}})
  with pytest.raises(ValueError, match="augment.name='ada'"):
    check({'dataset': 'ring8', 'augment': {'ada_color': True}})
  # Colour needs 1 or 3 channels (the function refuses before tracing).
  with pytest.raises(ValueError, match='1 or 3 channels'):
    ada.ada_augment(jnp.zeros((2, 8, 8, 2)), KEY, 0.5)


@pytest.mark.slow
def test_plugin_on_one_device_equals_its_parts_on_four():
  devices = 4
  assert jax.device_count() >= devices, 'conftest sets 8 CPU devices'
  plugin = AUGMENTATIONS.lookup('ada')
  images = _noise((16, 8, 8, 1))
  real_out = _noise((16, 1), 2)  # Mean sign over the global batch.
  hp = HPARAMS | {'ada_interval': 1}
  state = ada.init_state()

  def step(images, real_out, axis_name):
    ctx = Context(hparams=hp, axis_name=axis_name, rng=KEY, extra=state)
    out = plugin.apply(images, ctx)
    new = plugin.update(
        ctx.replace(real_out=real_out, batch_size=images.shape[0])
    )
    return out, new

  one = jax.jit(functools.partial(step, axis_name=None))(images, real_out)
  four = jax.jit(
      jax.shard_map(
          functools.partial(step, axis_name=parallel.DATA_AXIS),
          mesh=parallel.data_mesh(devices),
          in_specs=(P(parallel.DATA_AXIS), P(parallel.DATA_AXIS)),
          out_specs=(P(parallel.DATA_AXIS), P()),
          check_vma=False,
      )
  )(images, real_out)
  np.testing.assert_allclose(four[0], one[0], rtol=0, atol=1e-6)
  assert bool(jnp.any(one[0] != images))
  chex.assert_trees_all_close(four[1], one[1], atol=1e-6)
  # One adjustment with the global batch: 16 * 1 / 500k.
  rt = float(jnp.mean(jnp.sign(real_out)))
  expected = 0.5 + np.sign(rt - 0.6) * 16 / 500_000
  np.testing.assert_allclose(one[1]['p'], expected, rtol=1e-6)
