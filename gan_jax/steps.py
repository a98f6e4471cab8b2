"""Pure training steps: the part of the library people fork.

``make_steps(spec, axis_name=None, unroll=False)`` builds the steps of the
algorithm ``spec.algorithm`` names (gan_jax.algorithms). The built-in one,
``alternating`` (Goodfellow et al. 2014, Alg. 1; Gulrajani et al. 2017,
Alg. 1), returns four pure functions:

* ``d_step(state, batch, rng) -> (state, metrics)``: one D update on real
  data and stop-gradient fakes;
* ``g_step(state, batch, rng) -> (state, metrics)``: one G update through the
  current D (``batch``: the real data, which G's loss sees when its
  objective asks for D(real), and the labels of a conditional GAN); D runs
  in training mode but its batch statistics are updated by D steps only;
* ``train_step(state, batch, rng) -> (state, metrics)``: ``n_critic`` D
  steps, one on each ``batch[i]`` (shape [n_critic, B, ...]), then one G
  step through the updated D, then G's EMA and the step count;
* ``train_loop(state, rng, data, sample_batch, num_steps)``: ``num_steps``
  train steps in one ``lax.scan``, so one dispatch runs many iterations.

Each is assembled from the module-level pieces below, which a fork reuses
instead of copying: :func:`generate`, :func:`discriminate` (packing
included), :func:`d_loss` (the objective plus D's penalty, lazily),
:func:`g_loss`, :func:`d_update`, :func:`finish_step` (G's EMA and the step
count), :func:`alternate` (a train step from a D step and a G step) and
:func:`loop` (a train loop from any train step). docs/forking.md has the
step contract and worked forks; a new algorithm registers with
``gan_jax.algorithms.ALGORITHMS.register(name, Algorithm(factory))``.

Objectives, penalties, regularisers, augmentations and their scalars are
plug-ins (gan_jax.losses, gan_jax.penalties, gan_jax.regularizers,
gan_jax.augment, gan_jax.hparams): they see the step through a
:class:`gan_jax.context.Context`, so a new one needs no branch here. The
augmentation (``spec.augment``) transforms every batch D judges, real and
fake, in D's steps and G's, before packing; G's gradient flows through it.

Two remedies for mode collapse change what D sees and what G minimises:

* PacGAN (Lin et al. 2018; ``spec.pack`` = m > 1): D judges packs of m
  samples, ``pack`` concatenating m consecutive examples along the last
  axis; real and fake batches are packed alike, so a D loss, a penalty
  (per pack, one interpolation weight per pack) and G's loss see B/m packs.
* Unrolled GAN (Metz et al. 2017; ``spec.unroll_steps`` = k > 0): G
  minimises its loss through D after k look-ahead D updates on the step's
  batch, :func:`lookahead`, the updates' dependence on G differentiated
  through D's optimizer; D itself takes its ordinary steps. For the
  zero-sum objectives (``Objective.zero_sum``: minimax, Wasserstein) G
  minimises the game's value -L_D(theta_D^k), whose real-data term depends
  on G through theta_D^k, as in Metz et al.'s surrogate f_K.

A batch is the real examples ``x``, or ``(x, labels)`` for a class-conditional
GAN (``spec.num_classes > 0``). The fakes of a step are generated for the
real batch's labels, so fakes follow the data's class frequencies and a
gradient penalty interpolates between a real and a fake of the same class.

All take an explicit key; the train step folds the step counter into it,
so passing the same key every call is reproducible and a resumed run
continues the same random stream. With ``axis_name`` set, the steps are
meant to run under ``jax.pmap`` or ``jax.shard_map`` over that axis:
gradients, metrics and batch statistics are averaged with ``lax.pmean``,
and noise is drawn for the global batch and sliced per device, so the
result does not depend on how many devices share the batch. Metrics are
flat dicts of scalars.

Under ``jax.shard_map`` pass ``check_vma=False``, which gives pmap's
semantics. With JAX's varying-axes checking on, autodiff already sums the
gradient of replicated params over the axis, and the step's own ``pmean``
would then leave it multiplied by the device count.
"""

import functools
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax

from gan_jax import augment, contract, losses, penalties, regularizers
from gan_jax.algorithms import ALGORITHMS, Algorithm
from gan_jax.context import Context, draw
from gan_jax.registry import Registry
from gan_jax.state import GANSpec, GANState, NetState
from gan_jax.step_helpers import (
    apply_model,
    lazily,
    pack,
    pmean,
    pmean_floats,
    scan,
    split_batch,
)

