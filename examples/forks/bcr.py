"""Balanced consistency regularisation (bCR) as a penalty of your own.

The library ships it (``objective.regularizers='bcr'``,
gan_jax/regularizers/consistency.py); this file shows how such a term is
written outside the library, as the penalty ``my_bcr``, and
tests/test_forks.py checks that the two agree.

Zhao, Singh, Lee, Zhang, Odena and Zhang (2021), "Improved Consistency
Regularization for GANs", AAAI, Sec. 3 (bCR): D should give a sample and a
semantics-preserving transform of it the same value, on real data and on
fakes,

  lambda_real E_x[(D(x) - D(T(x)))^2] + lambda_fake E_z[(D(G(z)) - D(T(G(z))))^2],

lambda_real = lambda_fake = 10 in the paper (``objective.bcr_real``,
``objective.bcr_fake``, declared below, batchable; the slot's weight
``objective.penalty_weight`` multiplies the sum and is 1 here). T is the
paper's for images, a random horizontal flip and a translation by up to an
eighth of the side (reflection-padded); on 2-D points a Gaussian jitter of
``objective.bcr_jitter`` plays that part. Fakes come with G's gradient
stopped, as D's step makes them; the transforms are drawn for the global
batch, so the term is the same on one device or eight.

  python -m experiments.run --config=examples/forks/bcr.py
  python -m experiments.sweep --config=examples/forks/bcr.py --seeds=3 \
      --grid=objective.penalty=none,my_bcr
"""

import jax
import jax.numpy as jnp

from experiments.configs import default
from gan_jax import penalties
from gan_jax.hparams import HParam


def flip_and_translate(ctx, key, images):
  """A random horizontal flip and a shift of up to side / 8 pixels per
  image (reflection padding), drawn for the global batch."""
  batch, height, width, _ = images.shape
  pad = max(1, height // 8)
  flip_key, shift_key = jax.random.split(key)
  flip = ctx.draw(
      lambda k, shape: jax.random.bernoulli(k, 0.5, shape), flip_key, (batch,)
  )
  shift = ctx.draw(
      lambda k, shape: jax.random.randint(k, shape, 0, 2 * pad + 1),
      shift_key,
      (batch, 2),
  )
  images = jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), 'reflect')
  return jax.vmap(
      lambda image, s: jax.lax.dynamic_slice(
          image, (s[0], s[1], 0), (height, width, image.shape[-1])
      )
  )(padded, shift)


def transform(ctx, key, x):
  if x.ndim == 4:
    return flip_and_translate(ctx, key, x)
  return x + ctx.hparams['bcr_jitter'] * ctx.draw(
      jax.random.normal, key, x.shape
  )


def bcr_penalty(ctx):
  real_key, fake_key = jax.random.split(ctx.rng)
  real_t = transform(ctx, real_key, ctx.real)
  fake_t = transform(ctx, fake_key, ctx.fake)
  real_term = jnp.mean(jnp.square(ctx.real_out - ctx.critic(real_t)))
  fake_term = jnp.mean(jnp.square(ctx.fake_out - ctx.critic(fake_t)))
  return (
      ctx.hparams['bcr_real'] * real_term + ctx.hparams['bcr_fake'] * fake_term
  )


penalties.D_PENALTIES.register(
    'my_bcr',
    penalties.Penalty(
        bcr_penalty,
        hparams=(
            HParam('bcr_real', 10.0, low=0.0, doc='lambda_real'),
            HParam('bcr_fake', 10.0, low=0.0, doc='lambda_fake'),
            HParam(
                'bcr_jitter',
                0.05,
                low=0.0,
                doc="T's jitter on 2-D points, in the network's units",
            ),
        ),
        per_example=False,  # No input gradient: batch norm in D is fine.
    ),
)


def get_config():
  config = default.get_config()
  config.variant = 'bcr'
  config.objective.penalty = 'my_bcr'
  config.objective.penalty_weight = 1.0  # The lambdas are bcr_real/fake.
  return config
