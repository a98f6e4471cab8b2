"""The functional state of a GAN: two networks, each with its own optimizer.

``GANSpec`` holds what shapes the computation (modules, optimizers, the
objective's name, n_critic): it is static, hashable, and closed over by the
step factory. ``GANState`` holds every number that changes or that a sweep may
vary (params, optimizer states, step, EMA, scalar hyperparameters): it is a
pytree, so it can be jitted, donated, sharded, vmapped and checkpointed.
"""

import dataclasses
import functools
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax import algorithms, augment, hparams as hparams_lib, losses
from gan_jax import optim, penalties, regularizers
from gan_jax.hparams import HParam


@dataclasses.dataclass(frozen=True)
class GANSpec:
  """The static description of a GAN's training computation.

  Attributes:
    generator: module mapping z [B, latent_dim] -> x [B, *data_shape].
    discriminator: module mapping x -> outputs [B].
    g_optimizer: G's optax optimizer.
    d_optimizer: D's optax optimizer.
    objective: a name in :data:`gan_jax.losses.OBJECTIVES`.
    penalty: D's penalty, 'none' or a name in
      :data:`gan_jax.penalties.D_PENALTIES` (weight in hparams).
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
    g_penalty: G's penalty, 'none' or a name in
      :data:`gan_jax.penalties.G_PENALTIES` (StyleGAN2's 'path_length').
    g_penalty_every: its lazy interval (its weight is in hparams).
    pack: D judges packs of this many samples (PacGAN), concatenated along
      the last axis; 1: single samples.
    unroll_steps: G's loss through D after this many differentiable
      look-ahead updates (Unrolled GAN); 0: through the current D.
    algorithm: a name in :data:`gan_jax.algorithms.ALGORITHMS`: the step
      factory ``gan_jax.steps.make_steps`` uses.
    options: ``((name, value), ...)``: the plug-ins' static scalars (their
      HParams with ``batchable=False``); one left out takes its default.
    augment: a name in :data:`gan_jax.augment.AUGMENTATIONS`: the
      differentiable augmentation of every image D judges ('none').
    regularizers: names in :data:`gan_jax.regularizers.REGULARIZERS`:
      the terms added to D's and G's losses, in order.
    train_size: examples in the training set (top-k's epochs); 0 for a
      sampler without one (2-D data).
  """

  generator: nn.Module
  discriminator: nn.Module
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  objective: str = 'non_saturating'
  penalty: str = 'none'
  clip_weights: bool = False
  n_critic: int = 1
  latent_dim: int = 2
  data_shape: Tuple[int, ...] = (2,)
  use_ema: bool = False
  num_classes: int = 0
  compute_dtype: str = 'float32'
  penalty_every: int = 1
  g_penalty: str = 'none'
  g_penalty_every: int = 4
  pack: int = 1
  unroll_steps: int = 0
  algorithm: str = 'alternating'
  options: Tuple[Tuple[str, Any], ...] = ()
  augment: str = 'none'
  regularizers: Tuple[str, ...] = ()
  train_size: int = 0

  @property
  def d_input_shape(self) -> Tuple[int, ...]:
    """The shape of what D judges: one example, or a pack of ``pack``
    examples concatenated along the last axis."""
    return (*self.data_shape[:-1], self.data_shape[-1] * self.pack)

  def __post_init__(self):
    losses.get_objective(self.objective)
    penalties.lookup(penalties.D_PENALTIES, self.penalty)
    penalties.lookup(penalties.G_PENALTIES, self.g_penalty)
    algorithms.ALGORITHMS.lookup(self.algorithm)
    augment.AUGMENTATIONS.lookup(self.augment)
    for name in self.regularizers:
      regularizers.REGULARIZERS.lookup(name)
    if self.n_critic < 1:
      raise ValueError(f'n_critic must be >= 1, got {self.n_critic}')
    if self.pack < 1 or self.unroll_steps < 0:
      raise ValueError(
          f'pack must be >= 1 and unroll_steps >= 0, got '
          f'{self.pack} and {self.unroll_steps}'
      )
    static = {h.name: h for h in hparams_of(self) if not h.batchable}
    for name, value in self.options:
      if name not in static:
        raise ValueError(
            f'unknown option {name!r}; the static scalars of this '
            f'spec are: {", ".join(static) or "none"}'
        )
      problem = static[name].problem(value)
      if problem:
        raise ValueError(f'option {name}={problem}')

  def option_values(self) -> Dict[str, Any]:
    """Every static scalar of the spec's plug-ins, defaults filled in."""
    given = dict(self.options)
    return {
        h.name: given.get(h.name, h.default)
        for h in hparams_of(self)
        if not h.batchable
    }