Array = jax.Array
Metrics = Dict[str, Array]
Step = Callable[[GANState, Any, Array], Tuple[GANState, Metrics]]
Loop = Callable[..., Tuple[GANState, Metrics]]

__all__ = [
    'Steps',
    'make_steps',
    'alternating',
    'generate',
    'latents',
    'augmented',
    'discriminate',
    'd_loss',
    'd_update',
    'd_step',
    'g_loss',
    'g_step',
    'lookahead',
    'finish_step',
    'alternate',
    'loop',
    'hparams_for',
    'to_probability',
    # The helpers the steps are written with (gan_jax.step_helpers).
    'apply_model',
    'lazily',
    'pack',
    'pmean',
    'scan',
    'split_batch',
]


class Steps(NamedTuple):
  """What a step factory returns (the step contract, docs/forking.md).

  ``train_step`` and ``train_loop`` are what the runners call; ``d_step``
  and ``g_step`` are there for algorithms that have them (the theory lab
  trains discriminators with ``d_step``)."""

  train_step: Step
  train_loop: Loop
  d_step: Optional[Step] = None
  g_step: Optional[Step] = None


def make_steps(
    spec: GANSpec, axis_name: Optional[str] = None, unroll: bool = False
) -> Steps:
  """The steps of ``spec.algorithm`` (gan_jax.algorithms), built for
  ``spec``.

  ``axis_name``: the device axis, when the steps run under shard_map or
  pmap. ``unroll``: the CPU formulation (gan_jax.step_helpers): the
  n_critic D steps and a ``train_loop`` of one step written out in full
  instead of as XLA loops, lazy regularisers computed on every step
  instead of under a ``lax.cond``. Same results; a longer compile.
  """
  algorithm = ALGORITHMS.lookup(spec.algorithm)
  return algorithm.make_steps(spec, axis_name=axis_name, unroll=unroll)


# --- Pieces -----------------------------------------------------------------


def hparams_for(spec: GANSpec, state: GANState) -> Dict[str, Any]:
  """What ``ctx.hparams`` holds: the state's scalars (traced) and the
  spec's static options."""
  return {**state.hparams, **spec.option_values()}


def to_probability(spec: GANSpec, outputs: Array) -> Array:
  """What a reader charts: D(x) for logit games, the raw value for
  critics."""
  if losses.get_objective(spec.objective).outputs_are_logits:
    return jax.nn.sigmoid(outputs)
  return outputs


def latents(
    spec: GANSpec, rng: Array, batch_size: int, axis_name: Optional[str] = None
) -> Array:
  """z [batch_size, latent_dim] of :func:`generate` with the same ``rng``:
  drawn for the global batch (one device's part)."""
  return draw(jax.random.normal, rng, (batch_size, spec.latent_dim), axis_name)


def generate(
    spec: GANSpec,
    g: NetState,
    params,
    rng: Array,
    batch_size: int,
    labels: Optional[Array] = None,
    axis_name: Optional[str] = None,
) -> Tuple[Array, Any]:
  """(fakes [batch_size, *data_shape], G's updated model state): G at
  ``params`` on fresh z, drawn for the global batch (one device's part)."""
  return apply_model(
      spec.generator,
      g,
      params,
      latents(spec, rng, batch_size, axis_name),
      labels=labels,
      compute_dtype=spec.compute_dtype,
      rng=jax.random.fold_in(rng, 1),
  )


def augmented(
    spec: GANSpec,
    state: GANState,
    samples: Array,
    rng: Array,
    axis_name: Optional[str] = None,
) -> Array:
  """``samples`` [B, ...] through the spec's augmentation
  (gan_jax.augment; itself for 'none'), drawing from ``rng``."""
  ctx = Context(
      hparams=hparams_for(spec, state),
      axis_name=axis_name,
      spec=spec,
      step=state.step,
      rng=rng,
      extra=state.extra.get(spec.augment),
      batch_size=samples.shape[0],
  )
  return augment.AUGMENTATIONS.lookup(spec.augment).apply(samples, ctx)


def _judge(spec: GANSpec, d: NetState, params, packed, labels):
  return apply_model(
      spec.discriminator,
      d,
      params,
      packed,
      labels=labels,
      compute_dtype=spec.compute_dtype,
  )


