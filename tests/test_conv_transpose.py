"""ConvTranspose4x4 against flax's nn.ConvTranspose: same params, outputs
and gradients."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.conv_transpose import ConvTranspose4x4


def _pair(features, use_bias=True):
  return (nn.ConvTranspose(features, (4, 4), strides=(2, 2),
                           use_bias=use_bias),
          ConvTranspose4x4(features, use_bias=use_bias))


@pytest.mark.parametrize('shape,features,use_bias', [
    ((3, 7, 7, 16), 8, True),    # DCGAN's 7 -> 14 stage, small
    ((2, 14, 14, 8), 1, True),   # 14 -> 28 to one channel
    ((1, 4, 4, 5), 3, False),
    ((2, 5, 6, 4), 2, True),     # not square
])
def test_same_params_outputs_and_gradients_as_flax(shape, features,
                                                    use_bias):
  plain, fast = _pair(features, use_bias)
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  params = plain.init(jax.random.PRNGKey(1), x)
  chex.assert_trees_all_equal(fast.init(jax.random.PRNGKey(1), x), params)
  # Non-zero biases, so the bias path is checked too.
  params = jax.tree.map(
      lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
      params)

  expected = plain.apply(params, x)
  chex.assert_shape(expected, (shape[0], 2 * shape[1], 2 * shape[2],
                               features))
  np.testing.assert_array_equal(fast.apply(params, x), expected)

  cotangent = jax.random.normal(jax.random.PRNGKey(3), expected.shape)

  def grads(module):
    loss = lambda p, x: jnp.sum(module.apply(p, x) * cotangent)
    return jax.grad(loss, argnums=(0, 1))(params, x)

  jax.tree.map(lambda a, b: np.testing.assert_allclose(
      a, b, rtol=1e-5, atol=1e-5), grads(fast), grads(plain))


def test_vmapped_gradients_match_the_one_by_one_ones():
  """Sweeps vmap the train step over runs: the custom gradient must too."""
  _, fast = _pair(4)
  xs = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 7, 7, 6))
  params = jax.vmap(lambda k: fast.init(k, xs[0]))(
      jax.random.split(jax.random.PRNGKey(1), 3))
  grad = jax.grad(lambda p, x: jnp.sum(jnp.sin(fast.apply(p, x))))
  batched = jax.jit(jax.vmap(grad))(params, xs)
  for i in range(3):
    one = grad(jax.tree.map(lambda p: p[i], params), xs[i])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a[i], b, rtol=1e-5, atol=1e-6), batched, one)
