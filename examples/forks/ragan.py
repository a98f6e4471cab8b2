"""RaGAN, the relativistic average standard GAN, as a config file of your own.

The library ships it (``objective.name='ragan'``, gan_jax/relativistic.py);
this file shows how such an objective is written outside the library, as
``my_ragan``, and tests/test_forks.py checks that the two agree.

Jolicoeur-Martineau (2019), "The relativistic discriminator: a key element
missing from standard GAN", Sec. 4. D judges whether a real sample is more
realistic than the average fake (and a fake less realistic than the average
real sample), with C the critic's raw output:

  L_D = -E_x[log sigmoid(C(x) - E_z C(G(z)))]
        - E_z[log(1 - sigmoid(C(G(z)) - E_x C(x)))]
  L_G = -E_z[log sigmoid(C(G(z)) - E_x C(x))]
        - E_x[log(1 - sigmoid(C(x) - E_z C(G(z))))]

written with softplus. G's loss needs D's outputs on real data
(``g_uses_real``), and both need the batch means, taken over the global
batch with ``ctx.mean`` so the step is the same on one device or eight.

  python -m experiments.run --config=examples/forks/ragan.py
  python -m experiments.sweep --config=examples/forks/ragan.py --seeds=3 \
      --grid=objective.name=non_saturating,my_ragan
"""

import jax
import jax.numpy as jnp

from experiments.configs import default
from gan_jax import losses


def ragan_d_loss(real, fake, ctx):
  real_vs_fake = real - ctx.mean(fake)
  fake_vs_real = fake - ctx.mean(real)
  return jnp.mean(jax.nn.softplus(-real_vs_fake)) + jnp.mean(
      jax.nn.softplus(fake_vs_real)
  )


def ragan_g_loss(real, fake, ctx):
  # D's loss with the roles of real and fake swapped.
  return ragan_d_loss(fake, real, ctx)


losses.OBJECTIVES.register(
    'my_ragan',
    losses.Objective(
        d_loss=ragan_d_loss,
        g_loss=ragan_g_loss,
        outputs_are_logits=False,  # Differences of logits: chart raw values.
        g_uses_real=True,
    ),
)


def get_config():
  config = default.get_config()
  config.variant = 'ragan'  # Names runs/ragan_<dataset>_seed<seed>.
  config.objective.name = 'my_ragan'
  return config
