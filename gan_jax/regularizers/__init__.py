"""Regularisers that join the objective: the registry and its plug-in type.

``objective.regularizers`` names any number of them, joined by ``+``
(``'lecam'``, ``'zcr+lecam'``; ``'none'`` for none), on top of the one
gradient-penalty slot (``objective.penalty``, gan_jax.penalties). Each
weighs its own terms with scalars it declares (``objective.lecam_weight``,
...), so a weight of 0 leaves the plain step's numbers exactly.

A :class:`Regularizer` may add a term to D's loss (``d``), a term to G's
(``g``), and may change how G's objective loss is taken (``g_objective``:
top-k training keeps the fakes D rates highest). Each term sees the step
through a :class:`gan_jax.context.Context`, as the penalties do: D's term
gets the real and fake batches D judged, its outputs, the critic, the
latents and a frozen generator; G's term gets the generator being trained
and its latents. Random numbers come from ``ctx.rng`` through ``ctx.draw``
(drawn for the global batch), batch statistics through ``ctx.mean``, so a
term is the same on one device or eight.

The built-in ones: ``cr``, ``bcr``, ``zcr`` (gan_jax.regularizers.
consistency), ``lecam`` (gan_jax.regularizers.lecam), ``topk``
(gan_jax.regularizers.topk).
"""

from collections.abc import Callable, Mapping
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.registry import Registry
from gan_jax.shapes import Outputs, Scalar

Array = jax.Array
GLoss = Callable[[Optional[Outputs], Outputs, Context], Scalar]

# Separates the names in ``objective.regularizers`` (a comma separates
# the values of a sweep's --grid).
SEPARATOR = '+'


class Regularizer(NamedTuple):
  """Terms added to D's and G's losses (see the module docstring).

  Attributes:
    d: ``d(ctx) -> value`` added to D's loss, already weighted; with
      ``init_extra``, ``d(ctx) -> (value, new extra)``. None: no D term.
    g: ``g(ctx) -> value`` added to G's loss, already weighted (reads
      ``ctx.extra``, does not update it). None: no G term.
    g_objective: ``g_objective(loss, ctx) -> loss``: G's objective loss
      ``(real_out, fake_out, ctx) -> scalar`` as it is to be taken (top-k);
      None: unchanged.
    hparams: its scalars, weights included.
    init_extra: ``init_extra(spec) -> pytree``: its state at step 0, kept
      in ``GANState.extra[name]``; None if none.
    log: ``log(extra) -> {metric: scalar}``, logged with D's metrics.
    per_example: its D term differentiates D per example (batch norm in
      D is refused with it).
    check: ``check(config) -> None``, raising ValueError with one line for
      a config it cannot train.
  """

  d: Optional[Callable[[Context], Any]] = None
  g: Optional[Callable[[Context], Any]] = None
  g_objective: Optional[Callable[[GLoss, Context], GLoss]] = None
  hparams: Tuple[HParam, ...] = ()
  init_extra: Optional[Callable[[Any], Any]] = None
  log: Optional[Callable[[Any], Dict[str, Array]]] = None
  per_example: bool = False
  check: Optional[Callable[[Mapping], None]] = None


REGULARIZERS: Registry[Regularizer] = Registry('regularizer')


def parse(value: Any) -> Tuple[str, ...]:
  """The names ``objective.regularizers`` gives ('none' is none); an
  unknown or repeated name is a ValueError of one line."""
  if not isinstance(value, str) or not value.strip():
    raise ValueError(
        f'objective.regularizers={value!r} is not allowed: none or names '
        f'joined by {SEPARATOR!r} ({", ".join(REGULARIZERS)})'
    )
  if value == 'none':
    return ()
  names = tuple(name.strip() for name in value.split(SEPARATOR))
  if 'none' in names:
    raise ValueError(
        f'objective.regularizers={value!r} is not allowed: none stands '
        f'alone; give names joined by {SEPARATOR!r}'
    )
  for name in names:
    if name not in REGULARIZERS:
      raise ValueError(
          f'objective.regularizers={value!r} is not allowed: '
          + REGULARIZERS.unknown(name)
      )
  if len(set(names)) != len(names):
    raise ValueError(
        f'objective.regularizers={value!r} is not allowed: a name twice'
    )
  return names


def _own(ctx: Context, index: int, extra: Any) -> Context:
  """The context of the ``index``-th regulariser: a key of its own (two
  that draw alike do not draw the same numbers; the first keeps the
  terms' key) and its state."""
  rng = jax.random.fold_in(ctx.rng, index) if index else ctx.rng
  return ctx.replace(rng=rng, extra=extra)


def d_terms(
    names: Tuple[str, ...], ctx: Context, extra: Dict[str, Any]
) -> Tuple[Array, Dict[str, Array], Dict[str, Any]]:
  """(the sum of the D terms, each by name, ``extra`` with their states
  updated)."""
  from gan_jax import contract  # It imports the state, which imports us.

  total, values = jnp.zeros(()), {}
  for index, name in enumerate(names):
    regularizer = REGULARIZERS.lookup(name)
    if regularizer.d is None:
      continue
    what = f'regularizer {name!r}'
    stateful = regularizer.init_extra is not None
    value = regularizer.d(_own(ctx, index, extra.get(name)))
    if stateful != isinstance(value, tuple):
      raise contract.PluginError(
          f'{what} returns {"a tuple" if not stateful else "one value"}: '
          'd(ctx) returns (value, new extra) exactly when the regularizer '
          'declares init_extra'
      )
    if stateful:
      value, new = value
      contract.same_state(what, extra.get(name), new)
      extra = {**extra, name: new}
    values[name] = contract.scalar(what, value)
    total = total + values[name]
  return total, values, extra


def g_terms(
    names: Tuple[str, ...], ctx: Context, extra: Dict[str, Any]
) -> Tuple[Array, Dict[str, Array]]:
  """(the sum of the G terms, each by name)."""
  from gan_jax import contract  # It imports the state, which imports us.

  total, values = jnp.zeros(()), {}
  for index, name in enumerate(names):
    regularizer = REGULARIZERS.lookup(name)
    if regularizer.g is not None:
      value = regularizer.g(_own(ctx, index, extra.get(name)))
      values[name] = contract.scalar(f'regularizer {name!r}', value)
      total = total + values[name]
  return total, values


def g_objective(names: Tuple[str, ...], loss: GLoss, ctx: Context) -> GLoss:
  """G's objective loss as the named regularisers take it."""
  for name in names:
    regularizer = REGULARIZERS.lookup(name)
    if regularizer.g_objective is not None:
      loss = regularizer.g_objective(loss, ctx)
  return loss


def logs(names: Tuple[str, ...], extra: Dict[str, Any]) -> Dict[str, Array]:
  """What the named regularisers log of their state."""
  logged: Dict[str, Array] = {}
  for name in names:
    regularizer = REGULARIZERS.lookup(name)
    if regularizer.log is not None:
      logged.update(regularizer.log(extra[name]))
  return logged


from gan_jax.regularizers import consistency, lecam, topk  # noqa: E402,F401
