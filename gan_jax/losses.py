"""GAN objectives as pure functions of discriminator outputs.

Every function takes the discriminator's raw outputs (logits for the
cross-entropy games, critic values for the Wasserstein and hinge games), one
scalar per example, and returns a scalar loss to *minimise*. Cross-entropy
terms are written with softplus, never log(sigmoid(x)):

    log D(x)      = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x)) = log sigmoid(-l)    = -softplus(l)

An :class:`Objective` pairs a discriminator loss with a generator loss;
:data:`OBJECTIVES` looks them up by name (``OBJECTIVES.register`` adds one).
Both losses take ``(real_out, fake_out, ctx)``: G's loss gets D's outputs on
real data too when its objective asks for them (``g_uses_real``, the
relativistic losses), else None. ``ctx`` (gan_jax.context) carries the
objective's scalars (``ctx.hparams``, declared in ``Objective.hparams``;
held in the train state, so runs that differ only in them can be vmapped)
and the batch statistics across devices (``ctx.mean``).
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.registry import Registry
from gan_jax.shapes import Outputs, Scalar

# The label targets of the games that have them.
REAL_TARGET = HParam(
    'real_target',
    1.0,
    low=0.0,
    high=1.0,
    doc="D's target on real data: 1 - s for one-sided label smoothing",
)
FAKE_TARGET = HParam(
    'fake_target',
    0.0,
    low=0.0,
    high=1.0,
    doc="D's target on fakes: > 0 for two-sided label smoothing",
)
# Least squares codes the targets with any numbers (Mao et al.'s a, b, c).
LS_TARGETS = tuple(
    HParam(
        h.name,
        h.default,
        low=-float('inf'),
        high=float('inf'),
        low_open=True,
        high_open=True,
        doc=h.doc,
    )
    for h in (REAL_TARGET, FAKE_TARGET)
)


def binary_cross_entropy(logits: Outputs, target) -> Scalar:
  r"""Mean binary cross-entropy of sigmoid(logits) against ``target``.

  .. math:: \ell(l, t) = -t \log\sigma(l) - (1 - t)\log(1 - \sigma(l))
                     = t\,\mathrm{softplus}(-l) + (1 - t)\,\mathrm{softplus}(l)

  ``target`` may be any value in [0, 1] (a smoothed label), broadcast over the
  batch.
  """
  return jnp.mean(
      target * jax.nn.softplus(-logits)
      + (1.0 - target) * jax.nn.softplus(logits)
  )


# --- The cross-entropy game (Goodfellow et al., 2014) ----------------------


def cross_entropy_d_loss(
    real_logits: Outputs, fake_logits: Outputs, ctx: Context
) -> Scalar:
  r"""Discriminator loss of the minimax game, with optional label smoothing.

  D maximises :math:`E_x[\log D(x)] + E_z[\log(1 - D(G(z)))]`, i.e. minimises
  the binary cross-entropy with target 1 on real and 0 on fake samples.

  Label smoothing (Salimans et al., 2016, "Improved Techniques for Training
  GANs", Sec. 3.4) replaces the targets by ``ctx.hparams['real_target']``
  (one-sided: exactly 1 - s, e.g. 0.9 for s = 0.1) and
  ``ctx.hparams['fake_target']`` (kept 0 for the one-sided form the paper
  recommends; > 0 gives the two-sided form).
  This is *not* TensorFlow's ``label_smoothing=s``, which moves both targets
  toward 1/2 (real 1 - s/2, fake s/2).
  """
  return binary_cross_entropy(
      real_logits, ctx.hparams['real_target']
  ) + binary_cross_entropy(fake_logits, ctx.hparams['fake_target'])


def saturating_g_loss(
    real_logits: Optional[Outputs], fake_logits: Outputs, ctx: Context
) -> Scalar:
  r"""Generator loss of the original minimax game (Goodfellow et al., 2014).

  G minimises :math:`E_z[\log(1 - D(G(z)))] = -E_z[\mathrm{softplus}(l)]`.
  Its derivative with respect to the logit is :math:`-\sigma(l) = -D(G(z))`,
  which vanishes when D confidently rejects the fakes (D(G(z)) -> 0): the
  generator stops learning exactly when it is worst.
  """
  del real_logits, ctx
  return -jnp.mean(jax.nn.softplus(fake_logits))


def non_saturating_g_loss(
    real_logits: Optional[Outputs], fake_logits: Outputs, ctx: Context
) -> Scalar:
  r"""The non-saturating generator loss (Goodfellow et al., 2014, Sec. 3).

  G maximises :math:`E_z[\log D(G(z))]`, i.e. minimises
  :math:`E_z[\mathrm{softplus}(-l)]`. Its derivative with respect to the logit
  is :math:`-(1 - D(G(z)))`, which tends to -1 (strong gradients) as
  D(G(z)) -> 0.
  """
  del real_logits, ctx
  return jnp.mean(jax.nn.softplus(-fake_logits))


# --- Wasserstein (Arjovsky et al., 2017; Gulrajani et al., 2017) ----------


def wasserstein_d_loss(
    real_values: Outputs, fake_values: Outputs, ctx: Context
) -> Scalar:
  r"""Critic loss :math:`E_z[f(G(z))] - E_x[f(x)]`.

  Minimising it maximises the Kantorovich-Rubinstein estimate of the
  Wasserstein-1 distance, :math:`E_x[f(x)] - E_z[f(G(z))]`, over critics kept
  (roughly) 1-Lipschitz by weight clipping (WGAN) or a gradient penalty
  (WGAN-GP, see :mod:`gan_jax.penalties`).
  """
  del ctx
  return jnp.mean(fake_values) - jnp.mean(real_values)


def wasserstein_g_loss(
    real_values: Optional[Outputs], fake_values: Outputs, ctx: Context
) -> Scalar:
  r"""Generator loss :math:`-E_z[f(G(z))]` (shared by WGAN, WGAN-GP, hinge)."""
  del real_values, ctx
  return -jnp.mean(fake_values)


# --- Hinge (Lim & Ye, 2017; Miyato et al., 2018) --------------------------


def hinge_d_loss(
    real_values: Outputs, fake_values: Outputs, ctx: Context
) -> Scalar:
  r"""Discriminator hinge loss
  :math:`E_x[\max(0, 1 - D(x))] + E_z[\max(0, 1 + D(G(z)))]`.

  Lim & Ye, "Geometric GAN" (2017); used by SNGAN (Miyato et al., 2018). The
  generator loss is :func:`wasserstein_g_loss`.
  """
  del ctx
  return jnp.mean(jax.nn.relu(1.0 - real_values)) + jnp.mean(
      jax.nn.relu(1.0 + fake_values)
  )


# --- Least squares (Mao et al., 2017) -------------------------------------


def least_squares_d_loss(
    real_values: Outputs, fake_values: Outputs, ctx: Context
) -> Scalar:
  r"""LSGAN discriminator loss
  :math:`\tfrac12 E_x[(D(x) - b)^2] + \tfrac12 E_z[(D(G(z)) - a)^2]`.

  Mao et al., "Least Squares Generative Adversarial Networks" (2017), with the
  0-1 coding a = 0, b = 1 (``ctx.hparams['fake_target']``, ``['real_target']``).
  """
  b = ctx.hparams['real_target']
  a = ctx.hparams['fake_target']
  return 0.5 * jnp.mean(jnp.square(real_values - b)) + 0.5 * jnp.mean(
      jnp.square(fake_values - a)
  )


def least_squares_g_loss(
    real_values: Optional[Outputs], fake_values: Outputs, ctx: Context
) -> Scalar:
  r"""LSGAN generator loss :math:`\tfrac12 E_z[(D(G(z)) - c)^2]`, c = 1.

  c is ``ctx.hparams['real_target']``: the value G wants D to believe.
  """
  del real_values
  c = ctx.hparams['real_target']
  return 0.5 * jnp.mean(jnp.square(fake_values - c))


# --- Registry -------------------------------------------------------------


class Objective(NamedTuple):
  """A two-player objective: the losses each side minimises.

  Attributes:
    d_loss: (real_outputs, fake_outputs, ctx) -> scalar.
    g_loss: (real_outputs or None, fake_outputs, ctx) -> scalar; the
      real outputs are computed (D on the step's real batch, at the params
      G is judged by) only when ``g_uses_real``.
    outputs_are_logits: True if D's outputs are logits of a probability, so
      sigmoid(output) is D(x) and is worth logging; False for critics.
    zero_sum: True if G's loss is -d_loss up to terms constant in G (the
      minimax game at targets 1 and 0, Wasserstein): an unrolled G
      (gan_jax.steps) then minimises -d_loss through the look-ahead D, the
      game's value, whose real-data term depends on G through D's
      look-ahead params (Metz et al. 2017).
    g_uses_real: G's loss needs D's outputs on real data (relativistic
      losses).
    hparams: the scalars the losses read from ``ctx.hparams``.
    check: ``check(config) -> None``, raising ValueError with one line for
      a config it cannot train with.
  """

  d_loss: Callable[[Outputs, Outputs, Context], Scalar]
  g_loss: Callable[[Optional[Outputs], Outputs, Context], Scalar]
  outputs_are_logits: bool
  zero_sum: bool = False
  g_uses_real: bool = False
  hparams: tuple[HParam, ...] = ()
  check: Optional[Callable[[Mapping], None]] = None


_CROSS_ENTROPY = (REAL_TARGET, FAKE_TARGET)

OBJECTIVES: Registry[Objective] = Registry(
    'objective',
    {
        'minimax': Objective(
            cross_entropy_d_loss,
            saturating_g_loss,
            True,
            zero_sum=True,
            hparams=_CROSS_ENTROPY,
        ),
        'non_saturating': Objective(
            cross_entropy_d_loss,
            non_saturating_g_loss,
            True,
            hparams=_CROSS_ENTROPY,
        ),
        'wasserstein': Objective(
            wasserstein_d_loss, wasserstein_g_loss, False, zero_sum=True
        ),
        'hinge': Objective(hinge_d_loss, wasserstein_g_loss, False),
        'least_squares': Objective(
            least_squares_d_loss,
            least_squares_g_loss,
            False,
            hparams=LS_TARGETS,
        ),
    },
)


def get_objective(name: str) -> Objective:
  """Looks an objective up by name; an unknown name lists the valid ones."""
  return OBJECTIVES.lookup(name)
