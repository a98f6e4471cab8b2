"""Pure training steps: the part of the library people fork.

``make_steps(spec, axis_name)`` returns four pure functions,

* ``d_step(state, batch, rng) -> (state, metrics)``: one D update on real
  data and stop-gradient fakes;
* ``g_step(state, batch, rng) -> (state, metrics)``: one G update through the
  current D (``batch`` only sets the batch size, and the labels of a
  conditional GAN); D runs in training mode but its batch statistics are
  updated by D steps only;
* ``train_step(state, batch, rng) -> (state, metrics)``: the alternating
  algorithm of Goodfellow et al. (2014, Alg. 1) and Gulrajani et al. (2017,
  Alg. 1): ``n_critic`` D steps, one on each ``batch[i]`` (shape
  [n_critic, B, ...]), then one G step through the updated D;
* ``train_loop(state, rng, data, sample_batch, num_steps)``: ``num_steps``
  train steps in one ``lax.scan``, so one dispatch runs many iterations.

Two remedies for mode collapse change what D sees and what G minimises:

* PacGAN (Lin et al. 2018; ``spec.pack`` = m > 1): D judges packs of m
  samples, ``pack`` concatenating m consecutive examples along the last
  axis; real and fake batches are packed alike, so a D loss, a penalty
  (per pack, one interpolation weight per pack) and G's loss see B/m packs.
* Unrolled GAN (Metz et al. 2017; ``spec.unroll_steps`` = k > 0): G
  minimises its loss through D after k look-ahead D updates on the step's
  batch, ``lookahead``, the updates' dependence on G differentiated
  through D's optimizer; D itself takes its ordinary steps. For the
  zero-sum objectives (``Objective.zero_sum``: minimax, Wasserstein) G
  minimises the game's value -L_D(theta_D^k), whose real-data term depends
  on G through theta_D^k, as in Metz et al.'s surrogate f_K.

A batch is the real examples ``x``, or ``(x, labels)`` for a class-conditional
GAN (``spec.num_classes > 0``). The fakes of a step are generated for the
real batch's labels, so fakes follow the data's class frequencies and a
gradient penalty interpolates between a real and a fake of the same class.

All take an explicit key and fold the step counter into it, so passing the
same key every call is reproducible and a resumed run continues the same
random stream. With ``axis_name`` set, the steps are meant to run under
``jax.pmap`` or ``jax.shard_map`` over that axis: gradients, metrics and batch
statistics are averaged with ``lax.pmean``, and noise is drawn for the global
batch and sliced per device, so the result does not depend on how many
devices share the batch. Metrics are flat dicts of scalars.

Under ``jax.shard_map`` pass ``check_vma=False``, which gives pmap's
semantics. With JAX's varying-axes checking on, autodiff already sums the
gradient of replicated params over the axis, and the step's own ``pmean``
would then leave it multiplied by the device count.
"""

import operator
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import losses, parallel, penalties, precision
from gan_jax.state import GANSpec, GANState, NetState

Array = jax.Array
Metrics = Dict[str, Array]
Step = Callable[[GANState, Array, Array], Tuple[GANState, Metrics]]


class Steps(NamedTuple):
  """The step functions of one GANSpec (see the module docstring)."""

  d_step: Step
  g_step: Step
  train_step: Step
  train_loop: Callable[..., Tuple[GANState, Metrics]]


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


