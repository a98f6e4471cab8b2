"""Many runs of one GAN as one program: the state gets a leading run axis.

Runs that differ only in numbers the state holds -- the seed (initial params,
the train key), the scalars of ``GANState.hparams`` (label targets, penalty
weight, clip value, EMA decay) and the optimizers' learning rates and betas
(``gan_jax.optim`` keeps them in the optimizer state) -- share one
``GANSpec``. Their states are stacked and the train loop is vmapped over
them, so R runs cost one compilation and one dispatch per chunk instead of R.

A run whose metrics turn NaN or infinite is *frozen*: from that chunk on its
state stays at the last finite one and it is reported as diverged, while the
others go on. (vmapped runs never mix numbers, so a NaN cannot spread; the
freeze keeps a diverged run's state usable, e.g. for its last checkpoint.)
"""

import functools
import json
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import optim
from gan_jax.state import GANSpec, GANState, compiled_init

# Config fields that label a run without changing its program (the variant's
# name: its fields count) or set only the keys it starts from.
LABEL_FIELDS = ('variant', 'seed')


def group_key(config) -> str:
  """Equal for two configs exactly when their runs can be vmapped together:
  they agree on every field but the labels and the numbers the state holds
  (gan_jax.config.batchable_fields: the declared batchable scalars, the
  optimizers' learning rates and betas).

  SGD's momentum is the exception among the betas: zero means no momentum
  state at all (gan_jax.optim), so whether it is zero is part of the key.
  """
  from gan_jax.config import batchable_fields  # gan_jax.config imports data.

  flat = flatten(
      config.to_dict() if hasattr(config, 'to_dict') else dict(config)
  )
  for side in ('g', 'd'):
    if flat.get(f'optim.{side}.name') == 'sgd':
      flat[f'optim.{side}.momentum'] = bool(flat[f'optim.{side}.b1'])
  for field in (*LABEL_FIELDS, *batchable_fields()):
    flat.pop(field, None)
  return json.dumps(flat, sort_keys=True, default=str)


def flatten(tree, prefix: str = '') -> Dict[str, Any]:
  """A nested dict as ``{'a.b.c': value}``."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def stack(states: Sequence[GANState]) -> GANState:
  """R states of one structure -> one state with a leading axis of size R."""
  return jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)


def init_group(
    specs: Sequence[GANSpec],
    keys: jax.Array,
    hparams: Sequence[Dict[str, float]],
) -> GANState:
  """The stacked initial states of runs with these specs (one group), keys
  [R] and hparams: ``stack([init_state(s, k, h) ...])``, as one compiled
  initialisation (``compiled_init``) called R times and stacked on the host
  (NumPy leaves). A vmapped one took twice as long to compile on CPU (~2 s
  against ~1 s), and it runs once.

  The specs differ only in their optimizers' numbers (``group_key``), which
  :func:`gan_jax.optim.hyperparams_of` reads from each run's own optimizer.
  """
  init = compiled_init(specs[0])
  states = jax.device_get([init(key, h) for key, h in zip(keys, hparams)])
  states = jax.tree.map(lambda *leaves: np.stack(leaves), *states)

  def own_optimizers(net, side):
    numbers = jax.tree.map(
        lambda *leaves: np.stack(leaves),
        *(optim.hyperparams_of(getattr(spec, side)) for spec in specs),
    )
    return net.replace(opt_state=optim.with_hyperparams(net.opt_state, numbers))

  return states.replace(
      g=own_optimizers(states.g, 'g_optimizer'),
      d=own_optimizers(states.d, 'd_optimizer'),
  )


def unstack(states: GANState, index: int) -> GANState:
  """Run ``index`` of a stacked state."""
  return jax.tree.map(lambda leaf: leaf[index], states)


def num_runs(states: GANState) -> int:
  return int(states.step.shape[0])


def _select(keep_new: jax.Array, new, old):
  """Per run: ``new`` where keep_new, else ``old``."""

  def pick(n, o):
    return jnp.where(keep_new.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)

  return jax.tree.map(pick, new, old)


def make_group_loop(
    train_loop: Callable[..., Any],
    sample_batch: Callable[..., Any],
    num_steps: int,
    runs_axis: Optional[str] = None,
    params_of: Callable[[Any], Any] = lambda s: (s.g.params, s.d.params),
) -> Callable[..., Tuple[Any, Dict[str, jax.Array], jax.Array]]:
  """A jitted ``loop(states, rngs, data, alive) -> (states, metrics,
  alive)`` that runs ``num_steps`` train steps of every live run.

  Args:
    train_loop: one run's ``train_loop`` (``Steps.train_loop`` of the
      group's spec, or any trainer's of the same form).
    sample_batch: as for ``Steps.train_loop``; called per run with that
      run's key, so each run sees its own data stream.
    num_steps: train steps per call.
    runs_axis: the mesh axis the run axis is sharded over, if any
      (``vmap``'s ``spmd_axis_name``: sharding constraints inside the step
      then keep the runs split across devices).
    params_of: ``state -> params`` that must stay finite (G's and D's).

  ``states`` and ``rngs`` have a leading run axis; ``data`` is shared;
  ``alive`` [R] bool marks the runs still training. Metrics come back
  [R, num_steps]; a run that produced a non-finite metric or parameter in
  this call returns its state from before the call and ``alive`` False.
  """
  loop = functools.partial(
      train_loop, sample_batch=sample_batch, num_steps=num_steps
  )
  vmapped = jax.vmap(loop, in_axes=(0, 0, None), spmd_axis_name=runs_axis)

  def group_loop(states, rngs, data, alive):
    new_states, metrics = vmapped(states, rngs, data)
    finite = jnp.stack(
        [jnp.all(jnp.isfinite(m), axis=1) for m in jax.tree.leaves(metrics)]
        + [
            jnp.all(jnp.isfinite(p.reshape(p.shape[0], -1)), axis=1)
            for p in jax.tree.leaves(params_of(new_states))
        ]
    ).all(axis=0)
    keep = alive & finite
    return _select(keep, new_states, states), metrics, keep

  return jax.jit(group_loop, donate_argnums=0)
