"""Sample-based distances between two point clouds."""

import jax
import jax.numpy as jnp


def sliced_wasserstein(x: jax.Array, y: jax.Array, rng: jax.Array,
                       num_projections: int = 256) -> jax.Array:
  r"""Sliced Wasserstein-1 distance between equal-size samples [N, d].

  .. math:: SW_1(x, y) = E_{\theta \sim U(S^{d-1})}
            \big[W_1(\theta^\top x, \theta^\top y)\big]

  estimated with ``num_projections`` random directions; the 1-D W1 between
  two equal-size samples is the mean absolute difference of their sorted
  values (Rabin et al., 2011; Bonneel et al., 2015).
  """
  directions = jax.random.normal(rng, (x.shape[1], num_projections))
  directions /= jnp.linalg.norm(directions, axis=0, keepdims=True)
  px = jnp.sort(x @ directions, axis=0)
  py = jnp.sort(y @ directions, axis=0)
  return jnp.mean(jnp.abs(px - py))
