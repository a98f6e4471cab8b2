"""DiffAugment (gan_jax.augment.diffaugment): each transform against a
PyTorch reference in the authors' formulation for the same explicit draws,
the policy's draws and order, identities, gradients, and the plug-in on one
device against its per-device parts."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from gan_jax.augment import AUGMENTATIONS
from gan_jax.augment import diffaugment as da
from gan_jax.context import Context

# (H, W): odd and even sides, square and not.
SIDES = [(5, 8), (8, 8)]


def _images(rng, batch, height, width, channels):
  return rng.uniform(-1, 1, (batch, height, width, channels)).astype(np.float32)


# The reference: the authors' PyTorch formulation (NCHW; translation and
# cutout by gathering and scattering at index grids), written for these
# tests, with the random numbers passed in instead of drawn.


def _torch():
  return pytest.importorskip('torch')


def _nchw(x):
  return _torch().from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def _nhwc(x):
  return x.numpy().transpose(0, 2, 3, 1)


def _column(r):
  return _torch().from_numpy(np.array(r)).reshape(-1, 1, 1, 1)


def torch_brightness(x, r):
  return x + (_column(r) - 0.5)


def torch_saturation(x, r):
  mean = x.mean(dim=1, keepdim=True)
  return (x - mean) * (_column(r) * 2) + mean


def torch_contrast(x, r):
  mean = x.mean(dim=[1, 2, 3], keepdim=True)
  return (x - mean) * (_column(r) + 0.5) + mean


def _grids(torch, *sizes):
  return torch.meshgrid(*(torch.arange(n) for n in sizes), indexing='ij')


def torch_translation(x, shift_h, shift_w):
  torch = _torch()
  batch, _, height, width = x.shape
  grid_b, grid_h, grid_w = _grids(torch, batch, height, width)
  # Read from a copy with one zero pixel around it: a source index off the
  # image is clamped onto that zero border.
  rows = grid_h + torch.from_numpy(np.array(shift_h)).reshape(-1, 1, 1) + 1
  cols = grid_w + torch.from_numpy(np.array(shift_w)).reshape(-1, 1, 1) + 1
  rows = torch.clamp(rows, 0, height + 1)
  cols = torch.clamp(cols, 0, width + 1)
  padded = torch.nn.functional.pad(x, [1, 1, 1, 1])
  return padded.permute(0, 2, 3, 1)[grid_b, rows, cols].permute(0, 3, 1, 2)


def torch_cutout(x, offset_h, offset_w, ratio):
  torch = _torch()
  batch, _, height, width = x.shape
  size_h, size_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
  grid_b, grid_h, grid_w = _grids(torch, batch, size_h, size_w)
  offset_h = torch.from_numpy(np.array(offset_h)).reshape(-1, 1, 1)
  offset_w = torch.from_numpy(np.array(offset_w)).reshape(-1, 1, 1)
  rows = torch.clamp(grid_h + offset_h - size_h // 2, 0, height - 1)
  cols = torch.clamp(grid_w + offset_w - size_w // 2, 0, width - 1)
  mask = torch.ones(batch, height, width, dtype=x.dtype)
  mask[grid_b, rows, cols] = 0
  return x * mask.unsqueeze(1)


@pytest.mark.parametrize('height, width', SIDES)
def test_color_transforms_match_torch(height, width):
  rng = np.random.default_rng(0)
  x = _images(rng, 6, height, width, 3)
  # Include the ends of [0, 1).
  r = np.concatenate([[0.0, 1 - 2**-24], rng.uniform(size=4)]).astype(
      np.float32
  )
  names = ('brightness', 'saturation', 'contrast')
  ours = jax.jit(lambda x, r: [getattr(da, name)(x, r) for name in names])(x, r)
  for name, got in zip(names, ours):
    reference = globals()[f'torch_{name}'](_nchw(x), r)
    np.testing.assert_allclose(
        got, _nhwc(reference), rtol=1e-6, atol=1e-6, err_msg=name
    )


@pytest.mark.parametrize('height, width', SIDES)
def test_translation_matches_torch(height, width):
  # Every shift pair in [-3, 3]^2 (beyond the paper's range on 8 pixels)
  # and some past the side, where the image is all zeros.
  shifts = list(itertools.product(range(-3, 4), repeat=2))
  shifts += [(-9, 0), (0, 9), (9, -9), (-2, -8)]
  shift_h, shift_w = (np.array(s, np.int32) for s in zip(*shifts))
  x = _images(np.random.default_rng(1), len(shifts), height, width, 2)
  ours = jax.jit(da.translation)(x, shift_h, shift_w)
  reference = torch_translation(_nchw(x), shift_h, shift_w)
  np.testing.assert_array_equal(ours, _nhwc(reference))
  # The sign: a shift of +1 row reads the row below.
  down = shifts.index((1, 0))
  np.testing.assert_array_equal(ours[down, :-1], x[down, 1:])
  np.testing.assert_array_equal(ours[down, -1], 0.0)


@pytest.mark.parametrize(
    'height, width, ratio', [(5, 8, 0.5), (8, 8, 0.5), (5, 8, 0.3), (5, 8, 1.0)]
)
def test_cutout_matches_torch(height, width, ratio):
  # Every offset pair the policy can draw.
  offsets = list(
      itertools.product(
          range(da.cutout_offset_count(height, ratio)),
          range(da.cutout_offset_count(width, ratio)),
      )
  )
  offset_h, offset_w = (np.array(o, np.int32) for o in zip(*offsets))
  x = _images(np.random.default_rng(2), len(offsets), height, width, 2)
  cutout = jax.jit(functools.partial(da.cutout, ratio=ratio))
  ours = cutout(x, offset_h, offset_w)
  reference = torch_cutout(_nchw(x), offset_h, offset_w, ratio)
  np.testing.assert_array_equal(ours, _nhwc(reference))


def _with_draws(x, key, **options):
  """``diffaugment(x, key, **options)`` and the 7 draws it made."""
  draws = []

  def draw(sampler, key, shape):
    draws.append(sampler(key, shape))
    return draws[-1]

  return da.diffaugment(x, key, draw=draw, **options), draws


def test_policy_draws_cover_the_papers_ranges():
  # 9 x 12: s = int(9/8 + 1/2) = 1 and int(12/8 + 1/2) = 2 (12 // 8 would
  # give 1); cutout sizes 5 (odd: offsets 0..8) and 6 (even: 0..12).
  _, draws = jax.jit(_with_draws)(
      jnp.zeros((256, 9, 12, 1)), jax.random.PRNGKey(0)
  )
  draws = [np.asarray(d) for d in draws]
  assert len(draws) == 7
  for r in draws[:3]:
    assert r.dtype == np.float32 and r.shape == (256,)
    assert 0 <= r.min() and r.max() < 1 and r.std() > 0.2
  assert set(draws[3]) == {-1, 0, 1}
  assert set(draws[4]) == set(range(-2, 3))
  assert set(draws[5]) == set(range(9))
  assert set(draws[6]) == set(range(13))


def test_policy_matches_torch_in_the_authors_order():
  x = _images(np.random.default_rng(3), 8, 5, 8, 3)
  ours, d = jax.jit(_with_draws)(x, jax.random.PRNGKey(1))
  d = [np.asarray(draw) for draw in d]
  y = torch_brightness(_nchw(x), d[0])
  y = torch_contrast(torch_saturation(y, d[1]), d[2])
  y = torch_cutout(torch_translation(y, d[3], d[4]), d[5], d[6], 0.5)
  np.testing.assert_allclose(ours, _nhwc(y), rtol=1e-6, atol=1e-6)


@jax.jit
def _switched(x, key):
  """(got, expected) pairs: the policy with parts switched off, and the
  other parts composed with the full policy's draws."""
  _, d = _with_draws(x, key)
  colored = da.contrast(da.saturation(da.brightness(x, d[0]), d[1]), d[2])
  translated = functools.partial(da.translation, shift_h=d[3], shift_w=d[4])
  cut = functools.partial(da.cutout, offset_h=d[5], offset_w=d[6])
  run = functools.partial(da.diffaugment, x, key)
  return {
      'no color': (run(color=False), cut(translated(x))),
      'no translation': (run(translation=False), cut(colored)),
      'no cutout': (run(cutout=False), translated(colored)),
      'all off': (run(color=False, translation=False, cutout=False), x),
      # A ratio that rounds to 0 switches its part off.
      'ratios 0': (
          run(color=False, translation_ratio=0.05, cutout_ratio=0.05),
          x,
      ),
  }


