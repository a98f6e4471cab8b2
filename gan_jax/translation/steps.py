"""Pure CycleGAN training steps: the part of the translation code people
fork.

``make_steps(spec, axis_name, unroll)`` builds the steps of the translation
algorithm ``spec.algorithm`` names in :data:`ALGORITHMS` (``train.algorithm``
of a translation config): the built-in ``'cyclegan'`` is
``make_cycle_steps``; a config file registers a fork of it as a GAN fork
registers in gan_jax.algorithms (docs/forking.md), and experiments.translate
trains and sweeps it. ``make_cycle_steps(spec, axis_name)`` returns

* ``train_step(state, (x, y), rng) -> (state, metrics)``: one update of G
  and F together, then one of D_X and D_Y (Zhu et al. 2017, Sec. 3-4), on
  a batch of x from X and an unrelated batch of y from Y;
* ``train_loop(state, rng, data, sample_batch, num_steps)``: ``num_steps``
  train steps in one ``lax.scan`` (as gan_jax.steps.train_loop).

The objective (Zhu et al. 2017, eq. 3), with lambda = ``cycle_weight``:

  L(G, F, D_X, D_Y) = L_GAN(G, D_Y) + L_GAN(F, D_X)
                      + lambda (E|F(G(x)) - x|_1 + E|G(F(y)) - y|_1)
                      + lambda * identity_weight
                        (E|F(x) - x|_1 + E|G(y) - y|_1),

the last line the identity loss of Sec. 5.2 (Taigman et al. 2017), which
keeps colours when the domains share them (identity_weight 0.5). L1 terms
are means over pixels, as PyTorch's L1Loss. L_GAN is any objective of
gan_jax.losses; with least squares (the paper's choice) G minimises
E[(D(G(x)) - 1)^2] and D minimises (E[(D(y) - 1)^2] + E[D(G(x))^2]) / 2,
the paper's D objective "divided by 2". gan_jax.losses writes LSGAN's G
loss with Mao et al.'s factor 1/2, so G's term is scaled by 2 here
(``ADVERSARIAL_SCALE``) to keep the paper's balance with lambda.

D_Y is trained on G's fakes of this step passed through the history buffer
(gan_jax.translation.history), D_X likewise on F's: fakes made by G and F
*before* their update, as in the reference code.

With ``axis_name`` set the step runs under ``jax.pmap`` or
``jax.shard_map`` on each device's part of the batch: gradients and
metrics are averaged with ``lax.pmean``, and the fakes are gathered so the
history buffer (replicated in the state) sees the global batch, in the
same order and with the same key as on one device; each device keeps its
part of what comes back. Instance norm is per image, so nothing else
crosses devices.
"""

from typing import Any, Callable, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import optax
from jax import lax

from gan_jax import losses, parallel
from gan_jax.algorithms import Algorithm
from gan_jax.context import Context
from gan_jax.registry import Registry
from gan_jax.step_helpers import apply_model
from gan_jax.translation import history as history_lib
from gan_jax.translation.state import CycleSpec, CycleState

Array = jax.Array
Metrics = Dict[str, Array]

# G's adversarial term = scale * objective.g_loss (module docstring).
ADVERSARIAL_SCALE = {'least_squares': 2.0}


class CycleSteps(NamedTuple):
  train_step: Callable[[CycleState, Any, Array], Tuple[CycleState, Metrics]]
  train_loop: Callable[..., Tuple[CycleState, Metrics]]


def l1(a: Array, b: Array) -> Array:
  """Mean absolute difference over every element."""
  return jnp.mean(jnp.abs(a - b))


def cycle_loss(
    x: Array, x_reconstructed: Array, y: Array, y_reconstructed: Array
) -> Tuple[Array, Array]:
  """(E|F(G(x)) - x|_1, E|G(F(y)) - y|_1), means over pixels."""
  return l1(x_reconstructed, x), l1(y_reconstructed, y)


