"""Gradient penalties against closed forms and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import penalties
from gan_jax.context import Context


def _linear_critic(w):
  return lambda x: x.reshape(x.shape[0], -1) @ w


def test_gradient_penalty_of_linear_critic_is_closed_form():
  """f(x) = w.x has gradient w everywhere: penalty (||w|| - 1)^2."""
  rng = np.random.default_rng(0)
  w = jnp.array(rng.normal(size=12))
  real = jnp.array(rng.normal(size=(8, 3, 4)))
  fake = jnp.array(rng.normal(size=(8, 3, 4)))
  eps = jax.random.uniform(jax.random.PRNGKey(0), (8,))
  gp = penalties.gradient_penalty(_linear_critic(w), real, fake, eps)
  np.testing.assert_allclose(gp, (np.linalg.norm(w) - 1.0) ** 2, rtol=1e-5)
  np.testing.assert_allclose(
      penalties.gradient_penalty(
          _linear_critic(w), real, fake, eps, target=2.0
      ),
      (np.linalg.norm(w) - 2.0) ** 2,
      rtol=1e-5,
  )


def test_one_sided_penalty_ignores_small_norms():
  w = jnp.array([0.3, 0.4])  # ||w|| = 0.5 < 1.
  x = jnp.ones((4, 2))
  eps = jnp.full((4,), 0.5)
  assert (
      penalties.gradient_penalty(_linear_critic(w), x, x, eps, one_sided=True)
      == 0.0
  )
  np.testing.assert_allclose(
      penalties.gradient_penalty(_linear_critic(w), x, x, eps), 0.25, rtol=1e-6
  )
  big = jnp.array([3.0, 4.0])  # ||w|| = 5: both forms give 16.
  np.testing.assert_allclose(
      penalties.gradient_penalty(
          _linear_critic(big), x, x, eps, one_sided=True
      ),
      16.0,
      rtol=1e-6,
  )


def test_norm_is_per_example_not_over_the_batch():
  """f(x) = ||x||^2 / 2 has gradient x: per-example norms ||x_i||."""
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x), axis=(1, 2))
  x = jnp.array(np.random.default_rng(1).normal(size=(5, 2, 3)))
  norms = penalties.per_example_grad_norm(critic, x)
  np.testing.assert_allclose(
      norms, np.linalg.norm(np.asarray(x).reshape(5, -1), axis=1), rtol=1e-5
  )
  eps = jnp.ones((5,))  # Interpolates are the real samples.
  expected = np.mean(
      (np.linalg.norm(np.asarray(x).reshape(5, -1), axis=1) - 1.0) ** 2
  )
  np.testing.assert_allclose(
      penalties.gradient_penalty(critic, x, x * 0, eps), expected, rtol=1e-5
  )
  # A batch-wide norm would give a different number.
  batch_norm = (np.linalg.norm(np.asarray(x)) - 1.0) ** 2
  assert not np.isclose(expected, batch_norm)


def test_interpolates_lie_between_real_and_fake():
  """With eps = 1 the penalty is evaluated at real, with eps = 0 at fake."""
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x), axis=1)
  real = jnp.full((3, 2), 2.0)  # gradient norm 2 sqrt 2
  fake = jnp.full((3, 2), 0.5)  # gradient norm sqrt 2 / 2
  at_real = penalties.gradient_penalty(critic, real, fake, jnp.ones(3))
  at_fake = penalties.gradient_penalty(critic, real, fake, jnp.zeros(3))
  np.testing.assert_allclose(at_real, (2 * np.sqrt(2) - 1) ** 2, rtol=1e-5)
  np.testing.assert_allclose(at_fake, (np.sqrt(2) / 2 - 1) ** 2, rtol=1e-5)


def test_r1_of_linear_critic():
  w = jnp.array([1.0, 2.0, 2.0])  # ||w||^2 = 9.
  x = jnp.ones((6, 3))
  np.testing.assert_allclose(
      penalties.r1_penalty(_linear_critic(w), x), 4.5, rtol=1e-6
  )


def test_r1_r2_penalises_real_and_fake_at_one_weight():
  """f(x) = ||x||^2 / 2 has gradient x: R1 = E||x_real||^2 / 2 and R2 =
  E||x_fake||^2 / 2, summed."""
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x), axis=1)
  real = jnp.array([[1.0, 2.0], [2.0, 2.0]])  # ||x||^2: 5, 8.
  fake = jnp.array([[3.0, 0.0], [0.0, 1.0]])  # 9, 1.
  ctx = Context(hparams={}, critic=critic, real=real, fake=fake)
  value = penalties.D_PENALTIES.lookup('r1_r2').value(ctx)
  np.testing.assert_allclose(value, 0.5 * 6.5 + 0.5 * 5.0, rtol=1e-6)


def test_penalty_gradient_matches_finite_differences():
  """The double backward through the penalty, checked numerically."""
  rng = np.random.default_rng(2)
  real = (
      jnp.array(rng.normal(size=(4, 3)), jnp.float64)
      if jax.config.jax_enable_x64
      else jnp.array(rng.normal(size=(4, 3)))
  )
  fake = jnp.array(rng.normal(size=(4, 3)))
  eps = jnp.array([0.1, 0.4, 0.7, 0.9])
  w1 = jnp.array(rng.normal(size=(3, 5)))
  w2 = jnp.array(rng.normal(size=(5,)))

  def penalty(theta):
    critic = lambda x: jnp.tanh(x @ theta) @ w2
    return penalties.gradient_penalty(critic, real, fake, eps)

  grad = jax.grad(penalty)(w1)
  h = 1e-2
  direction = jnp.array(rng.normal(size=(3, 5)))
  numeric = (penalty(w1 + h * direction) - penalty(w1 - h * direction)) / (
      2 * h
  )
  np.testing.assert_allclose(jnp.sum(grad * direction), numeric, rtol=2e-3)
