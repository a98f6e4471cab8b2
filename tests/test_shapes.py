"""The shapes that the objectives' and penalties' signatures name
(gan_jax/shapes.py) hold at run time: jaxtyping's checker accepts the
library's own calls and rejects a mismatched one."""

import beartype
import jax
import jax.numpy as jnp
import jaxtyping
import pytest

from gan_jax import config as gan_config, losses, penalties
from gan_jax.context import Context

HPARAMS = Context(
    hparams={
        name: jnp.asarray(h.default)
        for name, h in gan_config.declared_hparams().items()
    }
)


def checked(fn):
  return jaxtyping.jaxtyped(typechecker=beartype.beartype)(fn)


def critic(x):
  return jnp.sum(jnp.tanh(x.reshape(x.shape[0], -1)), axis=1)


@pytest.mark.parametrize('name', sorted(losses.OBJECTIVES))
def test_objectives_take_outputs_per_example_and_return_a_scalar(name):
  objective = losses.OBJECTIVES[name]
  d_loss, g_loss = checked(objective.d_loss), checked(objective.g_loss)
  real, fake = jnp.linspace(-1.0, 1.0, 6), jnp.linspace(-2.0, 0.5, 6)
  assert d_loss(real, fake, HPARAMS).shape == ()
  if not objective.g_uses_real:  # Else the steps always pass D(real).
    assert g_loss(None, fake, HPARAMS).shape == ()
  assert g_loss(real, fake, HPARAMS).shape == ()
  # PatchGAN's map of scores per example (CycleGAN's discriminators).
  patches = jnp.zeros((6, 4, 4, 1))
  assert d_loss(patches, patches, HPARAMS).shape == ()
  # Real and fake outputs of different batches: a broadcast the mean would
  # silently hide.
  with pytest.raises(jaxtyping.TypeCheckError):
    d_loss(real, fake[:, None], HPARAMS)
  with pytest.raises(jaxtyping.TypeCheckError):
    g_loss(real if objective.g_uses_real else None, jnp.zeros(()), HPARAMS)
  with pytest.raises(jaxtyping.TypeCheckError):
    d_loss(real, jnp.arange(6), HPARAMS)  # Integers are not outputs.


@pytest.mark.parametrize('shape', [(5, 2), (5, 8, 8, 3)])
def test_penalties_take_batches_of_one_shape(shape):
  real = jax.random.normal(jax.random.PRNGKey(0), shape)
  fake = jax.random.normal(jax.random.PRNGKey(1), shape)
  eps = jnp.linspace(0.0, 1.0, shape[0])
  gradient_penalty = checked(penalties.gradient_penalty)
  assert gradient_penalty(critic, real, fake, eps).shape == ()
  assert checked(penalties.r1_penalty)(critic, real).shape == ()
  norms = checked(penalties.per_example_grad_norm)(critic, real)
  assert norms.shape == (shape[0],)
  with pytest.raises(jaxtyping.TypeCheckError):  # One eps per example.
    gradient_penalty(critic, real, fake, eps[:-1])
  with pytest.raises(jaxtyping.TypeCheckError):  # Fakes of another shape.
    gradient_penalty(critic, real, fake[..., :1], eps)