def discriminate(
    spec: GANSpec,
    d: NetState,
    params,
    samples: Array,
    labels: Optional[Array] = None,
) -> Tuple[Array, Any]:
  """(D's outputs, its updated model state) on ``samples`` [B, ...],
  packed first when ``spec.pack`` > 1 (outputs [B / pack, ...])."""
  return _judge(spec, d, params, pack(samples, spec.pack), labels)


def _penalty(
    registry: Registry[penalties.Penalty],
    name: str,
    ctx: Context,
    extra: Dict[str, Any],
    every: int,
    unroll: bool,
) -> Tuple[Array, Dict[str, Any]]:
  """(the penalty ``name``, unweighted; ``extra`` with its state updated),
  computed on every ``every``-th step (zero and unchanged between)."""
  penalty = penalties.lookup(registry, name)
  if penalty is None:
    return jnp.zeros(()), extra
  own = extra.get(name)
  stateful = penalty.init_extra is not None
  what = f'{registry.kind} {name!r}'

  def compute():
    value = penalty.value(ctx.replace(extra=own))
    if stateful != isinstance(value, tuple):
      raise contract.PluginError(
          f'{what} returns {"a tuple" if not stateful else "one value"}: '
          'value(ctx) returns (penalty, new extra) exactly when the penalty '
          'declares init_extra'
      )
    value, new = value if stateful else (value, own)
    if stateful:
      contract.same_state(what, own, new)
    return contract.scalar(what, value), new

  value, own = lazily(compute, every, ctx.step, (jnp.zeros(()), own), unroll)
  return value, ({**extra, name: own} if stateful else extra)


class DLoss(NamedTuple):
  """What :func:`d_loss` computed besides the total."""

  loss: Array  # The objective's D loss, without the penalty.
  penalty: Array  # The penalty, unweighted (0 on lazy steps).
  real_out: Array
  fake_out: Array
  model_state: Any  # D's, after seeing real then fake data.
  extra: Dict[str, Any]  # GANState.extra with the plug-ins' states.
  regularized: Dict[str, Array] = {}  # Each regulariser's D term.


def d_loss(
    spec: GANSpec,
    state: GANState,
    params,
    real: Array,
    fake: Array,
    labels: Optional[Array],
    rng: Array,
    axis_name: Optional[str] = None,
    unroll: bool = False,
    z: Optional[Array] = None,
) -> Tuple[Array, DLoss]:
  """D's loss at ``params`` on real data and fakes ([B, ...] each;
  augmented and packed here), plus ``penalty_weight`` x its penalty
  (``spec.penalty``, drawing from ``rng``; lazy regularisation: computed
  on every ``penalty_every``-th step only, its weight scaled up to keep
  the same mean, Karras et al. 2020), plus the regularisers' D terms.
  ``z``: the fakes' latents, for regularisers that perturb them. Returns
  (total, :class:`DLoss`)."""
  hparams = hparams_for(spec, state)
  batch_size = real.shape[0]
  real = augmented(spec, state, real, jax.random.fold_in(rng, 5), axis_name)

  def view(samples):  # Samples as D judges the fakes: same draws, packed.
    return pack(
        augmented(spec, state, samples, jax.random.fold_in(rng, 6), axis_name),
        spec.pack,
    )

  real, fake = pack(real, spec.pack), view(fake)
  real_out, model_state = _judge(spec, state.d, params, real, labels)
  fake_out, model_state = _judge(
      spec, state.d.replace(model_state=model_state), params, fake, labels
  )
  ctx = Context(
      hparams=hparams,
      axis_name=axis_name,
      spec=spec,
      step=state.step,
      rng=rng,
      real=real,
      fake=fake,
      labels=labels,
      real_out=real_out,
      fake_out=fake_out,
      critic=lambda x: _judge(spec, state.d, params, x, labels)[0],
      generator=functools.partial(
          _run_generator, spec, state.g, state.g.params
      ),
      latents=z,
      batch_size=batch_size,
      view=view,
  )
  loss = losses.get_objective(spec.objective).d_loss(
      real_out, fake_out, ctx.replace(rng=jax.random.fold_in(rng, 1))
  )
  contract.scalar(f'objective {spec.objective!r}: its d_loss', loss)
  penalty, extra = _penalty(
      penalties.D_PENALTIES,
      spec.penalty,
      ctx,
      state.extra,
      spec.penalty_every,
      unroll,
  )
  regularized, terms, extra = regularizers.d_terms(
      spec.regularizers, ctx.replace(rng=jax.random.fold_in(rng, 7)), extra
  )
  extra = _augmentation_update(spec, ctx, extra)
  total = loss + hparams['penalty_weight'] * spec.penalty_every * penalty
  return total + regularized, DLoss(
      loss, penalty, real_out, fake_out, model_state, extra, terms
  )


