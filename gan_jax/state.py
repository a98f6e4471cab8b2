"""The functional state of a GAN: two networks, each with its own optimizer.

``GANSpec`` holds what shapes the computation (modules, optimizers, the
objective's name, n_critic): it is static, hashable, and closed over by the
step factory. ``GANState`` holds every number that changes or that a sweep may
vary (params, optimizer states, step, EMA, scalar hyperparameters): it is a
pytree, so it can be jitted, donated, sharded, vmapped and checkpointed.
"""

import dataclasses
import functools
from typing import Any, Callable, Dict, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax import losses, optim, penalties


@dataclasses.dataclass(frozen=True)
class GANSpec:
  """The static description of a GAN's training computation.

  Attributes:
    generator: module mapping z [B, latent_dim] -> x [B, *data_shape].
    discriminator: module mapping x -> outputs [B].
    g_optimizer: G's optax optimizer.
    d_optimizer: D's optax optimizer.
    objective: a name in :data:`gan_jax.losses.OBJECTIVES`.
    penalty: 'none', 'gradient_penalty' or 'r1' (weight in hparams).
    one_sided_penalty: gradient penalty only on norms above the target.
    clip_weights: clip D's params to [-clip_value, clip_value] after every
      update (the original WGAN).
    n_critic: D updates per G update.
    latent_dim: size of z.
    data_shape: shape of one example.
    use_ema: keep an exponential moving average of G's params.
    num_classes: classes of a class-conditional pair; 0: unconditional.
    compute_dtype: the dtype of G's and D's products ('float32' or
      'bfloat16', gan_jax.precision); the state stays float32.
    penalty_every: D's penalty on the D steps of every penalty_every-th
      train step, its weight times penalty_every (lazy regularisation).
    g_penalty: G's regulariser, 'none' or 'path_length' (StyleGAN2).
    g_penalty_weight, g_penalty_every: its weight and lazy interval.
    pack: D judges packs of this many samples (PacGAN), concatenated along
      the last axis; 1: single samples.
    unroll_steps: G's loss through D after this many differentiable
      look-ahead updates (Unrolled GAN); 0: through the current D.
  """

  generator: nn.Module
  discriminator: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  objective: str = 'non_saturating'
  penalty: str = 'none'
  one_sided_penalty: bool = False
  clip_weights: bool = False
  n_critic: int = 1
  latent_dim: int = 2
  data_shape: Tuple[int, ...] = (2,)
  use_ema: bool = False
  num_classes: int = 0
  compute_dtype: str = 'float32'
  penalty_every: int = 1
  g_penalty: str = 'none'
  g_penalty_weight: float = 2.0
  g_penalty_every: int = 4
  pack: int = 1
  unroll_steps: int = 0

  @property
  def d_input_shape(self) -> Tuple[int, ...]:
    """The shape of what D judges: one example, or a pack of ``pack``
    examples concatenated along the last axis."""
    return (*self.data_shape[:-1], self.data_shape[-1] * self.pack)

  def __post_init__(self):
    losses.get_objective(self.objective)
    if self.penalty not in penalties.PENALTIES:
      raise ValueError(
          f'unknown penalty {self.penalty!r}; valid: '
          f'{", ".join(penalties.PENALTIES)}'
      )
    if self.n_critic < 1:
      raise ValueError(f'n_critic must be >= 1, got {self.n_critic}')
    if self.pack < 1 or self.unroll_steps < 0:
      raise ValueError(
          f'pack must be >= 1 and unroll_steps >= 0, got '
          f'{self.pack} and {self.unroll_steps}'
      )


# Scalars a step reads from the state; defaults are the plain game's.
DEFAULT_HPARAMS = {
    'real_target': 1.0,  # D's target on real data (1 - s with smoothing).
    'fake_target': 0.0,  # D's target on fakes (> 0: two-sided smoothing).
    'penalty_weight': 0.0,  # lambda of the gradient penalty, gamma of R1.
    'gp_target': 1.0,  # the norm the gradient penalty pulls toward.
    'clip_value': 0.01,  # WGAN weight clipping bound.
    'ema_decay': 0.999,  # G's EMA: ema <- decay * ema + (1 - decay) * g.
}


