"""Mixed precision: matrix products and convolutions in a compute dtype,
everything an optimizer sees in float32.

The policy of DeepMind's jmp and of Micikevicius et al. (2018), without
loss scaling: :func:`to_compute` casts a network's floating-point params
and its input to the compute dtype just before the network runs, and
:func:`to_float32` casts its outputs back. Parameters, optimizer states and
the EMA are float32 and stay so; losses and penalties are computed in
float32 from float32 outputs. Gradients come back float32: a cast's
derivative casts the cotangent back to the source dtype. Batch norm
statistics and spectral-norm vectors (the model state) keep their float32
(flax computes batch statistics in float32 for bfloat16 inputs).

bfloat16 has float32's exponent range, so gradients neither overflow nor
underflow where float32's would not; float16's range ends at 65504 and it
needs loss scaling, which is why it is not offered (gan_jax.config).
"""

import jax
import jax.numpy as jnp

COMPUTE_DTYPES = ('float32', 'bfloat16')


def _cast(tree, dtype):
  def cast(x):
    if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating):
      return jnp.asarray(x).astype(dtype)
    return x

  return jax.tree.map(cast, tree)


def to_compute(params, x, dtype: str):
  """(params, x) with their floating-point leaves in ``dtype``."""
  if dtype == 'float32':
    return params, x
  return _cast(params, dtype), _cast(x, dtype)


def to_float32(tree):
  """``tree``'s floating-point leaves as float32 (outputs, model state)."""
  return _cast(tree, jnp.float32)
