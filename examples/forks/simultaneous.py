"""Simultaneous D and G updates, as an algorithm of your own.

The library's algorithm alternates: D steps, then a G step through the
updated D. Many reference implementations update both players at once from
the same parameters (simultaneous gradient descent; the Unrolled GAN
reference code, PacGAN's blocks): each gradient is taken at the current
(theta_D, theta_G), then both move. Built from the library's pieces, so
penalties, packing, unrolling, conditioning, EMA, every parallel route and
the CPU formulation work unchanged:

* a D step and a G step, both from the same state (``gan_jax.steps``);
* D's half of one and G's half of the other;
* ``finish_step``: G's EMA and the step count.

A static option, ``train.simultaneous`` (declared below), turns it back
into the library's alternating step: the check that the fork's plumbing
changes nothing else (tests/test_forks.py).

  python -m experiments.run --config=examples/forks/simultaneous.py
  python -m experiments.sweep --config=examples/forks/simultaneous.py \
      --seeds=3 --grid=train.algorithm=alternating,simultaneous
"""

import functools

import jax

from experiments.configs import default
from gan_jax import steps
from gan_jax.algorithms import ALGORITHMS, Algorithm
from gan_jax.hparams import HParam

SIMULTANEOUS = HParam(
    'simultaneous',
    True,
    field='train.simultaneous',
    batchable=False,  # It picks the program, not a number in it.
    doc='update D and G from the same params (False: alternate)',
)


def simultaneous_steps(spec, axis_name=None, unroll=False):
  d_step = functools.partial(
      steps.d_step, spec, axis_name=axis_name, unroll=unroll
  )
  g_step = functools.partial(
      steps.g_step, spec, axis_name=axis_name, unroll=unroll
  )
  if not spec.option_values()['simultaneous']:
    train_step = steps.alternate(d_step, g_step, spec.n_critic, unroll)
    return steps.Steps(train_step, steps.loop(train_step, unroll))

  def train_step(state, batch, rng):
    rng = jax.random.fold_in(rng, state.step)
    d_rng, g_rng = jax.random.split(rng)
    real = jax.tree.map(lambda b: b[0], batch)  # n_critic is 1.
    after_d, d_metrics = d_step(state, real, jax.random.fold_in(d_rng, 0))
    after_g, g_metrics = g_step(state, real, g_rng)
    # D's half from D's step; G's params, optimizer and model state, and
    # its penalty's state (StyleGAN2's path-length mean), from G's.
    extra = dict(after_d.extra)
    if spec.g_penalty in after_g.extra:
      extra[spec.g_penalty] = after_g.extra[spec.g_penalty]
    state = after_d.replace(g=after_g.g, extra=extra)
    return steps.finish_step(state), {**d_metrics, **g_metrics}

  return steps.Steps(train_step, steps.loop(train_step, unroll))


def _one_critic_step(config):
  if config['objective']['n_critic'] != 1:
    raise ValueError(
        f"objective.n_critic={config['objective']['n_critic']!r} is not "
        "allowed with train.algorithm='simultaneous': one D and one G update "
        'per step; use 1'
    )


ALGORITHMS.register(
    'simultaneous',
    Algorithm(
        simultaneous_steps, hparams=(SIMULTANEOUS,), check=_one_critic_step
    ),
)


def get_config():
  config = default.get_config()
  config.variant = 'simultaneous'
  config.train.algorithm = 'simultaneous'
  return config
