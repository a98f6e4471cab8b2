"""Class conditioning shared by the model families.

* Generator: the CGAN of Mirza & Osindero (2014): a learned embedding of the
  label is concatenated to z.
* Discriminator: the projection discriminator of Miyato & Koyama (2018):
  ``D(x, y) = psi(h(x)) + <embed(y), h(x)>``, with ``h`` the features before
  the output layer. It is the form whose optimum is the log density ratio of
  the conditionals, and it keeps D one output per example, so every objective
  and penalty applies unchanged.

With ``num_classes == 0`` both are the identity / zero: unconditional models.
"""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp


def check_labels(num_classes: int, labels: Optional[jax.Array]) -> None:
  if num_classes and labels is None:
    raise ValueError(
        f'this model is conditional on {num_classes} classes: pass labels'
    )
  if not num_classes and labels is not None:
    raise ValueError(
        'this model is unconditional (num_classes=0): labels were passed'
    )


class LabelToLatent(nn.Module):
  """z [B, d] and labels [B] -> [z, embed(labels)] of shape [B, 2d]."""

  num_classes: int

  @nn.compact
  def __call__(self, z: jax.Array, labels: jax.Array) -> jax.Array:
    embedding = nn.Embed(self.num_classes, z.shape[-1])(labels)
    return jnp.concatenate([z, embedding.astype(z.dtype)], axis=-1)


class Projection(nn.Module):
  """features h [B, F] and labels [B] -> <embed(labels), h>, shape [B]."""

  num_classes: int

  @nn.compact
  def __call__(self, h: jax.Array, labels: jax.Array) -> jax.Array:
    embed = nn.Embed(
        self.num_classes,
        h.shape[-1],
        embedding_init=nn.initializers.normal(0.02),
    )
    return jnp.sum(embed(labels) * h, axis=-1)