def test_each_part_switched_off():
  x = _images(np.random.default_rng(4), 4, 8, 8, 3)
  for name, (got, expected) in _switched(x, jax.random.PRNGKey(2)).items():
    np.testing.assert_array_equal(got, expected, err_msg=name)


def test_neutral_draws_are_the_identity():
  x = _images(np.random.default_rng(5), 3, 5, 8, 3)

  @jax.jit
  def neutral(x):
    half, zero = jnp.full((3,), 0.5), jnp.zeros((3,), jnp.int32)
    gray = x[..., :1]
    return {
        'brightness': (da.brightness(x, half), x),
        'saturation': (da.saturation(x, half), x),
        'contrast': (da.contrast(x, half), x),
        'translation': (da.translation(x, zero, zero), x),
        'cutout': (da.cutout(x, zero, zero, ratio=0.0), x),
        # Saturation does nothing to 1-channel images.
        'gray': (da.saturation(gray, jnp.zeros((3,))), gray),
    }

  for name, (got, expected) in neutral(x).items():
    np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=name)


def test_shapes_dtypes_and_gradients():
  rng = np.random.default_rng(6)
  x = _images(rng, 4, 5, 8, 2)
  w = rng.normal(size=x.shape).astype(np.float32)
  shift_h = jnp.array([-2, 0, 1, 6], jnp.int32)
  shift_w = jnp.array([3, -1, 0, 2], jnp.int32)
  offsets = jnp.array([0, 2, 4, 8], jnp.int32)

  @jax.jit
  def run(x, w, key):
    def weighted(transform):
      return jax.grad(lambda x: jnp.sum(w * transform(x)))(x)

    return {
        'out': da.diffaugment(x, key),
        'bfloat16': da.diffaugment(x.astype(jnp.bfloat16), key),
        'grad': weighted(lambda x: da.diffaugment(x, key)),
        # The translation's gradient is the opposite translation of the
        # cotangent; the cutout's is the cotangent outside the hole.
        'translation': (
            weighted(lambda x: da.translation(x, shift_h, shift_w)),
            da.translation(w, -shift_h, -shift_w),
        ),
        'cutout': (
            weighted(lambda x: da.cutout(x, offsets, offsets)),
            da.cutout(w, offsets, offsets),
        ),
    }

  got = run(x, w, jax.random.PRNGKey(3))
  assert got['out'].shape == x.shape and got['out'].dtype == jnp.float32
  assert not np.array_equal(got['out'], x)
  assert got['bfloat16'].shape == x.shape
  assert got['bfloat16'].dtype == jnp.bfloat16
  assert np.all(np.isfinite(got['grad'])) and np.any(got['grad'] != 0)
  np.testing.assert_array_equal(*got['translation'])
  np.testing.assert_array_equal(*got['cutout'])


