"""What the steps are written with, none of it an algorithm: running a
network, PacGAN's packing, averaging over devices, and the loops and lazy
terms in the form XLA:CPU runs fast.

A fork of gan_jax.steps that builds on these keeps the steps' behaviour on
every route and formulation: ``unroll`` (the CPU formulation, which the
runner turns on for convolutional models on a CPU) writes loops out and
computes lazy terms on every step instead of under a conditional, because
XLA:CPU runs convolutions inside loop bodies and conditionals many times
slower (jax-ml/jax#12868). Same results; a longer compile.
"""

import operator
from typing import Any, Callable, Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import precision
from gan_jax.context import pack  # noqa: F401  (re-exported for the steps)
from gan_jax.state import NetState

Array = jax.Array


def split_batch(batch) -> Tuple[Array, Optional[Array]]:
  """(x, labels) of a batch given as ``x`` or ``(x, labels)``."""
  if isinstance(batch, (tuple, list)):
    x, labels = batch
    return x, labels
  return batch, None


def apply_model(
    module,
    net: NetState,
    params,
    x: Array,
    train: bool = True,
    labels: Optional[Array] = None,
    compute_dtype: str = 'float32',
    rng: Optional[Array] = None,
    method: Optional[str] = None,
) -> Tuple[Array, Any]:
  """Runs ``module`` (or its ``method``) and returns (outputs, updated
  model_state), float32; its products run in ``compute_dtype``
  (gan_jax.precision). ``rng`` feeds a module's ``noise`` stream
  (StyleGAN2's per-pixel noise and style mixing)."""
  params, x = precision.to_compute(params, x, compute_dtype)
  variables = {'params': params, **net.model_state}
  # Only conditional models take labels; unconditional ones keep the plain
  # two-argument call of any flax module.
  extra = () if labels is None else (labels,)
  kwargs = dict(rngs=None if rng is None else {'noise': rng}, method=method)
  if train and net.model_state:
    out, updated = module.apply(
        variables,
        x,
        *extra,
        train=True,
        mutable=list(net.model_state),
        **kwargs,
    )
    return precision.to_float32((out, dict(updated)))
  out = module.apply(variables, x, *extra, train=train, **kwargs)
  return precision.to_float32(out), net.model_state


def pmean(tree: Any, axis_name: Optional[str]) -> Any:
  """``tree`` averaged over the devices of ``axis_name`` (None: itself)."""
  return tree if axis_name is None else lax.pmean(tree, axis_name)


def pmean_floats(tree: Any, axis_name: Optional[str]) -> Any:
  """:func:`pmean` of the floating-point leaves; others (counters) as
  they are."""
  if axis_name is None:
    return tree
  return jax.tree.map(
      lambda x: (
          lax.pmean(x, axis_name)
          if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
          else x
      ),
      tree,
  )


def lazily(
    compute: Callable[[], Any],
    every: int,
    step: Array,
    skipped: Any,
    branchless: bool = False,
) -> Any:
  """``compute()`` on the steps where ``step % every == 0``, else
  ``skipped`` (of the same structure), in one compiled program: a
  ``lax.cond``, or with ``branchless`` (the CPU formulation) computed on
  every step and selected."""
  if every == 1:
    return compute()
  fire = step % every == 0
  if branchless:
    return jax.tree.map(
        lambda done, kept: jnp.where(fire, done, kept), compute(), skipped
    )
  return lax.cond(fire, compute, lambda: skipped)


def scan(body, carry, xs, unroll: bool = False):
  """``lax.scan(body, carry, xs)``, or with ``unroll`` the same written out
  in Python (``lax.scan(unroll=True)`` still emits an XLA while loop)."""
  if not unroll:
    return lax.scan(body, carry, xs)
  outputs = []
  for i in range(jax.tree.leaves(xs)[0].shape[0]):
    carry, out = body(carry, jax.tree.map(operator.itemgetter(i), xs))
    outputs.append(out)
  return carry, jax.tree.map(lambda *o: jnp.stack(o), *outputs)
