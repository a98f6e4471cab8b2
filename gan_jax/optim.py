"""Optimizers for G and D, each configured on its own.

The learning rate is wrapped with ``optax.inject_hyperparams`` so it lives in
the optimizer *state* as data rather than in the graph: runs that differ only
in learning rate share one compilation (and can be vmapped side by side).
"""

from typing import Any, Callable, Mapping

import optax

SCHEDULES = ('constant', 'linear', 'cosine')
OPTIMIZERS = ('adam', 'rmsprop', 'sgd')


def make_schedule(lr: float, schedule: str,
                  total_steps: int) -> Callable[[Any], Any]:
  """Learning rate as a function of the optimizer's update count.

  ``linear`` decays to 0 at ``total_steps`` (the WGAN-GP image code's
  schedule); ``cosine`` likewise with a cosine shape.
  """
  if schedule == 'constant':
    return optax.constant_schedule(lr)
  if schedule == 'linear':
    return optax.linear_schedule(lr, 0.0, max(total_steps, 1))
  if schedule == 'cosine':
    return optax.cosine_decay_schedule(lr, max(total_steps, 1))
  raise ValueError(f'unknown schedule {schedule!r}; valid: '
                   f'{", ".join(SCHEDULES)}')


def make_optimizer(config: Mapping[str, Any],
                   total_updates: int) -> optax.GradientTransformation:
  """An optax optimizer from one side's config.

  Args:
    config: fields ``name`` (adam | rmsprop | sgd), ``lr``, ``b1``, ``b2``
      (Adam's betas; ``b1`` is SGD's momentum, RMSProp's decay is ``b2``),
      ``schedule`` (constant | linear | cosine).
    total_updates: how many updates this side makes in the whole run (for
      decaying schedules; D makes n_critic per train step).
  """
  lr = make_schedule(config['lr'], config['schedule'], total_updates)
  name = config['name']
  if name == 'adam':
    return optax.inject_hyperparams(optax.adam)(
        learning_rate=lr, b1=config['b1'], b2=config['b2'])
  if name == 'rmsprop':
    return optax.inject_hyperparams(optax.rmsprop)(
        learning_rate=lr, decay=config['b2'])
  if name == 'sgd':
    return optax.inject_hyperparams(optax.sgd)(
        learning_rate=lr, momentum=config['b1'] or None)
  raise ValueError(f'unknown optimizer {name!r}; valid: '
                   f'{", ".join(OPTIMIZERS)}')
