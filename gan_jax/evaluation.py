"""Evaluation of a generator on the 2-D benchmarks (pure, jittable)."""

from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax import metrics as gan_metrics
from gan_jax.data import Toy2D
from gan_jax.state import GANSpec, GANState, generator_params
from gan_jax.step_helpers import apply_model


def generate(
    spec: GANSpec,
    state: GANState,
    rng: jax.Array,
    num_samples: int,
    labels: Optional[jax.Array] = None,
) -> jax.Array:
  """``num_samples`` samples from G in network coordinates, inference mode,
  with the EMA params when the state keeps them (``labels`` [num_samples]
  for a conditional G)."""
  z = jax.random.normal(rng, (num_samples, spec.latent_dim))
  samples, _ = apply_model(
      spec.generator,
      state.g,
      generator_params(state),
      z,
      train=False,
      labels=labels,
      compute_dtype=spec.compute_dtype,
  )
  return samples


def evaluate_toy2d(
    spec: GANSpec,
    state: GANState,
    dataset: Toy2D,
    rng: jax.Array,
    num_samples: int,
    threshold: float,
) -> Tuple[Dict[str, jax.Array], jax.Array]:
  """Metrics and samples (data coordinates) for a 2-D benchmark.

  Metrics: for mixtures, the VEEGAN/PacGAN mode statistics
  (:mod:`gan_jax.metrics.mode_coverage`); for every dataset, the sliced
  Wasserstein-1 distance to as many real samples, next to the same distance
  between two independent real samples (the estimator's noise floor).
  """
  g_rng, real_rng, real2_rng, sw_rng = jax.random.split(rng, 4)
  samples = dataset.from_network(generate(spec, state, g_rng, num_samples))
  real = dataset.sample(real_rng, (num_samples,))
  real2 = dataset.sample(real2_rng, (num_samples,))
  results = {
      'sliced_w1': gan_metrics.sliced_wasserstein(samples, real, sw_rng),
      'sliced_w1_real_floor': gan_metrics.sliced_wasserstein(
          real2, real, sw_rng
      ),
  }
  if dataset.centers is not None:
    results.update(
        gan_metrics.mode_metrics(
            samples, jnp.asarray(dataset.centers), dataset.sigma, threshold
        )
    )
  return results, samples
