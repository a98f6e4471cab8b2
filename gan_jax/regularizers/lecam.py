r"""LeCam regularisation (Tseng, Jiang, Liu, Yang, Yang 2021,
"Regularizing Generative Adversarial Networks under Limited Data", Eq. 3).

D's outputs are pulled toward anchors: those on real data toward the
running mean of its outputs on fakes, and those on fakes toward the
running mean on real data,

.. math:: R_{LC} = E_x\big[\lVert D(x) - \alpha_F\rVert^2\big]
                 + E_z\big[\lVert D(G(z)) - \alpha_R\rVert^2\big],

added to D's loss with weight :math:`\lambda` (``objective.lecam_weight``,
0.3 as the paper's CIFAR-10 setting). The paper shows that this bounds
the game's value by a LeCam divergence, which is more robust when D
overfits a small training set. :math:`\alpha_R, \alpha_F` are exponential
moving averages of D's mean outputs (decay ``objective.lecam_decay``, the
paper's 0.99), kept in ``GANState.extra['lecam']`` (checkpointed, vmapped
in sweeps), updated with this step's outputs before the term is taken,
and logged (``lecam_real_ema``, ``lecam_fake_ema``).

``objective.lecam_hinge`` (True, the authors' released code): only
outputs beyond their anchor are pulled, :math:`\max(0, D(x) -
\alpha_F)^2` and :math:`\max(0, \alpha_R - D(G(z)))^2`; False is Eq. 3
as written.
"""

from typing import Any, Dict, Tuple

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.regularizers import REGULARIZERS, Regularizer
from gan_jax.shapes import Outputs, Scalar

Array = jax.Array


def lecam_penalty(
    real_out: Outputs,
    fake_out: Outputs,
    real_anchor: Array,
    fake_anchor: Array,
    hinge: bool = True,
) -> Scalar:
  """The unweighted R_LC of the module docstring."""
  real_gap = real_out - fake_anchor
  fake_gap = real_anchor - fake_out
  if hinge:
    real_gap, fake_gap = jax.nn.relu(real_gap), jax.nn.relu(fake_gap)
  return jnp.mean(jnp.square(real_gap)) + jnp.mean(jnp.square(fake_gap))


def moving_average(average: Array, value: Array, decay: Array) -> Array:
  return decay * average + (1.0 - decay) * value


def _lecam(ctx: Context) -> Tuple[Scalar, Dict[str, Array]]:
  decay = ctx.hparams['lecam_decay']
  # The anchors follow the global batch's means and carry no gradient.
  real_mean = jax.lax.stop_gradient(ctx.mean(ctx.real_out))
  fake_mean = jax.lax.stop_gradient(ctx.mean(ctx.fake_out))
  extra = {
      'real_ema': moving_average(ctx.extra['real_ema'], real_mean, decay),
      'fake_ema': moving_average(ctx.extra['fake_ema'], fake_mean, decay),
  }
  penalty = lecam_penalty(
      ctx.real_out,
      ctx.fake_out,
      extra['real_ema'],
      extra['fake_ema'],
      ctx.hparams['lecam_hinge'],
  )
  return ctx.hparams['lecam_weight'] * penalty, extra


def _init(spec: Any) -> Dict[str, Array]:
  del spec
  return {
      'real_ema': jnp.zeros((), jnp.float32),
      'fake_ema': jnp.zeros((), jnp.float32),
  }


def _log(extra: Dict[str, Array]) -> Dict[str, Array]:
  return {
      'lecam_real_ema': extra['real_ema'],
      'lecam_fake_ema': extra['fake_ema'],
  }


REGULARIZERS.register(
    'lecam',
    Regularizer(
        d=_lecam,
        hparams=(
            HParam('lecam_weight', 0.3, low=0.0, doc="LeCam's lambda"),
            HParam(
                'lecam_decay',
                0.99,
                low=0.0,
                high=1.0,
                doc='the decay of the anchors (moving averages)',
            ),
            HParam(
                'lecam_hinge',
                True,
                batchable=False,
                doc="pull only outputs beyond their anchor (the authors' "
                'code); False: Eq. 3 as written',
            ),
        ),
        init_extra=_init,
        log=_log,
    ),
    replace=True,
)
