"""ConvTranspose4x4 and Conv4x4 against flax's nn.ConvTranspose and
nn.Conv: same params, outputs, gradients and (for the penalties) gradients
of input gradients."""

import functools
import operator

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.conv_transpose import Conv4x4, ConvTranspose4x4
from gan_jax.models.initializers import drawn_as_matrix


def _pair(features, use_bias=True):
  return (
      nn.ConvTranspose(features, (4, 4), strides=(2, 2), use_bias=use_bias),
      ConvTranspose4x4(features, use_bias=use_bias),
  )


@pytest.mark.parametrize(
    'shape,features,use_bias',
    [
        ((3, 7, 7, 16), 8, True),  # DCGAN's 7 -> 14 stage, small
        pytest.param((2, 14, 14, 8), 1, True, marks=pytest.mark.slow),
        ((1, 4, 4, 5), 3, False),
        pytest.param(
            (2, 5, 6, 4), 2, True, marks=pytest.mark.slow
        ),  # not square
    ],
)
def test_same_params_outputs_and_gradients_as_flax(shape, features, use_bias):
  plain, fast = _pair(features, use_bias)
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  params = plain.init(jax.random.PRNGKey(1), x)
  chex.assert_trees_all_equal(fast.init(jax.random.PRNGKey(1), x), params)
  # Non-zero biases, so the bias path is checked too.
  params = jax.tree.map(
      lambda p: p + 0.1 * jax.random.normal(jax.random.PRNGKey(2), p.shape),
      params,
  )

  expected = plain.apply(params, x)
  chex.assert_shape(expected, (shape[0], 2 * shape[1], 2 * shape[2], features))
  np.testing.assert_array_equal(fast.apply(params, x), expected)

  cotangent = jax.random.normal(jax.random.PRNGKey(3), expected.shape)

  def grads(module):
    loss = lambda p, x: jnp.sum(module.apply(p, x) * cotangent)
    return jax.grad(loss, argnums=(0, 1))(params, x)

  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
      grads(fast),
      grads(plain),
  )


@pytest.mark.slow
def test_vmapped_gradients_match_the_one_by_one_ones():
  """Sweeps vmap the train step over runs: the custom gradient must too."""
  _, fast = _pair(4)
  xs = jax.random.normal(jax.random.PRNGKey(0), (3, 2, 7, 7, 6))
  params = jax.vmap(lambda k: fast.init(k, xs[0]))(
      jax.random.split(jax.random.PRNGKey(1), 3)
  )
  grad = jax.grad(lambda p, x: jnp.sum(jnp.sin(fast.apply(p, x))))
  batched = jax.jit(jax.vmap(grad))(params, xs)
  for i in range(3):
    one = grad(jax.tree.map(operator.itemgetter(i), params), xs[i])
    jax.tree.map(
        functools.partial(
            lambda index, a, b: np.testing.assert_allclose(
                a[index], b, rtol=1e-5, atol=1e-6
            ),
            i,
        ),
        batched,
        one,
    )


@pytest.mark.parametrize(
    'shape,features',
    [
        pytest.param((3, 28, 28, 1), 8, marks=pytest.mark.slow),  # D's first
        pytest.param((2, 14, 14, 6), 4, marks=pytest.mark.slow),  # its second
        ((2, 8, 6, 3), 5),  # not square
    ],
)
def test_conv4x4_is_flax_conv_to_the_second_derivative(shape, features):
  plain = nn.Conv(features, (4, 4), strides=(2, 2))
  fast = Conv4x4(features)
  x = jax.random.normal(jax.random.PRNGKey(0), shape)
  params = plain.init(jax.random.PRNGKey(1), x)
  chex.assert_trees_all_equal(fast.init(jax.random.PRNGKey(1), x), params)
  np.testing.assert_array_equal(fast.apply(params, x), plain.apply(params, x))

  def close(a, b):
    jax.tree.map(
        lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5),
        a,
        b,
    )

  cotangent = jax.random.normal(
      jax.random.PRNGKey(3), plain.apply(params, x).shape
  )
  grads = lambda m: jax.grad(
      lambda p, x: jnp.sum(m.apply(p, x) * cotangent), argnums=(0, 1)
  )(params, x)
  close(grads(fast), grads(plain))

  # A gradient penalty's parameter gradient: d/dparams of |d/dx f|^2.
  def penalty(module):
    def value(p):
      input_grad = jax.grad(lambda x: jnp.sum(jnp.tanh(module.apply(p, x))))(x)
      return jnp.sum(input_grad**2)

    return jax.grad(value)(params)

  close(penalty(fast), penalty(plain))


def test_conv4x4_refuses_odd_sides():
  x = jnp.zeros((1, 7, 7, 2))
  with pytest.raises(ValueError, match='even image sides'):
    Conv4x4(3).init(jax.random.PRNGKey(0), x)


@pytest.mark.parametrize('partitionable', [True, False])
@pytest.mark.parametrize(
    'init',
    [
        nn.initializers.lecun_normal(),
        nn.initializers.he_normal(),
        nn.initializers.lecun_uniform(),
    ],
    ids=['lecun_normal', 'he_normal', 'lecun_uniform'],
)
def test_a_kernel_drawn_as_a_matrix_is_the_same_kernel(init, partitionable):
  """Fan-in initialisers give the same bits drawn as [16 * C_in, C_out] and
  reshaped, with either of JAX's threefry counter layouts; a fan-out one
  does not, which is why only the layers' default is wrapped."""
  shape = (4, 4, 6, 5)
  key = jax.random.PRNGKey(7)
  with jax.threefry_partitionable(partitionable):
    np.testing.assert_array_equal(
        drawn_as_matrix(init)(key, shape), init(key, shape)
    )
  fan_out = nn.initializers.variance_scaling(1.0, 'fan_out', 'normal')
  assert not np.allclose(
      drawn_as_matrix(fan_out)(key, shape), fan_out(key, shape)
  )
