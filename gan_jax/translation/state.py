"""The functional state of a CycleGAN: four networks, each with its own
optimizer, and the two history buffers.

``CycleSpec`` holds what shapes the computation (modules, optimizers, the
adversarial objective's name, shapes, the buffer size): static and hashable.
``CycleState`` holds every number that changes or that a sweep may vary:
a pytree, jitted, donated, vmapped and checkpointed whole -- the history
buffers included, so a resumed run is the run that was never stopped.
"""

import dataclasses
import functools
from typing import Any, Callable, Dict, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax import losses, optim
from gan_jax.state import NetState
from gan_jax.translation import history as history_lib


@dataclasses.dataclass(frozen=True)
class CycleSpec:
  """The static description of a CycleGAN's training computation.

  Attributes:
    g: module X -> Y; f: module Y -> X (inputs and outputs in network
      coordinates: images in [-1, 1], or 2-D points).
    d_x, d_y: modules judging X and Y; outputs of any shape (one value per
      example, or PatchGAN's grid), averaged by the objective.
    g_optimizer, d_optimizer: the optax optimizers of G and F (each its own
      state) and of D_X and D_Y.
    objective: a name in gan_jax.losses.OBJECTIVES ('least_squares' as in
      the paper).
    x_shape, y_shape: shapes of one example of each domain.
    history_size: generated images kept for D's updates (0: none).
    identity_loss: whether G and F pay the identity loss (needs equal
      shapes; its weight is in the state).
    compute_dtype: dtype of the products (gan_jax.precision).
    algorithm: the step factory's name in
      gan_jax.translation.steps.ALGORITHMS.
  """

  g: nn.Module
  f: nn.Module
  d_x: nn.Module
  d_y: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  objective: str = 'least_squares'
  x_shape: Tuple[int, ...] = (2,)
  y_shape: Tuple[int, ...] = (2,)
  history_size: int = 50
  identity_loss: bool = True
  compute_dtype: str = 'float32'
  algorithm: str = 'cyclegan'

  def __post_init__(self):
    losses.get_objective(self.objective)
    if self.history_size < 0:
      raise ValueError(f'history_size must be >= 0, got {self.history_size}')
    if self.identity_loss and self.x_shape != self.y_shape:
      raise ValueError(
          f'the identity loss needs domains of one shape, got '
          f'{self.x_shape} and {self.y_shape}'
      )


# Scalars a step reads from the state besides its objective's (declared by
# the objective, gan_jax.hparams); defaults are the paper's.
DEFAULT_HPARAMS = {
    'cycle_weight': 10.0,  # lambda of the cycle loss.
    'identity_weight': 0.5,  # The identity loss's weight, times lambda.
}


def default_hparams(spec: CycleSpec) -> Dict[str, float]:
  """Every scalar the state holds, at its default."""
  objective = losses.get_objective(spec.objective)
  return {
      **DEFAULT_HPARAMS,
      **{h.name: h.default for h in objective.hparams if h.batchable},
  }


class CycleState(struct.PyTreeNode):
  """Everything that changes during training, as one pytree."""

  step: jax.Array  # Completed train steps, int32 scalar.
  g: NetState  # X -> Y.
  f: NetState  # Y -> X.
  d_x: NetState
  d_y: NetState
  history_x: history_lib.History  # Past F(y), for D_X.
  history_y: history_lib.History  # Past G(x), for D_Y.
  hparams: Dict[str, jax.Array]


def _init_net(module, tx, rng, shape) -> NetState:
  variables = dict(
      module.init(rng, jnp.zeros((1, *shape), jnp.float32), train=False)
  )
  params = variables.pop('params')
  return NetState(
      params=params, model_state=variables, opt_state=tx.init(params)
  )


def init_state(
    spec: CycleSpec, rng: jax.Array, hparams: Optional[Dict[str, float]] = None
) -> CycleState:
  """Initialises the four networks, their optimizers, empty buffers and the
  scalars (overrides of :func:`default_hparams`; unknown keys are an
  error)."""
  hparams = dict(hparams or {})
  defaults = default_hparams(spec)
  unknown = set(hparams) - set(defaults)
  if unknown:
    raise ValueError(
        f'unknown hparams {sorted(unknown)}; valid: {", ".join(defaults)}'
    )
  values = {
      k: jnp.asarray(hparams.get(k, v), jnp.float32)
      for k, v in defaults.items()
  }
  g_rng, f_rng, dx_rng, dy_rng = jax.random.split(rng, 4)
  return CycleState(
      step=jnp.zeros((), jnp.int32),
      g=_init_net(spec.g, spec.g_optimizer, g_rng, spec.x_shape),
      f=_init_net(spec.f, spec.g_optimizer, f_rng, spec.y_shape),
      d_x=_init_net(spec.d_x, spec.d_optimizer, dx_rng, spec.x_shape),
      d_y=_init_net(spec.d_y, spec.d_optimizer, dy_rng, spec.y_shape),
      history_x=history_lib.empty(spec.history_size, spec.x_shape),
      history_y=history_lib.empty(spec.history_size, spec.y_shape),
      hparams=values,
  )


def compiled_init(spec: CycleSpec) -> Callable[..., CycleState]:
  """``(rng, hparams=None) -> init_state(spec, rng, hparams)``, jitted."""
  return jax.jit(functools.partial(init_state, spec))


NETWORKS = ('g', 'f', 'd_x', 'd_y')


def with_numbers_of(restored: CycleState, fresh: CycleState) -> CycleState:
  """``restored`` (from a checkpoint) with ``fresh``'s numbers: its loss
  weights and targets, and its optimizers' learning rates and betas (which
  the config sets, gan_jax.optim)."""
  nets = {}
  for name in NETWORKS:
    numbers = optim.base_state(getattr(fresh, name).opt_state).hyperparams
    net = getattr(restored, name)
    nets[name] = net.replace(
        opt_state=optim.with_hyperparams(net.opt_state, numbers)
    )
  return restored.replace(hparams=fresh.hparams, **nets)


def nets(state: CycleState) -> Dict[str, Any]:
  """The four NetStates by name."""
  return {name: getattr(state, name) for name in NETWORKS}
