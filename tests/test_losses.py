"""Objectives against hand-derived values and closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses
from gan_jax.context import Context

HP = Context(hparams={'real_target': 1.0, 'fake_target': 0.0})


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture(scope='module')
def logits():
  rng = np.random.default_rng(0)
  return rng.normal(size=64) * 3, rng.normal(size=64) * 3


def test_cross_entropy_d_loss_matches_definition(logits):
  real, fake = logits
  expected = -np.mean(np.log(_sigmoid(real))) - np.mean(
      np.log(1 - _sigmoid(fake))
  )
  got = losses.cross_entropy_d_loss(jnp.array(real), jnp.array(fake), HP)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_saturating_g_loss_is_mean_log_one_minus_d(logits):
  _, fake = logits
  expected = np.mean(np.log(1 - _sigmoid(fake)))
  np.testing.assert_allclose(
      losses.saturating_g_loss(None, jnp.array(fake), HP), expected, rtol=1e-5
  )


def test_non_saturating_g_loss_is_minus_mean_log_d(logits):
  _, fake = logits
  expected = -np.mean(np.log(_sigmoid(fake)))
  np.testing.assert_allclose(
      losses.non_saturating_g_loss(None, jnp.array(fake), HP),
      expected,
      rtol=1e-5,
  )


def test_label_smoothing_uses_exact_one_sided_target(logits):
  real, fake = logits
  hp = Context(hparams={'real_target': 0.9, 'fake_target': 0.0})
  p = _sigmoid(real)
  expected = np.mean(-0.9 * np.log(p) - 0.1 * np.log(1 - p)) - np.mean(
      np.log(1 - _sigmoid(fake))
  )
  got = losses.cross_entropy_d_loss(jnp.array(real), jnp.array(fake), hp)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  # The optimum of the smoothed real term is D(x) = 0.9 exactly (not TF's
  # 0.95): d/dl of BCE(l, t) is sigmoid(l) - t.
  grad = jax.grad(lambda logit: losses.binary_cross_entropy(logit, 0.9))(
      jnp.array([math.log(0.9 / 0.1)])
  )
  np.testing.assert_allclose(grad, 0.0, atol=1e-6)


def test_two_sided_smoothing_moves_fake_target():
  grad = jax.grad(
      lambda fake: losses.cross_entropy_d_loss(
          jnp.zeros(1),
          fake,
          Context(hparams={'real_target': 0.9, 'fake_target': 0.1}),
      )
  )(jnp.array([math.log(0.1 / 0.9)]))
  np.testing.assert_allclose(grad, 0.0, atol=1e-6)


def test_stable_at_extreme_logits():
  big = jnp.array([-200.0, 200.0])
  for value in (
      losses.cross_entropy_d_loss(big, big, HP),
      losses.saturating_g_loss(None, big, HP),
      losses.non_saturating_g_loss(None, big, HP),
  ):
    assert np.isfinite(value)
  # log(1 - sigmoid(200)) = -200 exactly in the softplus form.
  np.testing.assert_allclose(
      losses.saturating_g_loss(None, jnp.array([200.0]), HP), -200.0
  )


@pytest.mark.parametrize('d_of_fake', [1e-2, 1e-4, 1e-6])
def test_saturation_gradients(d_of_fake):
  """d loss / d logit: -D(G(z)) (saturating) versus -(1 - D(G(z)))."""
  logit = jnp.array([math.log(d_of_fake / (1 - d_of_fake))])
  sat = jax.grad(lambda x: losses.saturating_g_loss(None, x, HP))(logit)[0]
  non_sat = jax.grad(lambda x: losses.non_saturating_g_loss(None, x, HP))(
      logit
  )[0]
  np.testing.assert_allclose(sat, -d_of_fake, rtol=1e-3)
  np.testing.assert_allclose(non_sat, -(1 - d_of_fake), rtol=1e-3)
  assert abs(sat) <= 1.01 * d_of_fake and abs(non_sat) >= 0.98


def test_optimal_discriminator_value_is_jensen_shannon():
  """V(D*, G) = -log 4 + 2 JSD(p || q) with D* = p / (p + q).

  p and q are discrete with probabilities k / 20; repeating each atom k
  times turns the library's batch means into the expectations E_p, E_q.
  """
  counts_p = np.array([3, 5, 2, 6, 4])
  counts_q = np.array([6, 1, 5, 4, 4])
  p, q = counts_p / 20, counts_q / 20
  d_star = p / (p + q)
  logit = jnp.array(np.log(d_star) - np.log1p(-d_star))

  def d_loss(atom_logits):  # -V(D, G) = -(E_p log D + E_q log(1 - D))
    return losses.cross_entropy_d_loss(
        jnp.repeat(atom_logits, counts_p, total_repeat_length=20),
        jnp.repeat(atom_logits, counts_q, total_repeat_length=20),
        HP,
    )

  m = (p + q) / 2
  jsd = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))
  np.testing.assert_allclose(-d_loss(logit), -math.log(4) + 2 * jsd, rtol=1e-5)
  # D* is where D's loss is stationary (and, being convex in D, minimal).
  np.testing.assert_allclose(jax.grad(d_loss)(logit), 0.0, atol=1e-6)
  assert d_loss(logit + 0.1) > d_loss(logit)
  # Identical distributions: JSD = 0, D* = 1/2 and V = -log 4.
  np.testing.assert_allclose(
      losses.cross_entropy_d_loss(jnp.zeros(4), jnp.zeros(4), HP),
      math.log(4),
      rtol=1e-6,
  )


def test_wasserstein_losses(logits):
  real, fake = logits
  np.testing.assert_allclose(
      losses.wasserstein_d_loss(jnp.array(real), jnp.array(fake), HP),
      fake.mean() - real.mean(),
      rtol=1e-5,
  )
  np.testing.assert_allclose(
      losses.wasserstein_g_loss(None, jnp.array(fake), HP),
      -fake.mean(),
      rtol=1e-5,
  )


def test_hinge_d_loss_by_hand():
  real = jnp.array([2.0, 0.5, -1.0])  # relu(1 - x): 0, 0.5, 2
  fake = jnp.array([-2.0, 0.0, 1.0])  # relu(1 + x): 0, 1, 2
  np.testing.assert_allclose(
      losses.hinge_d_loss(real, fake, HP), 2.5 / 3 + 3.0 / 3, rtol=1e-6
  )


def test_least_squares_by_hand():
  real = jnp.array([1.0, 0.0])  # (x - 1)^2: 0, 1
  fake = jnp.array([0.0, 2.0])  # x^2: 0, 4
  np.testing.assert_allclose(
      losses.least_squares_d_loss(real, fake, HP),
      0.5 * 0.5 + 0.5 * 2.0,
      rtol=1e-6,
  )
  np.testing.assert_allclose(
      losses.least_squares_g_loss(None, fake, HP), 0.5 * (1 + 1) / 2, rtol=1e-6
  )


def test_unknown_objective_lists_valid_ones():
  with pytest.raises(ValueError, match='valid: .*non_saturating.*hinge'):
    losses.get_objective('nope')
