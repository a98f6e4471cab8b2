"""DRAGAN's gradient penalty, with hyperparameters of its own, as a config
file of your own.

The library ships it (``objective.penalty='dragan'``, gan_jax/penalties.py);
this file shows how such a penalty is written outside the library, as
``my_dragan``, and tests/test_forks.py checks that the two agree.

Kodali, Abernethy, Hays and Kira (2017), "On Convergence and Stability of
GANs", Sec. 4 and their code (kodalinaveen3/DRAGAN): D's gradient is pulled
to norm k in a neighbourhood of the real data,

  lambda E[(||grad D(x_hat)|| - k)^2],  x_hat = x + alpha c std(x) u,
  u ~ U[0, 1]^d, alpha ~ U[0, 1] per example,

with std(x) the real batch's standard deviation (over the global batch:
``ctx.mean``), c = 0.5, k = 1 and lambda = 10 (``objective.penalty_weight``).
c and k are declared as hyperparameters: ``objective.dragan_c`` and
``objective.dragan_k`` exist in every config built after this file runs,
validated, and a sweep vmaps over them (they only set numbers in the state).

  python -m experiments.run --config=examples/forks/dragan.py
  python -m experiments.sweep --config=examples/forks/dragan.py --seeds=3 \
      --grid=objective.dragan_c=0.25,0.5,1
"""

import jax
import jax.numpy as jnp

from experiments.configs import default
from gan_jax import penalties
from gan_jax.hparams import HParam


def dragan_penalty(ctx):
  real = ctx.real  # What D judges (packs of samples under PacGAN).
  std = jnp.sqrt(ctx.mean(jnp.square(real)) - jnp.square(ctx.mean(real)))
  u_key, alpha_key = jax.random.split(ctx.rng)
  u = ctx.draw(jax.random.uniform, u_key, real.shape)
  alpha = ctx.draw(jax.random.uniform, alpha_key, (real.shape[0],))
  alpha = alpha.reshape((-1,) + (1,) * (real.ndim - 1))
  x_hat = real + alpha * ctx.hparams['dragan_c'] * std * u
  norms = penalties.per_example_grad_norm(ctx.critic, x_hat)
  return jnp.mean(jnp.square(norms - ctx.hparams['dragan_k']))


penalties.D_PENALTIES.register(
    'my_dragan',
    penalties.Penalty(
        dragan_penalty,
        hparams=(
            HParam(
                'dragan_c',
                0.5,
                low=0.0,
                doc="the perturbation's scale, in standard deviations",
            ),
            HParam('dragan_k', 1.0, low=0.0, doc='the target gradient norm'),
        ),
    ),
)


def get_config():
  config = default.get_config()
  config.variant = 'dragan'
  config.objective.penalty = 'my_dragan'
  config.objective.penalty_weight = 10.0  # lambda.
  return config