class NetState(struct.PyTreeNode):
  """One network's trainable params, other variables and optimizer state."""

  params: Any
  model_state: Any  # Non-param collections (batch_stats, ...); {} if none.
  opt_state: Any


class GANState(struct.PyTreeNode):
  """Everything that changes during training, as one pytree."""

  step: jax.Array  # Completed train steps (G updates), int32 scalar.
  g: NetState
  d: NetState
  g_ema: Optional[Any]  # EMA of G's params, or None when disabled.
  hparams: Dict[str, jax.Array]


def _init_net(
    module: nn.Module,
    tx: optax.GradientTransformation,
    rng: jax.Array,
    example: jax.Array,
    num_classes: int,
) -> NetState:
  labels = (jnp.zeros((1,), jnp.int32),) if num_classes else ()
  variables = dict(module.init(rng, example, *labels, train=False))
  params = variables.pop('params')
  return NetState(
      params=params, model_state=variables, opt_state=tx.init(params)
  )


def init_state(
    spec: GANSpec, rng: jax.Array, hparams: Optional[Dict[str, float]] = None
) -> GANState:
  """Initialises both networks, their optimizers and the hyperparameters.

  Args:
    spec: the static description.
    rng: key for the parameter initialisers.
    hparams: overrides of :data:`DEFAULT_HPARAMS`; unknown keys are an error.
  """
  hparams = dict(hparams or {})
  unknown = set(hparams) - set(DEFAULT_HPARAMS)
  if unknown:
    raise ValueError(
        f'unknown hparams {sorted(unknown)}; valid: '
        f'{", ".join(DEFAULT_HPARAMS)}'
    )
  values = {
      k: jnp.asarray(hparams.get(k, v), jnp.float32)
      for k, v in DEFAULT_HPARAMS.items()
  }
  g_rng, d_rng = jax.random.split(rng)
  g = _init_net(
      spec.generator,
      spec.g_optimizer,
      g_rng,
      jnp.zeros((1, spec.latent_dim), jnp.float32),
      spec.num_classes,
  )
  d = _init_net(
      spec.discriminator,
      spec.d_optimizer,
      d_rng,
      jnp.zeros((1, *spec.d_input_shape), jnp.float32),
      spec.num_classes,
  )
  # The EMA starts as a copy: sharing buffers with g.params would break
  # buffer donation in the jitted steps.
  g_ema = jax.tree.map(jnp.copy, g.params) if spec.use_ema else None
  return GANState(
      step=jnp.zeros((), jnp.int32), g=g, d=d, g_ema=g_ema, hparams=values
  )


def compiled_init(spec: GANSpec) -> Callable[..., GANState]:
  """``(rng, hparams=None) -> init_state(spec, rng, hparams)`` as one
  jitted program. Eagerly, every initialiser op compiles on first use:
  ~2 s on a 2-core CPU against ~1 s for the one program, the same bits
  (tests/test_steps.py). The runner and gan_jax.batched use it."""
  return jax.jit(functools.partial(init_state, spec))


def with_numbers_of(restored: GANState, fresh: GANState) -> GANState:
  """``restored`` (e.g. from a checkpoint) with ``fresh``'s numbers: its
  scalar hyperparameters and its optimizers' learning rates and betas, which
  the state holds (gan_jax.optim) and the config sets. Works on stacked
  states too (a sweep group)."""

  def net(restored_net, fresh_net):
    numbers = optim.base_state(fresh_net.opt_state).hyperparams
    return restored_net.replace(
        opt_state=optim.with_hyperparams(restored_net.opt_state, numbers)
    )

  return restored.replace(
      g=net(restored.g, fresh.g),
      d=net(restored.d, fresh.d),
      hparams=fresh.hparams,
  )


def generator_params(state: GANState) -> Any:
  """G's params to evaluate with: the EMA when kept, else the live ones."""
  return state.g.params if state.g_ema is None else state.g_ema
