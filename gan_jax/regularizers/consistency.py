r"""Consistency regularisation: D should not change its mind under a
transform that keeps the meaning of a sample.

* CR (Zhang, Zhang, Odena, Lee 2020, "Consistency Regularization for
  Generative Adversarial Networks", Eq. 1): on real data,
  :math:`\lambda\,E_x[(D(x) - D(T(x)))^2]`, :math:`\lambda = 10`.
* bCR (Zhao, Singh, Lee, Zhang, Odena, Zhang 2021, "Improved Consistency
  Regularization for GANs", Sec. 3.1): the same on the fakes too,
  :math:`\lambda_{real} E_x[(D(x) - D(T(x)))^2] + \lambda_{fake}
  E_z[(D(G(z)) - D(T(G(z))))^2]`, both 10.
* zCR (ibid., Sec. 3.2): in latent space, :math:`T(z) = z + \Delta z`,
  :math:`\Delta z \sim N(0, \sigma^2 I)`, :math:`\sigma = 0.03`. D's term
  :math:`\lambda_{dis} E_z[(D(G(z)) - D(G(T(z))))^2]` makes D insensitive
  to the perturbation, G's term :math:`-\lambda_{gen} E_z[\lVert G(z) -
  G(T(z))\rVert^2]` keeps G sensitive to it (against collapse);
  :math:`\lambda_{dis} = 5`, :math:`\lambda_{gen} = 0.5`.

T for images is the papers' for CIFAR-10: a random horizontal flip and a
translation by up to an eighth of the side, reflection-padded;
``objective.cr_flip=False`` leaves the flip out, for data whose meaning a
flip changes (digits). On 2-D points a Gaussian jitter of
``objective.cr_jitter`` (in the network's units) plays T's part. Squared differences are averaged over elements
(the authors' mean squared error; the image term of zCR is a mean over
pixels). CR and bCR compare with what D judged: the packs of PacGAN (a
pack is flipped and shifted as one) and, with an augmentation on
(gan_jax.augment), the augmented batches; zCR shows D both G(z) and
G(T(z)) as it was shown the step's fakes (``ctx.view``: the same
augmentation draws, packed).
"""

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.regularizers import REGULARIZERS, Regularizer
from gan_jax.shapes import Scalar

Array = jax.Array


def flip_and_translate(
    images: Array, flip: Array, shift: Array, pad: int
) -> Array:
  """Images [B, H, W, C] flipped left-right where ``flip`` [B] and
  translated by ``shift - pad`` pixels [B, 2] (rows, columns), the border
  filled by reflection (``pad`` pixels at most)."""
  _, height, width, channels = images.shape
  images = jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), 'reflect')
  return jax.vmap(
      lambda image, s: jax.lax.dynamic_slice(
          image, (s[0], s[1], 0), (height, width, channels)
      )
  )(padded, shift)


def transform(ctx: Context, key: Array, x: Array) -> Array:
  """T of the module docstring, drawn for the global batch."""
  if x.ndim != 4:  # 2-D points (or other vectors): a Gaussian jitter.
    return x + ctx.hparams['cr_jitter'] * ctx.draw(
        jax.random.normal, key, x.shape
    )
  batch, height, width, _ = x.shape
  # The reflection needs pad < side.
  pad = max(1, min(round(height / 8), height - 1, width - 1))
  flip_key, shift_key = jax.random.split(key)
  flip = ctx.draw(
      lambda k, shape: jax.random.bernoulli(k, 0.5, shape), flip_key, (batch,)
  )
  flip = jnp.logical_and(flip, ctx.hparams['cr_flip'])
  shift = ctx.draw(
      lambda k, shape: jax.random.randint(k, shape, 0, 2 * pad + 1),
      shift_key,
      (batch, 2),
  )
  return flip_and_translate(x, flip, shift, pad)


def squared_difference(a: Array, b: Array) -> Scalar:
  return jnp.mean(jnp.square(a - b))


def _cr(ctx: Context) -> Scalar:
  real_t = transform(ctx, ctx.rng, ctx.real)
  return ctx.hparams['cr_weight'] * squared_difference(
      ctx.real_out, ctx.critic(real_t)
  )


def _bcr(ctx: Context) -> Scalar:
  real_key, fake_key = jax.random.split(ctx.rng)
  real_t = transform(ctx, real_key, ctx.real)
  fake_t = transform(ctx, fake_key, ctx.fake)
  return ctx.hparams['bcr_real'] * squared_difference(
      ctx.real_out, ctx.critic(real_t)
  ) + ctx.hparams['bcr_fake'] * squared_difference(
      ctx.fake_out, ctx.critic(fake_t)
  )


def perturbed_latents(ctx: Context) -> Array:
  """T(z) = z + sigma * N(0, I), drawn for the global batch."""
  noise = ctx.draw(jax.random.normal, ctx.rng, ctx.latents.shape)
  return ctx.latents + ctx.hparams['zcr_sigma'] * noise


def _zcr_d(ctx: Context) -> Scalar:
  # G(z) and G(T(z)) from one noise stream, so only z differs, shown to D
  # as the step's fakes were (the same augmentation draws): at sigma 0
  # the term is exactly 0. G is frozen in D's step.
  key = jax.random.fold_in(ctx.rng, 1)
  fake, fake_t = (
      jax.lax.stop_gradient(ctx.generator(z, labels=ctx.labels, rng=key))
      for z in (ctx.latents, perturbed_latents(ctx))
  )
  return ctx.hparams['zcr_dis'] * squared_difference(
      ctx.critic(ctx.view(fake)), ctx.critic(ctx.view(fake_t))
  )


def _zcr_g(ctx: Context) -> Scalar:
  # Both images from one call's noise stream, so only z differs.
  key = jax.random.fold_in(ctx.rng, 1)
  fake = ctx.generator(ctx.latents, labels=ctx.labels, rng=key)
  fake_t = ctx.generator(perturbed_latents(ctx), labels=ctx.labels, rng=key)
  return -ctx.hparams['zcr_gen'] * squared_difference(fake, fake_t)


CR_JITTER = HParam(
    'cr_jitter',
    0.05,
    low=0.0,
    doc="T's Gaussian jitter on 2-D points, in the network's units",
)
CR_FLIP = HParam(
    'cr_flip',
    True,
    batchable=False,
    doc="T's random horizontal flip of images (False: translation only)",
)

REGULARIZERS.register(
    'cr',
    Regularizer(
        d=_cr,
        hparams=(
            HParam('cr_weight', 10.0, low=0.0, doc="CR's lambda"),
            CR_JITTER,
            CR_FLIP,
        ),
    ),
    replace=True,
)
REGULARIZERS.register(
    'bcr',
    Regularizer(
        d=_bcr,
        hparams=(
            HParam('bcr_real', 10.0, low=0.0, doc="bCR's lambda_real"),
            HParam('bcr_fake', 10.0, low=0.0, doc="bCR's lambda_fake"),
            CR_JITTER,
            CR_FLIP,
        ),
    ),
    replace=True,
)
REGULARIZERS.register(
    'zcr',
    Regularizer(
        d=_zcr_d,
        g=_zcr_g,
        hparams=(
            HParam('zcr_dis', 5.0, low=0.0, doc="zCR's lambda_dis"),
            HParam('zcr_gen', 0.5, low=0.0, doc="zCR's lambda_gen"),
            HParam(
                'zcr_sigma',
                0.03,
                low=0.0,
                doc="zCR's latent perturbation's standard deviation",
            ),
        ),
    ),
    replace=True,
)
