"""Mode coverage of a mixture, as VEEGAN and PacGAN measure it.

Protocol (Srivastava et al., 2017, Sec. 5.1; Lin et al., 2018, Sec. 5.1): draw
2,500 generator samples; a sample is *high quality* if it lies within
``threshold`` (3) standard deviations of its nearest mixture centre; a mode is
*covered* if it is the nearest centre of at least one high-quality sample. The
reverse KL divergence compares the histogram of high-quality samples over
modes, p_g(m), with the uniform target: KL(p_g || U) = sum_m p_g(m) log(M
p_g(m)), with 0 log 0 = 0; it is 0 for perfectly balanced coverage and log M
when every high-quality sample falls in one mode. With no high-quality
sample at all it is undefined and reported as NaN.
"""

from typing import Dict

import jax
import jax.numpy as jnp

NUM_SAMPLES = 2500
THRESHOLD = 3.0


def mode_counts(
    samples: jax.Array,
    centers: jax.Array,
    sigma: float,
    threshold: float = THRESHOLD,
):
  """(counts of high-quality samples per mode [M], high-quality mask [N])."""
  sq_dist = jnp.sum(jnp.square(samples[:, None, :] - centers[None]), axis=-1)
  nearest = jnp.argmin(sq_dist, axis=1)
  high_quality = jnp.min(sq_dist, axis=1) <= (threshold * sigma) ** 2
  counts = (
      jnp.zeros(centers.shape[0])
      .at[nearest]
      .add(high_quality.astype(jnp.float32))
  )
  return counts, high_quality


def mode_metrics(
    samples: jax.Array,
    centers: jax.Array,
    sigma: float,
    threshold: float = THRESHOLD,
) -> Dict[str, jax.Array]:
  """Modes covered, percent high quality, reverse KL; ``samples`` [N, 2]."""
  centers = jnp.asarray(centers, jnp.float32)
  counts, high_quality = mode_counts(samples, centers, sigma, threshold)
  total = jnp.sum(counts)
  p = counts / jnp.maximum(total, 1.0)
  num_modes = centers.shape[0]
  terms = jnp.where(p > 0, p * jnp.log(jnp.maximum(p, 1e-30) * num_modes), 0.0)
  return {
      'modes': jnp.sum(counts > 0).astype(jnp.float32),
      'high_quality_pct': 100.0 * jnp.mean(high_quality.astype(jnp.float32)),
      'reverse_kl': jnp.where(total > 0, jnp.sum(terms), jnp.nan),
  }