def _augmentation_update(
    spec: GANSpec, ctx: Context, extra: Dict[str, Any]
) -> Dict[str, Any]:
  """``extra`` with the augmentation's state updated from D's outputs on
  the augmented reals (ADA's p)."""
  update = augment.AUGMENTATIONS.lookup(spec.augment).update
  if update is None:
    return extra
  own = extra[spec.augment]
  new = update(
      ctx.replace(
          real_out=jax.lax.stop_gradient(ctx.real_out),
          fake_out=jax.lax.stop_gradient(ctx.fake_out),
          extra=own,
      )
  )
  contract.same_state(f'augmentation {spec.augment!r}', own, new)
  return {**extra, spec.augment: new}


def d_update(spec: GANSpec, state: GANState, params, opt_state, grads):
  """(params, opt_state) after one step of D's optimizer on ``grads``
  (and the WGAN weight clipping, with ``spec.clip_weights``)."""
  updates, opt_state = spec.d_optimizer.update(grads, opt_state, params)
  params = optax.apply_updates(params, updates)
  if spec.clip_weights:
    c = state.hparams['clip_value']
    params = jax.tree.map(lambda p: jnp.clip(p, -c, c), params)
  return params, opt_state


def lookahead(
    spec: GANSpec,
    state: GANState,
    real: Array,
    fake: Array,
    labels: Optional[Array],
    rng: Array,
    axis_name: Optional[str] = None,
    unroll: bool = False,
    z: Optional[Array] = None,
):
  """Unrolled GAN: D's params after ``spec.unroll_steps`` updates on
  (real, fake), differentiable in ``fake`` (``z``: its latents);
  D's optimizer state, batch statistics and penalty state are not
  kept."""

  def update(carry, _):
    params, opt_state = carry
    grads = jax.grad(
        lambda p: d_loss(
            spec, state, p, real, fake, labels, rng, axis_name, unroll, z
        )[0]
    )(params)
    return d_update(spec, state, params, opt_state, pmean(grads, axis_name))

  def body(carry, i):
    return update(carry, i), None

  (params, _), _ = scan(
      body,
      (state.d.params, state.d.opt_state),
      jnp.arange(spec.unroll_steps),
      unroll,
  )
  return params


class GLoss(NamedTuple):
  """What :func:`g_loss` computed besides the total."""

  loss: Array  # The objective's G loss, without the penalty.
  penalty: Array  # G's penalty, unweighted (0 on lazy steps).
  fake_out: Array
  model_state: Any  # G's.
  extra: Dict[str, Any]  # GANState.extra with the penalty's state.
  regularized: Dict[str, Array] = {}  # Each regulariser's G term.