def identity_loss(
    x: Array, f_of_x: Array, y: Array, g_of_y: Array
) -> Tuple[Array, Array]:
  """(E|F(x) - x|_1, E|G(y) - y|_1): each translator should leave an
  example of its target domain as it is."""
  return l1(f_of_x, x), l1(g_of_y, y)


def make_cycle_steps(
    spec: CycleSpec, axis_name=None, unroll: bool = False
) -> CycleSteps:
  """The step functions of ``spec`` (see the module docstring).
  ``unroll``: a ``train_loop`` of one step is that step, not a
  ``lax.scan`` of one (XLA:CPU runs convolutions inside loops many times
  slower, jax-ml/jax#12868)."""
  objective = losses.get_objective(spec.objective)
  scale = ADVERSARIAL_SCALE.get(spec.objective, 1.0)

  def pmean(tree):
    return tree if axis_name is None else lax.pmean(tree, axis_name)

  def run(module, net, params, inputs):
    return apply_model(
        module, net, params, inputs, compute_dtype=spec.compute_dtype
    )[0]

  def to_probability(outputs):
    return (
        jax.nn.sigmoid(outputs) if objective.outputs_are_logits else (outputs)
    )

  def through_history(history, fakes, rng):
    """The buffer's answer for this device's fakes (module docstring)."""
    fakes = lax.stop_gradient(fakes)
    if axis_name is None:
      return history_lib.query(history, fakes, rng)
    everyone = lax.all_gather(fakes, axis_name, tiled=True)
    history, returned, swapped = history_lib.query(history, everyone, rng)
    return (
        history,
        parallel.take_part(returned, axis_name),
        parallel.take_part(swapped, axis_name),
    )

  def update(net, tx, grads):
    updates, opt_state = tx.update(grads, net.opt_state, net.params)
    return net.replace(
        params=optax.apply_updates(net.params, updates), opt_state=opt_state
    )

  # --- G and F, through the current D_Y and D_X ---------------------------
  def translators_loss(state: CycleState, params, x: Array, y: Array):
    hp = state.hparams
    ctx = Context(hparams=hp, axis_name=axis_name, step=state.step)
    fake_y = run(spec.g, state.g, params['g'], x)
    fake_x = run(spec.f, state.f, params['f'], y)
    cycle_x, cycle_y = cycle_loss(
        x,
        run(spec.f, state.f, params['f'], fake_y),
        y,
        run(spec.g, state.g, params['g'], fake_x),
    )
    judged_y = run(spec.d_y, state.d_y, state.d_y.params, fake_y)
    judged_x = run(spec.d_x, state.d_x, state.d_x.params, fake_x)
    # D's outputs on real data, for an objective whose G loss uses them.
    real_y = real_x = None
    if objective.g_uses_real:
      real_y = run(spec.d_y, state.d_y, state.d_y.params, y)
      real_x = run(spec.d_x, state.d_x, state.d_x.params, x)
    g_adv = scale * objective.g_loss(real_y, judged_y, ctx)
    f_adv = scale * objective.g_loss(real_x, judged_x, ctx)
    total = g_adv + f_adv + hp['cycle_weight'] * (cycle_x + cycle_y)
    metrics = {
        'g_loss': g_adv,
        'f_loss': f_adv,
        'cycle_x': cycle_x,
        'cycle_y': cycle_y,
    }
    if spec.identity_loss:
      identity_x, identity_y = identity_loss(
          x,
          run(spec.f, state.f, params['f'], x),
          y,
          run(spec.g, state.g, params['g'], y),
      )
      total += (
          hp['cycle_weight'] * hp['identity_weight'] * (identity_x + identity_y)
      )
      metrics.update(identity_x=identity_x, identity_y=identity_y)
    return total, (fake_x, fake_y, metrics)

  # --- D_X or D_Y on real data and the buffer's fakes -----------------------
  def discriminator_loss(module, net, params, real, fake, hp):
    real_out = run(module, net, params, real)
    fake_out = run(module, net, params, fake)
    ctx = Context(hparams=hp, axis_name=axis_name)
    return objective.d_loss(real_out, fake_out, ctx), (real_out, fake_out)

  def train_step(state: CycleState, batch, rng: Array):
    x, y = batch
    hx_rng, hy_rng = jax.random.split(jax.random.fold_in(rng, state.step))
    params = {'g': state.g.params, 'f': state.f.params}
    grads, (fake_x, fake_y, metrics) = jax.grad(
        lambda p: translators_loss(state, p, x, y), has_aux=True
    )(params)
    grads = pmean(grads)
    g = update(state.g, spec.g_optimizer, grads['g'])
    f = update(state.f, spec.g_optimizer, grads['f'])
    metrics['translators_grad_norm'] = optax.tree.norm(grads)

    history_x, pool_x, swapped_x = through_history(
        state.history_x, fake_x, hx_rng
    )
    history_y, pool_y, swapped_y = through_history(
        state.history_y, fake_y, hy_rng
    )
    new = {}
    for name, module, real, pool in (
        ('d_x', spec.d_x, x, pool_x),
        ('d_y', spec.d_y, y, pool_y),
    ):
      net = getattr(state, name)
      (loss, (real_out, fake_out)), d_grads = jax.value_and_grad(
          discriminator_loss, argnums=2, has_aux=True
      )(module, net, net.params, real, pool, state.hparams)
      d_grads = pmean(d_grads)
      new[name] = update(net, spec.d_optimizer, d_grads)
      metrics.update(
          {
              f'{name}_loss': loss,
              f'{name}_real': jnp.mean(to_probability(real_out)),
              f'{name}_fake': jnp.mean(to_probability(fake_out)),
              f'{name}_grad_norm': optax.tree.norm(d_grads),
          }
      )
    metrics['from_history'] = jnp.mean(
        jnp.concatenate([swapped_x, swapped_y]).astype(jnp.float32)
    )
    state = state.replace(
        step=state.step + 1,
        g=g,
        f=f,
        d_x=new['d_x'],
        d_y=new['d_y'],
        history_x=history_x,
        history_y=history_y,
    )
    return state, pmean(metrics)

  def train_loop(
      state: CycleState,
      rng: Array,
      data: Any,
      sample_batch: Callable[[Array, Any, Array], Any],
      num_steps: int,
  ):
    """``num_steps`` train steps; ``sample_batch(key, data, i)`` returns
    the (x, y) batch of the loop's ``i``-th step, on device. Metrics come
    back stacked [num_steps]."""

    def body(state, i):
      data_rng, step_rng = jax.random.split(jax.random.fold_in(rng, state.step))
      return train_step(state, sample_batch(data_rng, data, i), step_rng)

    if unroll and num_steps == 1:
      state, metrics = body(state, jnp.zeros((), jnp.int32))
      return state, jax.tree.map(lambda m: m[None], metrics)
    return lax.scan(body, state, jnp.arange(num_steps))

  return CycleSteps(train_step, train_loop)


# Translation algorithms by name: step factories ``(spec, axis_name=None,
# unroll=False) -> CycleSteps`` of a CycleSpec.
ALGORITHMS: Registry[Algorithm] = Registry(
    'translation algorithm', {'cyclegan': Algorithm(make_cycle_steps)}
)


def make_steps(
    spec: CycleSpec, axis_name=None, unroll: bool = False
) -> CycleSteps:
  """The steps of ``spec.algorithm`` (:data:`ALGORITHMS`), built for
  ``spec``."""
  return ALGORITHMS.lookup(spec.algorithm).make_steps(
      spec, axis_name=axis_name, unroll=unroll
  )


def translate(
    module, net, params, inputs: Array, compute_dtype: str = 'float32'
) -> Array:
  """A translator in inference mode (what evaluation and pictures use)."""
  return apply_model(
      module, net, params, inputs, train=False, compute_dtype=compute_dtype
  )[0]
