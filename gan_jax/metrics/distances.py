"""Sample-based distances between two point clouds."""

import jax
import jax.numpy as jnp

_SIGNED = {4: jnp.int32, 8: jnp.int64}  # Float itemsize -> integer key.


def sort_floats(x: jax.Array) -> jax.Array:
  """``jnp.sort(x, axis=-1)`` for float32/float64, by integer keys.

  Why: XLA:CPU sorts floats through a NaN-aware comparator about 6x slower
  than it sorts integers (0.12 s against 0.02 s for 256 x 2,500 float32 on
  a 2-core EPYC), and the sliced W1 of every evaluation spends most of its
  time sorting. A float's bits read as a signed integer are in the float's
  order for non-negative values and in reverse order for negative ones, so
  flipping all but the sign bit of the negatives gives order-preserving
  keys. (NaNs: positive ones sort last, negative ones first; either way the
  distance comes out NaN.)
  """
  key_type = _SIGNED.get(jnp.dtype(x.dtype).itemsize)
  if key_type is None or not jnp.issubdtype(x.dtype, jnp.floating):
    return jnp.sort(x, axis=-1)
  magnitude_bits = jnp.iinfo(key_type).max

  def flip_negatives(keys):
    return jnp.where(keys < 0, keys ^ magnitude_bits, keys)

  keys = flip_negatives(jax.lax.bitcast_convert_type(x, key_type))
  keys = flip_negatives(jnp.sort(keys, axis=-1))
  return jax.lax.bitcast_convert_type(keys, x.dtype)


def sliced_wasserstein(
    x: jax.Array, y: jax.Array, rng: jax.Array, num_projections: int = 256
) -> jax.Array:
  r"""Sliced Wasserstein-1 distance between equal-size samples [N, d].

  .. math:: SW_1(x, y) = E_{\theta \sim U(S^{d-1})}
            \big[W_1(\theta^\top x, \theta^\top y)\big]

  estimated with ``num_projections`` random directions; the 1-D W1 between
  two equal-size samples is the mean absolute difference of their sorted
  values (Rabin et al., 2011; Bonneel et al., 2015).
  """
  directions = jax.random.normal(rng, (x.shape[1], num_projections))
  directions /= jnp.linalg.norm(directions, axis=0, keepdims=True)
  # [projections, N]: XLA:CPU sorts along the last axis fastest.
  px = sort_floats(directions.T @ x.T)
  py = sort_floats(directions.T @ y.T)
  return jnp.mean(jnp.abs(px - py))
