"""Mode coverage and sample distances on constructed samples."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import get_toy_dataset
from gan_jax.metrics import mode_metrics, sliced_wasserstein
from gan_jax.metrics.distances import sort_floats


def test_perfect_samples_cover_every_mode():
  grid = get_toy_dataset('grid25')
  samples = grid.sample(jax.random.PRNGKey(0), (2500,))
  m = mode_metrics(samples, jnp.array(grid.centers), grid.sigma)
  assert m['modes'] == 25
  assert m['high_quality_pct'] > 98.0  # 3 sigma in 2-D holds 98.9%.
  assert m['reverse_kl'] < 0.02


def test_collapsed_samples():
  grid = get_toy_dataset('grid25')
  samples = jnp.tile(jnp.array([[2.0, -2.0]]), (100, 1))
  m = mode_metrics(samples, jnp.array(grid.centers), grid.sigma)
  assert m['modes'] == 1 and m['high_quality_pct'] == 100.0
  np.testing.assert_allclose(m['reverse_kl'], math.log(25), rtol=1e-6)


def test_reverse_kl_by_hand_and_low_quality_excluded():
  centers = jnp.array([[0.0, 0.0], [10.0, 0.0]])
  # 3 samples in mode 0, 1 in mode 1, 4 far from both (low quality).
  samples = jnp.array(
      [[0, 0], [0, 0.1], [0.1, 0], [10, 0], [5, 5], [5, 5], [5, 5], [5, 5]],
      jnp.float32,
  )
  m = mode_metrics(samples, centers, sigma=0.1)
  p = np.array([0.75, 0.25])
  np.testing.assert_allclose(
      m['reverse_kl'], np.sum(p * np.log(2 * p)), rtol=1e-5
  )
  assert m['high_quality_pct'] == 50.0 and m['modes'] == 2
  none = mode_metrics(jnp.full((4, 2), 5.0), centers, sigma=0.1)
  assert none['modes'] == 0 and np.isnan(none['reverse_kl'])


def test_a_uniform_generator_against_the_closed_form():
  # Samples uniform on [-5, 5]^2 (a generator that learned the square, not
  # the modes): a sample is of high quality with probability a = 25 pi
  # (3 sigma)^2 / 100, a mode is covered unless none of 2,500 samples lands
  # in its disc: E[modes] = 25 (1 - (1 - a / 25)^2500) = 20.73.
  grid = get_toy_dataset('grid25')
  a = 25 * math.pi * (3 * grid.sigma) ** 2 / 100
  draws = jax.random.uniform(
      jax.random.PRNGKey(0), (1000, 2500, 2), minval=-5.0, maxval=5.0
  )
  metrics = jax.vmap(
      lambda x: mode_metrics(x, jnp.asarray(grid.centers), grid.sigma)
  )(draws)
  # 1,000 draws: standard errors of 0.06 modes and 0.01 points; the
  # bounds are 4 of them.
  modes = 25 * (1 - (1 - a / 25) ** 2500)
  assert abs(float(metrics['modes'].mean()) - modes) < 0.25
  assert abs(float(metrics['high_quality_pct'].mean()) - 100 * a) < 0.04


def test_ring_has_eight_distinct_modes():
  ring = get_toy_dataset('ring8')
  centers = np.asarray(ring.centers)
  distances = np.linalg.norm(centers[:, None] - centers[None], axis=-1)
  assert len(centers) == 8
  assert distances[~np.eye(8, dtype=bool)].min() > 0.7  # 2 sin(pi/8)
  np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 1.0)


def test_sliced_wasserstein_of_a_translation():
  """SW1 of x and x + v in 2-D is E_theta |theta . v| = 2 ||v|| / pi."""
  x = jax.random.normal(jax.random.PRNGKey(0), (500, 2))
  v = jnp.array([3.0, 4.0])
  sw = sliced_wasserstein(
      x, x + v, jax.random.PRNGKey(1), num_projections=20000
  )
  np.testing.assert_allclose(sw, 2 * 5.0 / math.pi, rtol=0.02)
  assert sliced_wasserstein(x, x, jax.random.PRNGKey(1)) == 0.0


def test_sort_floats_matches_numpy_float_sort():
  """Integer keys sort floats exactly as NumPy does: signs, zeros,
  infinities and subnormals included (XLA:CPU's own sort flushes
  subnormals to zero, so NumPy is the reference), under vmap too."""
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 4, 50)) * 1e3
  special = jnp.array(
      [0.0, -0.0, jnp.inf, -jnp.inf, 1e-42, -1e-42, 3.4e38, -3.4e38]
  )
  x = x.at[:, 0, :8].set(special)
  expected = np.sort(np.asarray(x), axis=-1)
  np.testing.assert_array_equal(sort_floats(x[0]), expected[0])
  np.testing.assert_array_equal(jax.jit(jax.vmap(sort_floats))(x), expected)