# Scalars of the steps themselves, whatever the plug-ins.
CORE_HPARAMS = (
    HParam(
        'penalty_weight',
        0.0,
        low=0.0,
        doc="D's penalty weight (lambda of the gradient penalty, gamma of R1)",
    ),
    HParam('g_penalty_weight', 2.0, low=0.0, doc="G's penalty weight"),
    HParam(
        'clip_value',
        0.01,
        low=0.0,
        low_open=True,
        doc='the WGAN weight-clipping bound (used with clip_weights)',
    ),
    HParam(
        'ema_decay',
        0.99,
        field='ema.decay',
        low=0.0,
        high=1.0,
        high_open=True,
        doc="G's EMA: ema <- decay * ema + (1 - decay) * g",
    ),
)


def plugins_of(spec: GANSpec) -> Iterator[Tuple[str, Any]]:
  """``(name, plug-in)`` of the spec's objective, penalties, augmentation,
  regularisers and algorithm: what declares its scalars and state."""
  yield spec.objective, losses.get_objective(spec.objective)
  for registry, name in (
      (penalties.D_PENALTIES, spec.penalty),
      (penalties.G_PENALTIES, spec.g_penalty),
  ):
    penalty = penalties.lookup(registry, name)
    if penalty is not None:
      yield name, penalty
  yield spec.augment, augment.AUGMENTATIONS.lookup(spec.augment)
  for name in spec.regularizers:
    yield name, regularizers.REGULARIZERS.lookup(name)
  yield spec.algorithm, algorithms.ALGORITHMS.lookup(spec.algorithm)


def hparams_of(spec: GANSpec) -> Tuple[HParam, ...]:
  """The scalars the spec's steps read: the core ones and those its
  plug-ins declare."""
  declared = [('the steps', h) for h in CORE_HPARAMS]
  for name, plugin in plugins_of(spec):
    declared += [(repr(name), h) for h in plugin.hparams]
  return tuple(hparams_lib.merged(declared).values())


def init_extra(spec: GANSpec) -> Dict[str, Any]:
  """``GANState.extra`` at step 0: the initial state of each plug-in
  that keeps one, under its name."""
  return {
      name: owner.init_extra(spec)
      for name, owner in plugins_of(spec)
      if getattr(owner, 'init_extra', None) is not None
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
  hparams: Dict[str, jax.Array]  # The batchable scalars (gan_jax.hparams).
  # State that plug-ins and forks own, by name (LeCam's running means,
  # an adaptive augmentation's probability): checkpointed, sharded and
  # vmapped with the rest. Declared by a plug-in's ``init_extra``; a fork
  # may add its own with ``state.replace(extra={**state.extra, ...})``.
  extra: Dict[str, Any] = struct.field(default_factory=dict)


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
  """Initialises both networks, their optimizers, the hyperparameters and
  the plug-ins' own state.

  Args:
    spec: the static description.
    rng: key for the parameter initialisers.
    hparams: values of the spec's batchable scalars (:func:`hparams_of`);
      one left out takes its default, an unknown one is an error.
  """
  hparams = dict(hparams or {})
  declared = {h.name: h for h in hparams_of(spec) if h.batchable}
  unknown = set(hparams) - set(declared)
  if unknown:
    raise ValueError(
        f'unknown hparams {sorted(unknown)}; valid: {", ".join(declared)}'
    )
  values = {
      name: jnp.asarray(hparams.get(name, h.default), jnp.float32)
      for name, h in declared.items()
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
      step=jnp.zeros((), jnp.int32),
      g=g,
      d=d,
      g_ema=g_ema,
      hparams=values,
      extra=init_extra(spec),
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