def g_loss(
    spec: GANSpec,
    state: GANState,
    params,
    batch,
    rng: Array,
    axis_name: Optional[str] = None,
    unroll: bool = False,
) -> Tuple[Array, GLoss]:
  """G's loss at ``params`` through the current D (or the look-ahead one),
  plus ``g_penalty_weight`` x its penalty (``spec.g_penalty``, lazily).
  D's outputs on ``batch``'s real data are computed only when the
  objective asks for them. Returns (total, :class:`GLoss`)."""
  objective = losses.get_objective(spec.objective)
  hparams = hparams_for(spec, state)
  real, labels = split_batch(batch)
  batch_size = real.shape[0]
  z = latents(spec, rng, batch_size, axis_name)  # generate's own.
  fake, model_state = generate(
      spec, state.g, params, rng, batch_size, labels, axis_name
  )
  d_params = state.d.params
  if spec.unroll_steps:
    d_params = lookahead(
        spec,
        state,
        real,
        fake,
        labels,
        jax.random.fold_in(rng, 3),
        axis_name,
        unroll,
        z,
    )
  zero_sum_unrolled = spec.unroll_steps > 0 and objective.zero_sum
  # D judges augmented images here too; G's gradient flows through the
  # augmentation. D's batch statistics are updated by D steps only.
  seen = augmented(spec, state, fake, jax.random.fold_in(rng, 6), axis_name)
  fake_out, _ = discriminate(spec, state.d, d_params, seen, labels)
  real_out = None
  if objective.g_uses_real or zero_sum_unrolled:
    seen = augmented(spec, state, real, jax.random.fold_in(rng, 5), axis_name)
    real_out, _ = discriminate(spec, state.d, d_params, seen, labels)
  ctx = Context(
      hparams=hparams,
      axis_name=axis_name,
      spec=spec,
      step=state.step,
      rng=jax.random.fold_in(rng, 4),
      fake=pack(fake, spec.pack),
      labels=labels,
      real_out=real_out,
      fake_out=fake_out,
      generator=functools.partial(_run_generator, spec, state.g, params),
      batch_size=batch_size,
      latents=z,
      extra=state.extra,
  )
  if zero_sum_unrolled and real_out is not None:
    loss = -objective.d_loss(real_out, fake_out, ctx)
  else:
    g_objective = regularizers.g_objective(
        spec.regularizers, objective.g_loss, ctx
    )
    loss = g_objective(real_out, fake_out, ctx)
  contract.scalar(f'objective {spec.objective!r}: its losses', loss)
  penalty, extra = _penalty(
      penalties.G_PENALTIES,
      spec.g_penalty,
      ctx.replace(rng=jax.random.fold_in(rng, 2)),
      state.extra,
      spec.g_penalty_every,
      unroll,
  )
  regularized, terms = regularizers.g_terms(
      spec.regularizers, ctx.replace(rng=jax.random.fold_in(rng, 7)), extra
  )
  total = loss + hparams['g_penalty_weight'] * spec.g_penalty_every * penalty
  return total + regularized, GLoss(
      loss, penalty, fake_out, model_state, extra, terms
  )


def _run_generator(
    spec, g, params, inputs, labels=None, rng=None, method=None, train=True
):
  return apply_model(
      spec.generator,
      g,
      params,
      inputs,
      train=train,
      labels=labels,
      compute_dtype=spec.compute_dtype,
      rng=rng,
      method=method,
  )[0]


# --- D: real data and stop-gradient fakes -----------------------------------


def d_step(
    spec: GANSpec,
    state: GANState,
    batch,
    rng: Array,
    axis_name: Optional[str] = None,
    unroll: bool = False,
) -> Tuple[GANState, Metrics]:
  """One D update on ``batch`` and as many fakes (see the module
  docstring)."""
  real, labels = split_batch(batch)
  z_rng, penalty_rng = jax.random.split(rng)
  z = latents(spec, z_rng, real.shape[0], axis_name)
  fake, g_model_state = generate(
      spec, state.g, state.g.params, z_rng, real.shape[0], labels, axis_name
  )
  grads, aux = jax.grad(
      lambda p: d_loss(
          spec,
          state,
          p,
          real,
          jax.lax.stop_gradient(fake),
          labels,
          penalty_rng,
          axis_name,
          unroll,
          z,
      ),
      has_aux=True,
  )(state.d.params)
  grads = pmean(grads, axis_name)
  params, opt_state = d_update(
      spec, state, state.d.params, state.d.opt_state, grads
  )
  state = state.replace(
      g=state.g.replace(model_state=pmean(g_model_state, axis_name)),
      d=NetState(params, pmean(aux.model_state, axis_name), opt_state),
      extra=pmean_floats(aux.extra, axis_name),
  )
  metrics = {
      'd_loss': aux.loss,
      'd_penalty': aux.penalty,
      'd_real': jnp.mean(to_probability(spec, aux.real_out)),
      'd_fake': jnp.mean(to_probability(spec, aux.fake_out)),
      'd_grad_norm': optax.tree.norm(grads),
      **{f'd_{name}': value for name, value in aux.regularized.items()},
      **_plugin_logs(spec, state.extra),
  }
  return state, pmean(metrics, axis_name)


def _plugin_logs(spec: GANSpec, extra: Dict[str, Any]) -> Metrics:
  """What the augmentation and the regularisers log of their state."""
  log = augment.AUGMENTATIONS.lookup(spec.augment).log
  logged = {} if log is None else dict(log(extra[spec.augment]))
  return {**logged, **regularizers.logs(spec.regularizers, extra)}


# --- G: through the current D (or the look-ahead one) -----------------------