def pack(x: Array, m: int) -> Array:
  """[B, ..., C] -> [B / m, ..., m * C]: each m consecutive examples
  concatenated along the last axis (PacGAN's packing)."""
  if m == 1:
    return x
  grouped = x.reshape(x.shape[0] // m, m, *x.shape[1:])
  return jnp.moveaxis(grouped, 1, -2).reshape(
      x.shape[0] // m, *x.shape[1:-1], m * x.shape[-1]
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
  ``lax.cond``, or with ``branchless`` computed on every step and selected
  (XLA:CPU runs convolutions inside conditionals as slowly as inside
  loops, jax-ml/jax#12868: 12x here)."""
  if every == 1:
    return compute()
  fire = step % every == 0
  if branchless:
    return jax.tree.map(
        lambda done, kept: jnp.where(fire, done, kept), compute(), skipped
    )
  return lax.cond(fire, compute, lambda: skipped)


def _scan(body, carry, xs, unroll: bool):
  """``lax.scan(body, carry, xs)``, or with ``unroll`` the same written out
  in Python (``lax.scan(unroll=True)`` still emits an XLA while loop)."""
  if not unroll:
    return lax.scan(body, carry, xs)
  outputs = []
  for i in range(jax.tree.leaves(xs)[0].shape[0]):
    carry, out = body(carry, jax.tree.map(operator.itemgetter(i), xs))
    outputs.append(out)
  return carry, jax.tree.map(lambda *o: jnp.stack(o), *outputs)


def make_steps(
    spec: GANSpec, axis_name: Optional[str] = None, unroll: bool = False
) -> Steps:
  """Builds the step functions for ``spec``; see the module docstring.

  ``unroll`` writes the n_critic D steps, and a ``train_loop`` of one step,
  out in full instead of as XLA loops, and computes lazy regularisers on
  every step instead of under a ``lax.cond``: XLA:CPU runs convolutions
  inside loop bodies and conditionals many times slower (jax-ml/jax#12868),
  so the runner does this for convolutional models in the CPU formulation.
  Same results; a longer compile.
  """
  objective = losses.get_objective(spec.objective)

  def pmean(tree):
    return tree if axis_name is None else lax.pmean(tree, axis_name)

  def sample(draw, rng, shape):
    # Per-device noise as a slice of the global batch's noise: exact
    # agreement with a single-device step on the whole batch, for the price
    # of drawing a few extra random numbers.
    if axis_name is None:
      return draw(rng, shape)
    count = lax.psum(1, axis_name)
    return parallel.take_part(
        draw(rng, (count * shape[0], *shape[1:])), axis_name
    )

  def generate(
      state: GANState,
      params,
      rng: Array,
      batch_size: int,
      labels: Optional[Array],
  ):
    z = sample(jax.random.normal, rng, (batch_size, spec.latent_dim))
    return apply_model(
        spec.generator,
        state.g,
        params,
        z,
        labels=labels,
        compute_dtype=spec.compute_dtype,
        rng=jax.random.fold_in(rng, 1),
    )

  def to_probability(outputs: Array) -> Array:
    # What a reader charts: D(x) for logit games, the raw value for critics.
    return jax.nn.sigmoid(outputs) if objective.outputs_are_logits else outputs

  def discriminate(d: NetState, params, packed: Array, labels: Optional[Array]):
    return apply_model(
        spec.discriminator,
        d,
        params,
        packed,
        labels=labels,
        compute_dtype=spec.compute_dtype,
    )

  # --- D's loss on packed real data and fakes -----------------------------
  def d_loss_fn(
      state: GANState,
      params,
      real: Array,
      fake: Array,
      labels: Optional[Array],
      eps: Array,
  ):
    hp = state.hparams
    real_out, model_state = discriminate(state.d, params, real, labels)
    fake_out, model_state = discriminate(
        state.d.replace(model_state=model_state), params, fake, labels
    )
    loss = objective.d_loss(real_out, fake_out, hp)

    def critic(x):
      return discriminate(state.d, params, x, labels)[0]

    def penalty_value():
      if spec.penalty == 'gradient_penalty':
        return penalties.gradient_penalty(
            critic, real, fake, eps, hp['gp_target'], spec.one_sided_penalty
        )
      if spec.penalty == 'r1':
        return penalties.r1_penalty(critic, real)
      return jnp.zeros(())

    # Lazy regularisation: computed on every penalty_every-th step only,
    # its weight scaled up to keep the same mean (Karras et al. 2020).
    every = spec.penalty_every
    penalty = lazily(penalty_value, every, state.step, jnp.zeros(()), unroll)
    total = loss + hp['penalty_weight'] * every * penalty
    return total, (model_state, loss, penalty, real_out, fake_out)

  def d_update(state: GANState, params, opt_state, grads):
    updates, opt_state = spec.d_optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    if spec.clip_weights:
      c = state.hparams['clip_value']
      params = jax.tree.map(lambda p: jnp.clip(p, -c, c), params)
    return params, opt_state

  # --- D: real data and stop-gradient fakes -------------------------------
  def d_step(state: GANState, batch, rng: Array):
    real, labels = split_batch(batch)
    z_rng, eps_rng = jax.random.split(rng)
    fake, g_model_state = generate(
        state, state.g.params, z_rng, real.shape[0], labels
    )
    fake = pack(lax.stop_gradient(fake), spec.pack)
    real = pack(real, spec.pack)
    eps = sample(jax.random.uniform, eps_rng, (real.shape[0],))

    grads, (model_state, loss, penalty, real_out, fake_out) = jax.grad(
        lambda p: d_loss_fn(state, p, real, fake, labels, eps), has_aux=True
    )(state.d.params)
    grads = pmean(grads)
    params, opt_state = d_update(
        state, state.d.params, state.d.opt_state, grads
    )
    state = state.replace(
        g=state.g.replace(model_state=pmean(g_model_state)),
        d=NetState(params, pmean(model_state), opt_state),
    )
    metrics = {
        'd_loss': loss,
        'd_penalty': penalty,
        'd_real': jnp.mean(to_probability(real_out)),
        'd_fake': jnp.mean(to_probability(fake_out)),
        'd_grad_norm': optax.tree.norm(grads),
    }
    return state, pmean(metrics)

  def path_length(
      g: NetState,
      params,
      rng: Array,
      batch_size: int,
      labels: Optional[Array],
      pl_mean: Array,
  ):
    # StyleGAN2's regulariser on half a batch of fresh z (gan_jax.penalties),
    # with every second label: on any even per-device batch the same
    # (z, label) pairs as on one device, since z is drawn globally.
    half = max(1, batch_size // 2)
    z_key, map_key, syn_key, noise_key = jax.random.split(rng, 4)
    z = sample(jax.random.normal, z_key, (half, spec.latent_dim))
    part = None if labels is None else labels[::2][:half]
    ws, _ = apply_model(
        spec.generator,
        g,
        params,
        z,
        labels=part,
        compute_dtype=spec.compute_dtype,
        rng=map_key,
        method='mapping_ws',
    )
    synthesis = lambda ws: apply_model(
        spec.generator,
        g,
        params,
        ws,
        train=False,
        compute_dtype=spec.compute_dtype,
        rng=syn_key,
        method='synthesis',
    )[0]
    return penalties.path_length_penalty(
        synthesis,
        ws,
        noise_key,
        pl_mean,
        draw=lambda key, shape: sample(jax.random.normal, key, shape),
        mean=pmean,
    )

  # --- Unrolled GAN: D's params after k look-ahead updates -----------------
  def lookahead(
      state: GANState,
      real: Array,
      fake: Array,
      labels: Optional[Array],
      rng: Array,
  ):
    """D's params after ``spec.unroll_steps`` updates on (real, fake),
    differentiable in ``fake``; D's optimizer state and batch statistics
    are not kept."""
    eps = sample(jax.random.uniform, rng, (real.shape[0],))

    def update(carry, _):
      params, opt_state = carry
      grads = jax.grad(
          lambda p: d_loss_fn(state, p, real, fake, labels, eps)[0]
      )(params)
      return d_update(state, params, opt_state, pmean(grads)), None

    (params, _), _ = _scan(
        update,
        (state.d.params, state.d.opt_state),
        jnp.arange(spec.unroll_steps),
        unroll,
    )
    return params

  # --- G: through the current D (or the look-ahead one) --------------------
  def g_step(state: GANState, batch, rng: Array):
    real, labels = split_batch(batch)
    batch_size = real.shape[0]
    real = pack(real, spec.pack)

    def loss_fn(params):
      fake, model_state = generate(state, params, rng, batch_size, labels)
      fake = pack(fake, spec.pack)
      d_params = state.d.params
      if spec.unroll_steps:
        d_params = lookahead(
            state, real, fake, labels, jax.random.fold_in(rng, 3)
        )
      # D's batch statistics are updated by D steps only.
      fake_out, _ = discriminate(state.d, d_params, fake, labels)
      loss = objective.g_loss(fake_out, state.hparams)
      if spec.unroll_steps and objective.zero_sum:
        real_out, _ = discriminate(state.d, d_params, real, labels)
        loss = -objective.d_loss(real_out, fake_out, state.hparams)
      penalty = jnp.zeros(())
      if spec.g_penalty == 'path_length':
        pl_mean = model_state['stylegan']['pl_mean']
        penalty, pl_mean = lazily(
            lambda: path_length(
                state.g,
                params,
                jax.random.fold_in(rng, 2),
                batch_size,
                labels,
                pl_mean,
            ),
            spec.g_penalty_every,
            state.step,
            (penalty, pl_mean),
            unroll,
        )
        model_state = {
            **model_state,
            'stylegan': {**model_state['stylegan'], 'pl_mean': pl_mean},
        }
      total = loss + spec.g_penalty_weight * spec.g_penalty_every * penalty
      return total, (model_state, fake_out, loss, penalty)

    (_, (model_state, fake_out, loss, penalty)), grads = jax.value_and_grad(
        loss_fn, has_aux=True
    )(state.g.params)
    grads = pmean(grads)
    updates, opt_state = spec.g_optimizer.update(
        grads, state.g.opt_state, state.g.params
    )
    params = optax.apply_updates(state.g.params, updates)
    state = state.replace(g=NetState(params, pmean(model_state), opt_state))
    metrics = {
        'g_loss': loss,
        'g_fake': jnp.mean(to_probability(fake_out)),
        'g_grad_norm': optax.tree.norm(grads),
        **({'g_penalty': penalty} if spec.g_penalty != 'none' else {}),
    }
    return state, pmean(metrics)

  # --- The alternating algorithm -------------------------------------------
  def train_step(state: GANState, batch, rng: Array):
    rng = jax.random.fold_in(rng, state.step)
    d_rng, g_rng = jax.random.split(rng)

    def critic_iteration(state, inputs):
      real, i = inputs
      return d_step(state, real, jax.random.fold_in(d_rng, i))

    state, d_metrics = _scan(
        critic_iteration, state, (batch, jnp.arange(spec.n_critic)), unroll
    )
    last = jax.tree.map(lambda b: b[-1], batch)
    state, g_metrics = g_step(state, last, g_rng)
    g_ema = state.g_ema
    if g_ema is not None:
      g_ema = optax.incremental_update(
          state.g.params, g_ema, 1.0 - state.hparams['ema_decay']
      )
    state = state.replace(step=state.step + 1, g_ema=g_ema)
    # D metrics are averaged over the n_critic iterations of this step.
    metrics = {k: jnp.mean(v) for k, v in d_metrics.items()}
    metrics.update(g_metrics)
    return state, metrics

  def train_loop(
      state: GANState,
      rng: Array,
      data: Any,
      sample_batch: Callable[[Array, Any, Array], Any],
      num_steps: int,
  ):
    """Runs ``num_steps`` train steps; metrics come back stacked [num_steps].

    ``sample_batch(key, data, i)`` returns the real data of the loop's
    ``i``-th train step, shape [n_critic, B, ...] (or a tuple with labels);
    it runs on device inside the loop. ``data`` is a pytree passed through
    as an argument, so a dataset held in device memory is not embedded in
    the program: a sampler draws from it with ``key``, a streamed chunk of
    batches is indexed with ``i``, and a 2-D sampler needs neither.
    """

    def body(state, i):
      data_rng, step_rng = jax.random.split(jax.random.fold_in(rng, state.step))
      return train_step(state, sample_batch(data_rng, data, i), step_rng)

    return _scan(body, state, jnp.arange(num_steps), unroll and num_steps == 1)

  return Steps(d_step, g_step, train_step, train_loop)