HPARAMS = {
    'diffaug_color': True,
    'diffaug_translation': True,
    'diffaug_cutout': True,
    'diffaug_translation_ratio': 0.25,
    'diffaug_cutout_ratio': 0.5,
}


def test_registered_with_its_hparams_and_check():
  augmentation = AUGMENTATIONS.lookup('diffaugment')
  assert augmentation.apply is da.apply
  declared = {h.name: (h.config_field, h.default) for h in augmentation.hparams}
  assert declared == {
      'diffaug_color': ('augment.color', True),
      'diffaug_translation': ('augment.translation', True),
      'diffaug_cutout': ('augment.cutout', True),
      'diffaug_translation_ratio': ('augment.translation_ratio', 0.125),
      'diffaug_cutout_ratio': ('augment.cutout_ratio', 0.5),
  }
  assert not any(h.batchable for h in augmentation.hparams)
  assert da.CUTOUT_RATIO.problem(1.5) and da.TRANSLATION_RATIO.problem(-0.1)
  assert augmentation.check is not None
  augmentation.check({'dataset': 'digits'})
  with pytest.raises(ValueError, match="augment.name='diffaugment'"):
    augmentation.check({'dataset': 'ring8'})


def _apply(x, key, axis_name=None):
  return da.apply(x, Context(HPARAMS, axis_name=axis_name, rng=key))


def _sharded_inputs():
  x = _images(np.random.default_rng(8), 8, 8, 6, 3)
  return jnp.asarray(x), jax.random.PRNGKey(4)


@pytest.mark.slow
def test_plugin_on_one_device_equals_its_parts_on_four():
  x, key = _sharded_inputs()
  mesh = Mesh(np.array(jax.devices()[:4]), ('data',))
  sharded = jax.shard_map(
      functools.partial(_apply, axis_name='data'),
      mesh=mesh,
      in_specs=(P('data'), P()),
      out_specs=P('data'),
      check_vma=False,
  )
  # The same draws; float rounding may differ between the programs (the
  # means are reduced over differently laid out batches).
  np.testing.assert_allclose(
      jax.jit(sharded)(x, key), jax.jit(_apply)(x, key), rtol=0, atol=1e-6
  )


@pytest.mark.slow
def test_plugin_under_pmap_equals_one_device():
  x, key = _sharded_inputs()
  parts = jax.pmap(
      functools.partial(_apply, axis_name='data'),
      axis_name='data',
      in_axes=(0, None),
      devices=jax.devices()[:4],
  )(x.reshape(4, 2, *x.shape[1:]), key)
  np.testing.assert_allclose(
      parts.reshape(x.shape), jax.jit(_apply)(x, key), rtol=0, atol=1e-6
  )
