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
0.5` (``objective.topk_gamma``, ``objective.topk_nu``, both batchable;
the paper found 0.5 a good minimum across models); k is at least 1. An epoch is a pass of D's real data
over the training set (``train_size / (batch x n_critic)`` train steps),
or ``objective.topk_epoch_steps`` steps when set; 2-D samplers have no
training set, so there it must be set.

The ranking is over the global batch (every device's fakes, gathered).
The loss is the objective's own, taken per fake (the objective on each
fake alone) and averaged over the chosen k: exact for every objective
whose G loss is a mean over the fakes, and one program whatever k is.
Relativistic objectives compare each sample with the other side's batch
mean, so a fake's term is not its own: they are refused with top-k, and so
is an unrolled G of a zero-sum game, which minimises the game's value
instead of its G loss.
"""

from collections.abc import Mapping
from typing import Optional

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.regularizers import GLoss, REGULARIZERS, Regularizer
from gan_jax.shapes import Outputs, Scalar

Array = jax.Array


def k_at(epoch: Array, batch: int, gamma: Array, nu: Array) -> Array:
  """k of the module docstring at ``epoch`` epochs done (int32)."""
  fraction = jnp.maximum(jnp.power(gamma, epoch.astype(jnp.float32)), nu)
  # The epsilon keeps k = B at gamma^0 = 1 from rounding down.
  k = jnp.floor(batch * fraction + 1e-4).astype(jnp.int32)
  return jnp.clip(k, 1, batch)


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
) -> Scalar:
  """``loss`` on the ``k`` highest of ``fake_out`` (the whole batch, one
  device's view; ``k`` traced): each fake's own term, averaged over the
  chosen."""
  ranked = -jnp.sort(-fake_out)  # Descending; sort has a gradient.
  terms = jax.vmap(lambda one: loss(real_out, one[None], ctx))(ranked)
  chosen = jnp.arange(ranked.shape[0]) < k
  return jnp.sum(jnp.where(chosen, terms, 0.0)) / k


def _g_objective(loss: GLoss, ctx: Context) -> GLoss:
  del ctx

  def topk_loss(real_out, fake_out, inner_ctx):
    # Rank the global batch; the gathered outputs are the whole batch on
    # every device, so the loss no longer averages over devices itself.
    fake_all = inner_ctx.gather(fake_out)
    batch = fake_all.shape[0]
    epoch = inner_ctx.step // epoch_steps(inner_ctx, batch)
    k = k_at(
        epoch,
        batch,
        inner_ctx.hparams['topk_gamma'],
        inner_ctx.hparams['topk_nu'],
    )
    return top_k_loss(
        loss, real_out, fake_all, inner_ctx.replace(axis_name=None), k
    )

  return topk_loss


def _check(config: Mapping) -> None:
  from gan_jax import losses  # Keep this import light.
  from gan_jax.data import is_image_dataset

  objective = config['objective']
  plugin = losses.get_objective(objective['name'])
  if plugin.g_uses_real:
    raise ValueError(
        "objective.regularizers with 'topk' is not allowed with "
        f"objective.name={objective['name']!r}: a relativistic G loss "
        "compares each fake with the real batch's mean and the real "
        "samples with the fakes' mean, so a fake has no term of its own "
        'to rank'
    )
  if plugin.zero_sum and objective['unroll_steps']:
    raise ValueError(
        "objective.regularizers with 'topk' is not allowed with "
        f"objective.unroll_steps={objective['unroll_steps']} and the "
        f"zero-sum objective.name={objective['name']!r}: the unrolled G "
        "minimises the game's value, not its G loss; use unroll_steps=0 "
        "or 'non_saturating'"
    )
  if (
      not is_image_dataset(config['dataset'])
      and not objective['topk_epoch_steps']
  ):
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