def g_step(
    spec: GANSpec,
    state: GANState,
    batch,
    rng: Array,
    axis_name: Optional[str] = None,
    unroll: bool = False,
) -> Tuple[GANState, Metrics]:
  """One G update (see the module docstring)."""
  (_, aux), grads = jax.value_and_grad(
      lambda p: g_loss(spec, state, p, batch, rng, axis_name, unroll),
      has_aux=True,
  )(state.g.params)
  grads = pmean(grads, axis_name)
  updates, opt_state = spec.g_optimizer.update(
      grads, state.g.opt_state, state.g.params
  )
  params = optax.apply_updates(state.g.params, updates)
  state = state.replace(
      g=NetState(params, pmean(aux.model_state, axis_name), opt_state),
      extra=pmean_floats(aux.extra, axis_name),
  )
  metrics = {
      'g_loss': aux.loss,
      'g_fake': jnp.mean(to_probability(spec, aux.fake_out)),
      'g_grad_norm': optax.tree.norm(grads),
      **({'g_penalty': aux.penalty} if spec.g_penalty != 'none' else {}),
      **{f'g_{name}': value for name, value in aux.regularized.items()},
  }
  return state, pmean(metrics, axis_name)


# --- A train step, and a loop of them ---------------------------------------


def finish_step(state: GANState) -> GANState:
  """What every train step does last: G's EMA (when kept) moves toward
  G's params, and the step is counted."""
  g_ema = state.g_ema
  if g_ema is not None:
    g_ema = optax.incremental_update(
        state.g.params, g_ema, 1.0 - state.hparams['ema_decay']
    )
  return state.replace(step=state.step + 1, g_ema=g_ema)


def alternate(
    d_step: Step, g_step: Step, n_critic: int, unroll: bool = False
) -> Step:
  """The alternating train step: ``n_critic`` D steps (one on each
  ``batch[i]``, batch [n_critic, B, ...]), then a G step on the last
  batch through the updated D, then :func:`finish_step`. D's metrics are
  averaged over its steps."""

  def train_step(state: GANState, batch, rng: Array):
    rng = jax.random.fold_in(rng, state.step)
    d_rng, g_rng = jax.random.split(rng)

    def critic_iteration(state, inputs):
      real, i = inputs
      return d_step(state, real, jax.random.fold_in(d_rng, i))

    state, d_metrics = scan(
        critic_iteration, state, (batch, jnp.arange(n_critic)), unroll
    )
    last = jax.tree.map(lambda b: b[-1], batch)
    state, g_metrics = g_step(state, last, g_rng)
    metrics = {k: jnp.mean(v) for k, v in d_metrics.items()}
    metrics.update(g_metrics)
    return finish_step(state), metrics

  return train_step


def loop(train_step: Step, unroll: bool = False) -> Loop:
  """``train_loop(state, rng, data, sample_batch, num_steps)``: ``num_steps``
  calls of ``train_step`` in one ``lax.scan`` (a loop of one step written
  out, with ``unroll``); metrics come back stacked [num_steps].

  ``sample_batch(key, data, i)`` returns the real data of the loop's
  ``i``-th train step, shape [n_critic, B, ...] (or a tuple with labels);
  it runs on device inside the loop. ``data`` is a pytree passed through
  as an argument, so a dataset held in device memory is not embedded in
  the program: a sampler draws from it with ``key``, a streamed chunk of
  batches is indexed with ``i``, and a 2-D sampler needs neither. The keys
  come from ``rng`` and the state's step, so a resumed loop continues the
  same stream.
  """

  def train_loop(
      state: GANState,
      rng: Array,
      data: Any,
      sample_batch: Callable[[Array, Any, Array], Any],
      num_steps: int,
  ):
    def body(state, i):
      data_rng, step_rng = jax.random.split(jax.random.fold_in(rng, state.step))
      return train_step(state, sample_batch(data_rng, data, i), step_rng)

    return scan(body, state, jnp.arange(num_steps), unroll and num_steps == 1)

  return train_loop


# --- The built-in algorithm -------------------------------------------------


def alternating(
    spec: GANSpec, axis_name: Optional[str] = None, unroll: bool = False
) -> Steps:
  """Goodfellow et al.'s algorithm: n_critic D steps, then one G step."""
  d = functools.partial(d_step, spec, axis_name=axis_name, unroll=unroll)
  g = functools.partial(g_step, spec, axis_name=axis_name, unroll=unroll)
  train_step = alternate(d, g, spec.n_critic, unroll)
  return Steps(train_step, loop(train_step, unroll), d, g)


ALGORITHMS.register('alternating', Algorithm(alternating), replace=True)
