"""Closed forms the theory lab holds the library against.

The "expected" column of ``experiments.theory``: densities of the fixed 1-D
problems, the optimal discriminator, the Jensen-Shannon divergence by
numerical integration, and the distances between parallel lines. NumPy only;
nothing here trains.
"""

import dataclasses
import math
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

LOG_4 = math.log(4.0)


def gaussian_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
  return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


@dataclasses.dataclass(frozen=True)
class Mixture1D:
  """A 1-D Gaussian mixture: the data density of claims 1 and 2."""

  means: Tuple[float, ...] = (-1.5, 1.5)
  stds: Tuple[float, ...] = (0.5, 0.5)
  weights: Tuple[float, ...] = (0.5, 0.5)

  def pdf(self, x: np.ndarray) -> np.ndarray:
    return sum(
        (
            w * gaussian_pdf(x, m, s)
            for m, s, w in zip(self.means, self.stds, self.weights)
        ),
        np.zeros_like(x),
    )

  def sample(self, rng: jax.Array, count: int) -> jax.Array:
    """[count, 1] samples (jittable)."""
    component_rng, noise_rng = jax.random.split(rng)
    component = jax.random.choice(
        component_rng, len(self.means), (count,), p=jnp.asarray(self.weights)
    )
    noise = jax.random.normal(noise_rng, (count,))
    x = (
        jnp.asarray(self.means)[component]
        + jnp.asarray(self.stds)[component] * noise
    )
    return x[:, None]


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
  r""":math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))` (Goodfellow et
  al., 2014, Proposition 1), 1/2 where both densities vanish."""
  total = p_data + p_g
  return np.where(total > 0, p_data / np.where(total > 0, total, 1.0), 0.5)


def jensen_shannon(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
  r""":math:`JSD(p \| q) = \tfrac12 KL(p \| m) + \tfrac12 KL(q \| m)`,
  :math:`m = (p + q) / 2`, by the trapezoid rule on the grid ``x`` (natural
  log, so it lies in [0, log 2])."""
  m = (p + q) / 2

  def kl_term(a):
    safe = np.where(a > 0, a, 1.0)
    return np.where(a > 0, a * np.log(safe / np.where(m > 0, m, 1.0)), 0.0)

  return float(np.trapezoid(0.5 * kl_term(p) + 0.5 * kl_term(q), x))


def value_at_optimum(jsd: float) -> float:
  r"""The game's value with the optimal discriminator (Goodfellow et al.,
  2014, Theorem 1): :math:`V(D^*, G) = -\log 4 + 2\, JSD(p_{data} \| p_g)`."""
  return -LOG_4 + 2.0 * jsd


def parallel_lines_jsd(theta: float) -> float:
  """JSD between the uniform distributions on {0} x [0, 1] and
  {theta} x [0, 1] (Arjovsky et al., 2017, Example 1): log 2 whenever the
  lines differ, whatever the distance."""
  return math.log(2.0) if theta != 0 else 0.0


def parallel_lines_w1(theta: float) -> float:
  """The Wasserstein-1 distance between the same two lines: |theta|."""
  return abs(theta)


def gradient_penalty_estimate(theta: float, weight: float) -> float:
  r"""What a WGAN-GP critic reports for the parallel lines, at best.

  Among critics linear in the first coordinate, f(x) = s x_1, the penalised
  objective :math:`s|\theta| - \lambda (s - 1)^2` peaks at
  :math:`s = 1 + |\theta| / (2\lambda)`, where
  :math:`E f(real) - E f(fake) = |\theta| (1 + |\theta| / (2\lambda))`: the
  two-sided penalty lets the slope exceed 1 a little, so the estimate sits
  slightly above W1.
  """
  return abs(theta) * (1.0 + abs(theta) / (2.0 * weight))
