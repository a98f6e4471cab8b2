"""The step contract, checked before anything trains or is written.

What an algorithm's factory (gan_jax.algorithms) returns and what the
runners rely on (docs/forking.md says it in full):

* ``Steps.train_step(state, batch, rng) -> (state, metrics)``, pure and
  jittable; ``batch`` is [n_critic, B, *data_shape] (with [n_critic, B]
  int32 labels as ``(x, labels)`` for a conditional GAN). It returns a
  ``GANState`` of exactly the structure, shapes and dtypes it was given
  (the runners scan, vmap and checkpoint it), with ``step`` one higher
  (gan_jax.steps.finish_step does that and G's EMA).
* ``metrics``: a flat dict of scalar numbers. None is required: the
  progress bar shows ``d_loss`` and ``g_loss`` when there are such, and
  the sweep's figures and the theory lab chart ``g_grad_norm`` and
  ``g_fake`` when there are.
* ``Steps.train_loop(state, rng, data, sample_batch, num_steps)``: the
  runners' entry; ``gan_jax.steps.loop(train_step)`` makes one.
* The runners read ``state.step``, G's params and model state and
  ``state.g_ema`` (evaluation, samples), and replace ``state.hparams`` with
  the config's numbers when resuming.

:func:`check_steps` traces one train step abstractly (``jax.eval_shape``:
no compilation, no numbers) and says in one line what breaks the contract.
"""

import functools
import os
import sys
import traceback
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from gan_jax import state as gan_state
from gan_jax.state import GANSpec, GANState


class ContractError(ValueError):
  """A step factory's steps break the contract; the message is one line."""


class PluginError(ValueError):
  """A plug-in (objective, penalty) returned what the steps cannot use;
  raised while tracing, its message names the plug-in and what is wrong."""


def abstract_batch(spec: GANSpec, batch_size: int) -> Any:
  """What a train step receives: [n_critic, B, *data_shape] float32, with
  int32 labels for a conditional GAN."""
  x = jax.ShapeDtypeStruct(
      (spec.n_critic, batch_size, *spec.data_shape), jnp.float32
  )
  if not spec.num_classes:
    return x
  return x, jax.ShapeDtypeStruct((spec.n_critic, batch_size), jnp.int32)


def scalar(what: str, value: Any) -> Any:
  """``value``, checked to be a scalar loss or penalty (PluginError
  naming ``what`` otherwise)."""
  shape = getattr(value, 'shape', None)
  if shape != ():
    raise PluginError(
        f'{what} returns '
        + (f'shape {list(shape)}' if shape is not None else repr(value))
        + '; it must be a scalar (a mean over the batch)'
    )
  return value


def same_state(what: str, before: Any, after: Any) -> Any:
  """``after``, checked to have ``before``'s structure, shapes and dtypes
  (a plug-in's state slot, which the steps scan and checkpoint)."""
  difference = _first_difference(before, after, 'extra')
  if difference:
    raise PluginError(f'{what}: {difference}')
  return after


def _first_difference(
    given: Any, returned: Any, label: str = 'state'
) -> Optional[str]:
  """Where two abstract pytrees differ, in words; None if they agree."""
  given_leaves = dict(jax.tree_util.tree_leaves_with_path(given))
  returned_leaves = dict(jax.tree_util.tree_leaves_with_path(returned))
  named = {jax.tree_util.keystr(p): v for p, v in given_leaves.items()}
  back = {jax.tree_util.keystr(p): v for p, v in returned_leaves.items()}
  missing = [p for p in named if p not in back]
  if missing:
    return f'{label}{missing[0]} is missing from the {label} it returns'
  added = [p for p in back if p not in named]
  if added:
    return (
        f'it returns {label}{added[0]}, which the {label} it was given does '
        'not have (a plug-in state belongs in state.extra from init: '
        'init_extra)'
    )
  for path, leaf in named.items():
    other = back[path]
    if jnp.shape(leaf) != jnp.shape(other) or jnp.result_type(
        leaf
    ) != jnp.result_type(other):
      return (
          f'{label}{path} comes back {jnp.result_type(other)}'
          f'{list(jnp.shape(other))}, was {jnp.result_type(leaf)}'
          f'{list(jnp.shape(leaf))}'
      )
  # PyTreeDefs compare by their text (their stubs type no == ).
  if str(jax.tree.structure(given)) != str(jax.tree.structure(returned)):
    return f'the {label} it returns has another tree structure'
  return None


