r"""The relativistic objectives (Jolicoeur-Martineau 2019, "The
relativistic discriminator: a key element missing from standard GAN").

D's raw output C(x) (a critic value) is read relative to the other side:
D estimates the probability that a real sample is more realistic than a
fake (RSGAN), or than the average fake (the "relativistic average" RaGAN
family), and G's loss is D's with the roles of real and fake swapped, so G
also learns by making the real data look *less* realistic. Every G loss
therefore needs D's outputs on real data (``g_uses_real``).

With :math:`\tilde C(x_r) = C(x_r) - E_{x_f} C(x_f)` and
:math:`\tilde C(x_f) = C(x_f) - E_{x_r} C(x_r)` (the means over the global
batch, ``ctx.mean``, so the step is the same on one device or eight), and
softplus for the stable cross-entropy (log sigmoid(y) = -softplus(-y)):

* RSGAN (Eq. 8-9): :math:`L_D = E_{(x_r, x_f)}[\mathrm{softplus}(-(C(x_r)
  - C(x_f)))]`, :math:`L_G = E[\mathrm{softplus}(-(C(x_f) - C(x_r)))]`,
  over the batch's pairs (example i of the real batch with example i of
  the fakes).
* RaSGAN (Eq. 11-12): :math:`L_D = E[\mathrm{softplus}(-\tilde C(x_r))]
  + E[\mathrm{softplus}(\tilde C(x_f))]`, G's the same with real and fake
  swapped.
* RaLSGAN (Eq. 15-16, targets 1 and -1): :math:`L_D = E[(\tilde C(x_r)
  - 1)^2] + E[(\tilde C(x_f) + 1)^2]`, G's swapped.
* RaHingeGAN (Eq. 17-18): :math:`L_D = E[\max(0, 1 - \tilde C(x_r))]
  + E[\max(0, 1 + \tilde C(x_f))]`, G's swapped.
"""

from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.losses import OBJECTIVES, Objective
from gan_jax.shapes import Outputs, Scalar


def relative_to_average(
    first: Outputs, second: Outputs, ctx: Context
) -> Tuple[Outputs, Outputs]:
  """(C(first) - E C(second), C(second) - E C(first)), the means over the
  global batch."""
  return first - ctx.mean(second), second - ctx.mean(first)


def rsgan_d_loss(real: Outputs, fake: Outputs, ctx: Context) -> Scalar:
  del ctx
  return jnp.mean(jax.nn.softplus(-(real - fake)))


def rsgan_g_loss(
    real: Optional[Outputs], fake: Outputs, ctx: Context
) -> Scalar:
  assert real is not None  # g_uses_real: the steps pass D(real).
  return rsgan_d_loss(fake, real, ctx)


def ragan_d_loss(real: Outputs, fake: Outputs, ctx: Context) -> Scalar:
  real_rel, fake_rel = relative_to_average(real, fake, ctx)
  return jnp.mean(jax.nn.softplus(-real_rel)) + jnp.mean(
      jax.nn.softplus(fake_rel)
  )


def ragan_g_loss(
    real: Optional[Outputs], fake: Outputs, ctx: Context
) -> Scalar:
  assert real is not None  # g_uses_real: the steps pass D(real).
  return ragan_d_loss(fake, real, ctx)


def ralsgan_d_loss(real: Outputs, fake: Outputs, ctx: Context) -> Scalar:
  real_rel, fake_rel = relative_to_average(real, fake, ctx)
  return jnp.mean(jnp.square(real_rel - 1.0)) + jnp.mean(
      jnp.square(fake_rel + 1.0)
  )


def ralsgan_g_loss(
    real: Optional[Outputs], fake: Outputs, ctx: Context
) -> Scalar:
  assert real is not None  # g_uses_real: the steps pass D(real).
  return ralsgan_d_loss(fake, real, ctx)


def rahinge_d_loss(real: Outputs, fake: Outputs, ctx: Context) -> Scalar:
  real_rel, fake_rel = relative_to_average(real, fake, ctx)
  return jnp.mean(jax.nn.relu(1.0 - real_rel)) + jnp.mean(
      jax.nn.relu(1.0 + fake_rel)
  )


def rahinge_g_loss(
    real: Optional[Outputs], fake: Outputs, ctx: Context
) -> Scalar:
  assert real is not None  # g_uses_real: the steps pass D(real).
  return rahinge_d_loss(fake, real, ctx)


for _name, _d, _g in (
    ('rsgan', rsgan_d_loss, rsgan_g_loss),
    ('ragan', ragan_d_loss, ragan_g_loss),
    ('ralsgan', ralsgan_d_loss, ralsgan_g_loss),
    ('rahinge', rahinge_d_loss, rahinge_g_loss),
):
  # Outputs are critic values: only their differences mean a probability,
  # so the logs chart them raw.
  OBJECTIVES.register(
      _name,
      Objective(_d, _g, outputs_are_logits=False, g_uses_real=True),
      replace=True,  # Re-importing the module (a notebook) is no clash.
  )
