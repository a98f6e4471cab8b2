"""Model families: shapes for each image size, normalisations' behaviour."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import build_models, dcgan

RNG = jax.random.PRNGKey(0)


@pytest.mark.parametrize(
    'side,stages', [(8, 1), (28, 2), (32, 3), (64, 4), (7, 0), (12, 1), (6, 0)]
)
def test_num_stages(side, stages):
  assert dcgan.num_stages(side) == stages


@pytest.mark.parametrize(
    'shape,message',
    [((7, 7, 1), 'side 7'), ((8, 16, 1), 'square'), ((8, 8), '(height')],
)
def test_check_image_shape_says_why(shape, message):
  assert message in dcgan.check_image_shape(shape)
  assert dcgan.check_image_shape((28, 28, 1)) is None


@pytest.mark.parametrize(
    'shape',
    [
        (8, 8, 1),
        (28, 28, 1),
        *(
            pytest.param(s, marks=pytest.mark.slow)
            for s in [(8, 8, 3), (32, 32, 3), (64, 64, 3)]
        ),
    ],
)
def test_dcgan_shapes_and_range(shape):
  config = dict(
      name='dcgan', width=4, g_norm='batch', d_norm='spectral', latent_dim=3
  )
  generator, discriminator = build_models(config, shape)
  z = jax.random.normal(RNG, (2, 3))
  g_vars = generator.init(RNG, z, train=False)
  images = generator.apply(g_vars, z, train=False)
  chex.assert_shape(images, (2, *shape))
  assert jnp.all(jnp.abs(images) <= 1.0)
  d_vars = discriminator.init(RNG, images, train=False)
  chex.assert_shape(discriminator.apply(d_vars, images, train=False), (2,))


def _discriminator_outputs(norm, images):
  discriminator = dcgan.DCGANDiscriminator(width=4, norm=norm)
  variables = discriminator.init(RNG, images, train=False)
  mutable = [k for k in variables if k != 'params']
  out, _ = discriminator.apply(variables, images, train=True, mutable=mutable)
  return out


@pytest.mark.parametrize('norm', ['none', 'layer', 'spectral', 'batch'])
def test_only_batch_norm_mixes_examples(norm):
  """A gradient penalty needs D(x_i) to depend on x_i alone."""
  images = jax.random.normal(RNG, (4, 16, 16, 1))  # Two stages: one norm.
  changed = images.at[1:].set(
      jax.random.normal(jax.random.PRNGKey(1), (3, 16, 16, 1))
  )
  same = np.allclose(
      _discriminator_outputs(norm, images)[0],
      _discriminator_outputs(norm, changed)[0],
      atol=1e-6,
  )
  assert same == (norm != 'batch')


def test_spectral_norm_divides_each_weight_by_its_largest_singular_value():
  images = 3.0 * jax.random.normal(RNG, (2, 16, 16, 3))
  discriminator = dcgan.DCGANDiscriminator(width=8, norm='spectral')
  variables = discriminator.init(RNG, images, train=False)
  stats = variables['batch_stats']
  for _ in range(30):  # Power iteration converges across calls.
    _, updated = discriminator.apply(
        {**variables, 'batch_stats': stats},
        images,
        train=True,
        mutable=['batch_stats'],
    )
    stats = updated['batch_stats']
  # Flax keeps {'SpectralNorm_i': {'<layer>/kernel/sigma': ..., ...}}.
  sigmas = {
      key.split('/')[0]: float(value)
      for layer in stats.values()
      for key, value in layer.items()
      if key.endswith('/sigma')
  }
  assert set(sigmas) == {'Conv_0', 'Conv_1', 'Dense_0'}
  for name, sigma in sigmas.items():
    kernel = variables['params'][name]['kernel']
    matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])
    top = np.linalg.svd(matrix, compute_uv=False)[0]
    np.testing.assert_allclose(sigma, top, rtol=1e-3)
    # The weight the layer uses, W / sigma, has spectral norm 1.
    np.testing.assert_allclose(
        np.linalg.svd(matrix / sigma, compute_uv=False)[0], 1.0, rtol=1e-3
    )


def test_generator_batch_norm_keeps_statistics_in_model_state():
  generator = dcgan.DCGANGenerator(
      output_shape=(8, 8, 1), width=4, norm='batch'
  )
  z = jax.random.normal(RNG, (5, 2))
  variables = generator.init(RNG, z, train=False)
  assert set(variables) == {'params', 'batch_stats'}
  _, updated = generator.apply(
      variables, z, train=True, mutable=['batch_stats']
  )
  moved = jax.tree.map(
      lambda a, b: bool(jnp.any(a != b)),
      variables['batch_stats'],
      dict(updated)['batch_stats'],
  )
  assert all(jax.tree.leaves(moved))


@pytest.mark.parametrize('name,shape', [('dcgan', (8, 8, 3)), ('mlp', (2,))])
def test_conditional_models_depend_on_the_label(name, shape):
  config = dict(name=name, width=8, depth=2, g_norm='none', d_norm='none')
  generator, discriminator = build_models(config, shape, num_classes=5)
  z = jnp.repeat(jax.random.normal(RNG, (1, 4)), 5, axis=0)
  labels = jnp.arange(5)
  g_vars = generator.init(RNG, z, labels, train=False)
  images = generator.apply(g_vars, z, labels, train=False)
  chex.assert_shape(images, (5, *shape))
  # One z, five labels: five different samples.
  assert len(np.unique(np.asarray(images).reshape(5, -1), axis=0)) == 5
  d_vars = discriminator.init(RNG, images, labels, train=False)
  same = jnp.repeat(images[:1], 5, axis=0)
  outputs = discriminator.apply(d_vars, same, labels, train=False)
  chex.assert_shape(outputs, (5,))
  assert len(np.unique(np.asarray(outputs))) == 5  # The projection term.
  with pytest.raises(ValueError, match='pass labels'):
    discriminator.apply(d_vars, same, train=False)