def describe(error: BaseException) -> str:
  """``Type at FILE:LINE: message``, one line, for an exception a plug-in's
  code raised (the line: the innermost frame outside JAX and Python)."""
  reason = (str(error).strip().splitlines() or [''])[0]
  return f'{type(error).__name__}{_where(error)}: {reason[:300]}'


def _where(error: BaseException) -> str:
  """' at FILE:LINE' of the innermost frame outside JAX and the standard
  library: where a plug-in's own code raised."""
  frames = [
      frame
      for frame in traceback.extract_tb(error.__traceback__)
      if f'{os.sep}jax{os.sep}' not in frame.filename
      and f'{os.sep}jaxlib{os.sep}' not in frame.filename
      and not frame.filename.startswith(sys.base_prefix)
  ]
  if not frames:
    return ''
  frame = frames[-1]
  return f' at {os.path.relpath(frame.filename)}:{frame.lineno}'


def check_steps(
    steps: Any,
    spec: GANSpec,
    batch_size: int,
    hparams: Optional[Dict[str, float]] = None,
) -> None:
  """Raises ContractError (one line) if ``steps`` (from ``spec``'s
  algorithm, built without ``axis_name``) break the contract on a batch of
  ``batch_size``."""
  name = f'train.algorithm={spec.algorithm!r}'
  for field in ('train_step', 'train_loop'):
    if not callable(getattr(steps, field, None)):
      raise ContractError(
          f'{name}: its factory returned {type(steps).__name__}, which has '
          f'no callable {field}; return gan_jax.steps.Steps(train_step, '
          'gan_jax.steps.loop(train_step))'
      )
  key = jax.ShapeDtypeStruct((2,), jnp.uint32)
  what = (
      f'{name} with objective {spec.objective!r}, D penalty '
      f'{spec.penalty!r} and G penalty {spec.g_penalty!r}'
  )
  try:
    state = jax.eval_shape(
        functools.partial(gan_state.init_state, spec), key, hparams
    )
  except Exception as error:  # A plug-in's init_extra, say.
    raise ContractError(
        f'initialising the state of {what} fails ({describe(error)})'
    ) from None
  try:
    out = jax.eval_shape(
        steps.train_step, state, abstract_batch(spec, batch_size), key
    )
  except PluginError as error:
    raise ContractError(f'{error} (in a train step of {name})') from None
  except Exception as error:  # Whatever the fork's code raised.
    raise ContractError(
        f'one train step of {what} fails ({describe(error)})'
    ) from None
  if not (isinstance(out, tuple) and len(out) == 2):
    raise ContractError(
        f'{name}: its train_step returns {type(out).__name__}, not '
        '(state, metrics)'
    )
  new_state, metrics = out
  if not isinstance(new_state, GANState):
    raise ContractError(
        f'{name}: its train_step returns a {type(new_state).__name__} as the '
        'state, not a GANState'
    )
  difference = _first_difference(state, new_state)
  if difference:
    raise ContractError(
        f'{name}: its train_step breaks the state: ' f'{difference}'
    )
  if not isinstance(metrics, dict):
    raise ContractError(
        f'{name}: its train_step returns metrics as a '
        f'{type(metrics).__name__}, not a flat dict of scalars'
    )
  for metric, value in metrics.items():
    if not isinstance(metric, str) or not hasattr(value, 'shape'):
      raise ContractError(
          f'{name}: its metric {metric!r} is not a named array; metrics are '
          'a flat dict of scalars'
      )
    if value.shape != ():
      raise ContractError(
          f'{name}: its metric {metric!r} has shape {list(value.shape)}; '
          'metrics are scalars (take the mean of a batch quantity)'
      )
