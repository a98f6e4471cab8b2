"""GAN objectives as pure functions of discriminator outputs.

Every function takes the discriminator's raw outputs (logits for the
cross-entropy games, critic values for the Wasserstein and hinge games), one
scalar per example, and returns a scalar loss to *minimise*. Cross-entropy
terms are written with softplus, never log(sigmoid(x)):

    log D(x)      = log sigmoid(l)     = -softplus(-l)
    log(1 - D(x)) = log sigmoid(-l)    = -softplus(l)

An :class:`Objective` pairs a discriminator loss with a generator loss;
:data:`OBJECTIVES` looks them up by name. Numbers that a sweep may vary without
changing the graph (label targets) arrive through ``hparams``, a dict of scalars
held in the train state, so runs that differ only in them can be vmapped.
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gan_jax.shapes import Outputs, Scalar

# Scalars held in the train state (traced), or plain numbers.
HParams = Mapping[str, jax.typing.ArrayLike]


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
    real_logits: Outputs, fake_logits: Outputs, hparams: HParams
) -> Scalar:
  r"""Discriminator loss of the minimax game, with optional label smoothing.

  D maximises :math:`E_x[\log D(x)] + E_z[\log(1 - D(G(z)))]`, i.e. minimises
  the binary cross-entropy with target 1 on real and 0 on fake samples.

  Label smoothing (Salimans et al., 2016, "Improved Techniques for Training
  GANs", Sec. 3.4) replaces the targets by ``hparams['real_target']`` (one-sided:
  exactly 1 - s, e.g. 0.9 for s = 0.1) and ``hparams['fake_target']`` (kept 0
  for the one-sided form the paper recommends; > 0 gives the two-sided form).
  This is *not* TensorFlow's ``label_smoothing=s``, which moves both targets
  toward 1/2 (real 1 - s/2, fake s/2).
  """
  return binary_cross_entropy(
      real_logits, hparams.get('real_target', 1.0)
  ) + binary_cross_entropy(fake_logits, hparams.get('fake_target', 0.0))


def saturating_g_loss(fake_logits: Outputs, hparams: HParams) -> Scalar:
  r"""Generator loss of the original minimax game (Goodfellow et al., 2014).

  G minimises :math:`E_z[\log(1 - D(G(z)))] = -E_z[\mathrm{softplus}(l)]`.
  Its derivative with respect to the logit is :math:`-\sigma(l) = -D(G(z))`,
  which vanishes when D confidently rejects the fakes (D(G(z)) -> 0): the
  generator stops learning exactly when it is worst.
  """
  del hparams
  return -jnp.mean(jax.nn.softplus(fake_logits))


def non_saturating_g_loss(fake_logits: Outputs, hparams: HParams) -> Scalar:
  r"""The non-saturating generator loss (Goodfellow et al., 2014, Sec. 3).

  G maximises :math:`E_z[\log D(G(z))]`, i.e. minimises
  :math:`E_z[\mathrm{softplus}(-l)]`. Its derivative with respect to the logit
  is :math:`-(1 - D(G(z)))`, which tends to -1 (strong gradients) as
  D(G(z)) -> 0.
  """
  del hparams
  return jnp.mean(jax.nn.softplus(-fake_logits))


# --- Wasserstein (Arjovsky et al., 2017; Gulrajani et al., 2017) ----------


def wasserstein_d_loss(
    real_values: Outputs, fake_values: Outputs, hparams: HParams
) -> Scalar:
  r"""Critic loss :math:`E_z[f(G(z))] - E_x[f(x)]`.

  Minimising it maximises the Kantorovich-Rubinstein estimate of the
  Wasserstein-1 distance, :math:`E_x[f(x)] - E_z[f(G(z))]`, over critics kept
  (roughly) 1-Lipschitz by weight clipping (WGAN) or a gradient penalty
  (WGAN-GP, see :mod:`gan_jax.penalties`).
  """
  del hparams
  return jnp.mean(fake_values) - jnp.mean(real_values)


def wasserstein_g_loss(fake_values: Outputs, hparams: HParams) -> Scalar:
  r"""Generator loss :math:`-E_z[f(G(z))]` (shared by WGAN, WGAN-GP, hinge)."""
  del hparams
  return -jnp.mean(fake_values)


# --- Hinge (Lim & Ye, 2017; Miyato et al., 2018) --------------------------


def hinge_d_loss(
    real_values: Outputs, fake_values: Outputs, hparams: HParams
) -> Scalar:
  r"""Discriminator hinge loss
  :math:`E_x[\max(0, 1 - D(x))] + E_z[\max(0, 1 + D(G(z)))]`.

  Lim & Ye, "Geometric GAN" (2017); used by SNGAN (Miyato et al., 2018). The
  generator loss is :func:`wasserstein_g_loss`.
  """
  del hparams
  return jnp.mean(jax.nn.relu(1.0 - real_values)) + jnp.mean(
      jax.nn.relu(1.0 + fake_values)
  )


# --- Least squares (Mao et al., 2017) -------------------------------------


def least_squares_d_loss(
    real_values: Outputs, fake_values: Outputs, hparams: HParams
) -> Scalar:
  r"""LSGAN discriminator loss
  :math:`\tfrac12 E_x[(D(x) - b)^2] + \tfrac12 E_z[(D(G(z)) - a)^2]`.

  Mao et al., "Least Squares Generative Adversarial Networks" (2017), with the
  0-1 coding a = 0, b = 1 (``hparams['fake_target']``, ``['real_target']``).
  """
  b = hparams.get('real_target', 1.0)
  a = hparams.get('fake_target', 0.0)
  return 0.5 * jnp.mean(jnp.square(real_values - b)) + 0.5 * jnp.mean(
      jnp.square(fake_values - a)
  )


def least_squares_g_loss(fake_values: Outputs, hparams: HParams) -> Scalar:
  r"""LSGAN generator loss :math:`\tfrac12 E_z[(D(G(z)) - c)^2]`, c = 1.

  c is ``hparams['real_target']``: the value G wants D to believe.
  """
  c = hparams.get('real_target', 1.0)
  return 0.5 * jnp.mean(jnp.square(fake_values - c))


# --- Registry -------------------------------------------------------------


class Objective(NamedTuple):
  """A two-player objective: the losses each side minimises.

  Attributes:
    d_loss: (real_outputs, fake_outputs, hparams) -> scalar.
    g_loss: (fake_outputs, hparams) -> scalar.
    outputs_are_logits: True if D's outputs are logits of a probability, so
      sigmoid(output) is D(x) and is worth logging; False for critics.
    zero_sum: True if G's loss is -d_loss up to terms constant in G (the
      minimax game at targets 1 and 0, Wasserstein): an unrolled G
      (gan_jax.steps) then minimises -d_loss through the look-ahead D, the
      game's value, whose real-data term depends on G through D's
      look-ahead params (Metz et al. 2017).
  """

  d_loss: Callable[[Outputs, Outputs, HParams], Scalar]
  g_loss: Callable[[Outputs, HParams], Scalar]
  outputs_are_logits: bool
  zero_sum: bool = False


OBJECTIVES = {
    'minimax': Objective(
        cross_entropy_d_loss, saturating_g_loss, True, zero_sum=True
    ),
    'non_saturating': Objective(
        cross_entropy_d_loss, non_saturating_g_loss, True
    ),
    'wasserstein': Objective(
        wasserstein_d_loss, wasserstein_g_loss, False, zero_sum=True
    ),
    'hinge': Objective(hinge_d_loss, wasserstein_g_loss, False),
    'least_squares': Objective(
        least_squares_d_loss, least_squares_g_loss, False
    ),
}


def get_objective(name: str) -> Objective:
  """Looks an objective up by name; an unknown name lists the valid ones."""
  try:
    return OBJECTIVES[name]
  except KeyError:
    raise ValueError(
        f'unknown objective {name!r}; valid: '
        f'{", ".join(sorted(OBJECTIVES))}'
    ) from None
