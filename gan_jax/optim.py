"""Optimizers for G and D, each configured on its own.

The learning rate and betas are numbers in the optimizer *state*
(``optax.inject_hyperparams`` with numeric values), not constants in the
graph: runs that differ only in them share one compilation and can be
vmapped side by side (:mod:`gan_jax.batched`). A decaying schedule is a
separate factor in [0, 1] applied after the optimizer, so the peak rate stays
in the state. (A schedule passed to ``inject_hyperparams`` as the learning
rate would be evaluated inside the graph, with the rate as a constant.)
"""

from typing import Any, Callable, Mapping

import optax

SCHEDULES = ('constant', 'linear', 'cosine', 'constant_then_linear')
OPTIMIZERS = ('adam', 'rmsprop', 'sgd')


def make_schedule(
    lr: float, schedule: str, total_steps: int
) -> Callable[[Any], Any]:
  """Learning rate as a function of the optimizer's update count.

  ``linear`` decays to 0 at ``total_steps`` (the WGAN-GP image code's
  schedule); ``cosine`` likewise with a cosine shape;
  ``constant_then_linear`` holds ``lr`` for the first half and then decays
  linearly to 0 (CycleGAN's 100 epochs at 2e-4, then 100 decaying).
  """
  if schedule == 'constant':
    return optax.constant_schedule(lr)
  if schedule == 'linear':
    return optax.linear_schedule(lr, 0.0, max(total_steps, 1))
  if schedule == 'cosine':
    return optax.cosine_decay_schedule(lr, max(total_steps, 1))
  if schedule == 'constant_then_linear':
    half = max(total_steps, 1) // 2
    return optax.join_schedules(
        [
            optax.constant_schedule(lr),
            optax.linear_schedule(lr, 0.0, max(total_steps, 1) - half),
        ],
        [half],
    )
  raise ValueError(
      f'unknown schedule {schedule!r}; valid: {", ".join(SCHEDULES)}'
  )


def make_optimizer(
    config: Mapping[str, Any], total_updates: int, differentiable: bool = False
) -> optax.GradientTransformation:
  """An optax optimizer from one side's config.

  Args:
    config: fields ``name`` (adam | rmsprop | sgd), ``lr``, ``b1``, ``b2``
      (Adam's betas; ``b1`` is SGD's momentum, RMSProp's decay is ``b2``),
      ``schedule`` (constant | linear | cosine |
      constant_then_linear).
    total_updates: how many updates this side makes in the whole run (for
      decaying schedules; D makes n_critic per train step).
    differentiable: the update will be differentiated (an unrolled D,
      gan_jax.steps): Adam takes eps_root = 1e-16 inside its square root,
      whose derivative is infinite at 0, where a gradient is exactly 0
      (a dead ReLU unit) and 0 * inf would be NaN.
  """
  lr = float(config['lr'])
  name = config['name']
  if name == 'adam':
    base = optax.inject_hyperparams(optax.adam)(
        learning_rate=lr,
        b1=config['b1'],
        b2=config['b2'],
        eps_root=1e-16 if differentiable else 0.0,
    )
  elif name == 'rmsprop':
    base = optax.inject_hyperparams(optax.rmsprop)(
        learning_rate=lr, decay=config['b2']
    )
  elif name == 'sgd':
    base = optax.inject_hyperparams(optax.sgd)(
        learning_rate=lr, momentum=config['b1'] or None
    )
  else:
    raise ValueError(
        f'unknown optimizer {name!r}; valid: {", ".join(OPTIMIZERS)}'
    )
  if config['schedule'] == 'constant':
    return base
  factor = make_schedule(1.0, config['schedule'], total_updates)
  return optax.chain(base, optax.scale_by_schedule(factor))


def base_state(opt_state) -> Any:
  """The optimizer's own state, without a schedule's factor after it."""
  return (
      opt_state[0]
      if isinstance(opt_state, tuple) and not hasattr(opt_state, 'hyperparams')
      else opt_state
  )


def learning_rate_of(opt_state) -> Any:
  """The (peak) learning rate held in an optimizer state from
  :func:`make_optimizer`."""
  return base_state(opt_state).hyperparams['learning_rate']


def update_count_of(opt_state) -> Any:
  """How many updates an optimizer from :func:`make_optimizer` has made."""
  return base_state(opt_state).count


def hyperparams_of(tx: optax.GradientTransformation) -> Any:
  """The numbers an optimizer from :func:`make_optimizer` starts with in
  its state (learning rate, betas), without any params to initialise."""
  return base_state(tx.init({})).hyperparams


def with_hyperparams(opt_state, hyperparams) -> Any:
  """``opt_state`` holding ``hyperparams`` instead of its own (same keys;
  e.g. stacked per run, see gan_jax.batched.init_group)."""
  base = base_state(opt_state)
  replaced = base._replace(hyperparams=hyperparams)
  return replaced if base is opt_state else (replaced, *opt_state[1:])
