r"""Top-k training (Sinha, Zhao, Goyal, Raffel, Odena 2020, "Top-k
Training of GANs: Improving GAN Performance by Throwing Away Bad
Samples", Alg. 1).

G's loss is taken on the k fakes of the batch that D rates highest only:
the worst fakes' gradients point toward modes the others already cover,
so leaving them out of G's update helps. k starts at the batch size and
is multiplied by :math:`\gamma` every epoch, down to :math:`\nu` times
the batch,

.. math:: k_t = \lfloor B \max(\gamma^{e_t}, \nu) \rfloor

with :math:`e_t` the epochs done, :math:`\gamma = 0.99` and :math:`\nu =
0.5` (``objective.topk_gamma``, ``objective.topk_nu``; the paper found
0.5 a good minimum across models). An epoch is a pass of D's real data
over the training set (``train_size / (batch x n_critic)`` train steps),
or ``objective.topk_epoch_steps`` steps when set; 2-D samplers have no
training set, so there it must be set.

The ranking is over the global batch (every device's fakes, gathered),
and the loss is the objective's own on the chosen fakes (and on all the
real data, for the relativistic losses), so it is exact for every
objective. Since k changes during training and shapes may not, each
possible k has its branch (:func:`jax.lax.switch` over
``B - floor(nu B) + 1`` small branches of the loss alone), which is why
:math:`\nu` is a static option.
"""

import math
from collections.abc import Mapping
from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.regularizers import GLoss, REGULARIZERS, Regularizer
from gan_jax.shapes import Outputs, Scalar

Array = jax.Array


def k_at(epoch: Array, batch: int, gamma: Array, nu: float) -> Array:
  """k of the module docstring at ``epoch`` epochs done (int32)."""
  fraction = jnp.maximum(
      jnp.power(gamma, epoch.astype(jnp.float32)), jnp.float32(nu)
  )
  smallest = max(1, math.floor(batch * nu))
  # The epsilon keeps k = B at gamma^0 = 1 from rounding down.
  k = jnp.floor(batch * fraction + 1e-4).astype(jnp.int32)
  return jnp.clip(k, smallest, batch)


def epoch_steps(ctx: Context, batch: int) -> int:
  """Train steps per epoch (see the module docstring)."""
  given = ctx.hparams['topk_epoch_steps']
  if given:
    return given
  examples_per_step = batch * ctx.spec.pack * ctx.spec.n_critic
  return max(1, round(ctx.spec.train_size / examples_per_step))


def top_k_loss(
    loss: GLoss,
    real_out: Optional[Outputs],
    fake_out: Outputs,
    ctx: Context,
    k: Array,
    smallest: int,
) -> Scalar:
  """``loss`` on the ``k`` highest of ``fake_out`` (the whole batch,
  one device's view), ``k`` traced, from ``smallest`` to the batch."""
  ranked = -jnp.sort(-fake_out)  # Descending; sort has a gradient.
  batch = fake_out.shape[0]
  branches = [
      lambda real, ranked, n=n: loss(real, ranked[:n], ctx)
      for n in range(smallest, batch + 1)
  ]
  return jax.lax.switch(k - smallest, branches, real_out, ranked)


def _g_objective(loss: GLoss, ctx: Context) -> GLoss:
  nu = ctx.hparams['topk_nu']

  def topk_loss(real_out, fake_out, inner_ctx):
    # Rank the global batch; the gathered outputs are the whole batch on
    # every device, so the loss no longer averages over devices itself.
    fake_all = inner_ctx.gather(fake_out)
    real_all = None if real_out is None else inner_ctx.gather(real_out)
    batch = fake_all.shape[0]
    whole = inner_ctx.replace(axis_name=None)
    epoch = inner_ctx.step // epoch_steps(inner_ctx, batch)
    k = k_at(epoch, batch, inner_ctx.hparams['topk_gamma'], nu)
    return top_k_loss(
        loss, real_all, fake_all, whole, k, max(1, math.floor(batch * nu))
    )

  del ctx
  return topk_loss


def _check(config: Mapping) -> None:
  from gan_jax.data import is_image_dataset  # Keep this import light.

  if config['objective']['name'] == 'rsgan':
    raise ValueError(
        "objective.regularizers with 'topk' is not allowed with "
        "objective.name='rsgan': ranking the fakes breaks RSGAN's pairs of "
        "a real and a fake sample; use 'ragan'"
    )
  steps = config['objective']['topk_epoch_steps']
  if not is_image_dataset(config['dataset']) and not steps:
    raise ValueError(
        f'objective.topk_epoch_steps=0 is not allowed with dataset='
        f"{config['dataset']!r}: a 2-D sampler has no epochs; give the "
        'train steps between decays of k (an integer >= 1)'
    )


REGULARIZERS.register(
    'topk',
    Regularizer(
        g_objective=_g_objective,
        hparams=(
            HParam(
                'topk_gamma',
                0.99,
                low=0.0,
                high=1.0,
                doc="k's decay per epoch",
            ),
            HParam(
                'topk_nu',
                0.5,
                low=0.0,
                high=1.0,
                low_open=True,
                batchable=False,
                doc='the smallest k, as a fraction of the batch',
            ),
            HParam(
                'topk_epoch_steps',
                0,
                low=0,
                batchable=False,
                doc='train steps per decay of k (0: an epoch of the '
                'training set)',
            ),
        ),
        check=_check,
    ),
    replace=True,
)
