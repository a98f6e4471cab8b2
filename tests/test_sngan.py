"""The SNGAN networks (Miyato et al. 2018, Appendix B): the layer sizes of
the paper's tables, spectral normalisation of every D weight, and a train
step through the library's steps."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as gan_config, state as gan_state
from gan_jax import steps as gan_steps
from gan_jax.models import build_models, sngan
from tests.helpers import small_config

RNG = jax.random.PRNGKey(0)
NAMES = ('sngan_cnn', 'sngan_resnet')


def _pair(name, shape=(32, 32, 3), width=64, num_classes=0):
  return build_models(
      dict(name=name, width=width, depth=1, g_norm='batch', d_norm='spectral'),
      shape,
      num_classes=num_classes,
  )


def _kernels(params):
  """{path: kernel shape} of every convolution and dense layer."""
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  return {
      '/'.join(p.key for p in path[:-1]): leaf.shape
      for path, leaf in flat
      if path[-1].key == 'kernel'
  }


@pytest.mark.slow
def test_the_standard_cnn_has_the_papers_layers():
  generator, discriminator = _pair('sngan_cnn')
  z = jnp.zeros((2, 128))
  g = _kernels(generator.init(RNG, z, train=False)['params'])
  # Table 3: z -> 4x4x512, deconvs to 256, 128, 64, a 3x3 conv to RGB.
  assert g['Dense_0'] == (128, 4 * 4 * 512)
  assert [g[f'ConvTranspose_{i}'] for i in range(3)] == [
      (4, 4, 512, 256),
      (4, 4, 256, 128),
      (4, 4, 128, 64),
  ]
  assert g['to_rgb'] == (3, 3, 64, 3)
  d = _kernels(
      discriminator.init(RNG, jnp.zeros((2, 32, 32, 3)), train=False)['params']
  )
  # 3x3 and 4x4 stride-2 convolutions: 64, 64, 128, 128, 256, 256, 512.
  convs = [
      d[f'{kind}_{i}'] for i in range(3) for kind in ('Conv3x3', 'Conv4x4')
  ] + [d['Conv3x3_3']]
  assert [c[-1] for c in convs] == [64, 64, 128, 128, 256, 256, 512]
  assert [c[:2] for c in convs] == [(3, 3), (4, 4)] * 3 + [(3, 3)]
  assert d['Dense_0'] == (4 * 4 * 512, 1)


@pytest.mark.slow
def test_the_resnet_has_the_papers_blocks():
  generator, discriminator = _pair('sngan_resnet')
  g = _kernels(generator.init(RNG, jnp.zeros((2, 128)), train=False)['params'])
  assert g['Dense_0'] == (128, 4 * 4 * 256)
  for block in range(3):  # Three up-sampling blocks of 256 channels.
    assert g[f'block{block}/Conv_0'] == (3, 3, 256, 256)
    assert g[f'block{block}/shortcut'] == (1, 1, 256, 256)
  d = _kernels(
      discriminator.init(RNG, jnp.zeros((2, 32, 32, 3)), train=False)['params']
  )
  assert d['block0/Conv_0'] == (3, 3, 3, 128)  # The optimised block.
  assert d['block0/shortcut'] == (1, 1, 3, 128)
  assert 'block1/shortcut' in d  # Down-sampling: a 1x1 shortcut.
  assert 'block2/shortcut' not in d and 'block3/shortcut' not in d
  assert d['Dense_0'] == (128, 1)  # After the sum over positions.


# SNGAN's networks compile for seconds each: the slow set builds and steps
# them (they are for CIFAR-10 on an accelerator).
@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize(
    'shape',
    [
        pytest.param((32, 32, 3), marks=pytest.mark.slow),
        (16, 16, 1),
        pytest.param((48, 48, 3), marks=pytest.mark.slow),
    ],
)
def test_shapes_and_range(name, shape):
  generator, discriminator = _pair(name, shape, width=8)
  z = jax.random.normal(RNG, (3, 16))
  g_vars = generator.init(RNG, z, train=False)
  images = generator.apply(g_vars, z, train=False)
  chex.assert_shape(images, (3, *shape))
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  d_vars = discriminator.init(RNG, images, train=False)
  chex.assert_shape(discriminator.apply(d_vars, images, train=False), (3,))


@pytest.mark.slow  # ~15 s for both networks' power iterations.
@pytest.mark.parametrize('name', NAMES)
def test_every_d_weight_is_divided_by_its_largest_singular_value(name):
  _, discriminator = _pair(name, (16, 16, 3), width=8)
  images = 3.0 * jax.random.normal(RNG, (2, 16, 16, 3))
  variables = discriminator.init(RNG, images, train=False)

  @jax.jit
  def iterate(stats):  # One power iteration per layer per call.
    _, updated = discriminator.apply(
        {**variables, 'batch_stats': stats},
        images,
        train=True,
        mutable=['batch_stats'],
    )
    return updated['batch_stats']

  stats = variables['batch_stats']
  for _ in range(300):  # Small layers' top singular values lie close.
    stats = iterate(stats)
  sigmas = {}
  for path, value in jax.tree_util.tree_flatten_with_path(stats)[0]:
    keys = [p.key for p in path]
    if keys[-1].endswith('/sigma'):
      # [..., 'SpectralNorm_i', '<layer>/kernel/sigma'] -> the layer.
      sigmas['/'.join(keys[:-2] + [keys[-1].split('/')[0]])] = float(value)
  kernels = _kernels(variables['params'])
  assert set(sigmas) == set(kernels)  # Every weight, shortcuts included.
  flat = {
      '/'.join(p.key for p in path[:-1]): leaf
      for path, leaf in jax.tree_util.tree_flatten_with_path(
          variables['params']
      )[0]
      if path[-1].key == 'kernel'
  }
  for layer, sigma in sigmas.items():
    matrix = np.asarray(flat[layer]).reshape(-1, flat[layer].shape[-1])
    np.testing.assert_allclose(
        sigma,
        np.linalg.svd(matrix, compute_uv=False)[0],
        rtol=2e-3,
        err_msg=layer,
    )


@pytest.mark.slow
@pytest.mark.parametrize('name', ['sngan_resnet', 'sngan_cnn'])
def test_a_hinge_step_trains_and_updates_the_power_iteration(name):
  config = small_config(
      'hinge',
      dataset='digits',
      model__name=name,
      model__width=4,
      model__latent_dim=8,
      model__d_norm='spectral',
      model__g_norm='batch',
      data__image_size=16,
  )
  gan_config.validate(config)
  spec, hparams, _ = gan_config.build(config)
  state = gan_state.init_state(spec, RNG, hparams)
  # [n_critic, batch, height, width, channels]
  batch = jax.random.uniform(RNG, (1, 16, 16, 16, 1), minval=-1, maxval=1)
  steps = gan_steps.make_steps(spec, unroll=True)
  new, metrics = jax.jit(steps.train_step)(state, batch, RNG)
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  moved = jax.tree.map(
      lambda a, b: bool(jnp.any(a != b)), state.d.model_state, new.d.model_state
  )
  assert any(jax.tree.leaves(moved))  # The D step's power iteration.


@pytest.mark.parametrize(
    'overrides,message',
    [
        (
            dict(dataset='digits'),
            'image side must be a multiple of 8 and at least 16',
        ),
        (dict(dataset='digits', data__image_size=20), 'multiple of 8'),
        (
            dict(dataset='digits', data__image_size=16, model__d_norm='layer'),
            "model.d_norm='layer'",
        ),
        (dict(dataset='grid25'), "it takes images; use 'mlp' for 2-D data"),
    ],
)
def test_bad_settings_are_one_line(overrides, message):
  config = small_config('hinge', model__name='sngan_resnet', **overrides)
  with pytest.raises(
      gan_config.ConfigError,
      match=message.replace('(', r'\(').replace(')', r'\)'),
  ):
    gan_config.validate(config)


def test_check_image_shape_says_why():
  assert sngan.check_image_shape((32, 32, 3)) is None
  assert 'square' in sngan.check_image_shape((32, 16, 3))


def test_the_cifar10_loss_sweep_file_validates_and_builds():
  from experiments.sweep import _load_file
  from experiments.sweeps import spec as sweep_spec

  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  spec = sweep_spec.normalize(
      _load_file(
          os.path.join(
              root, 'experiments/configs/sweeps/sngan_cifar10_losses.py'
          )
      )
  )
  runs = sweep_spec.expand(spec)  # Every run's config validated.
  assert len(runs) == 12 and {r.config.model.name for r in runs} == {
      'sngan_resnet'
  }
  assert {r.config.model.d_norm for r in runs} == {'spectral'}
  # One group per objective (their seeds vmapped together).
  assert len(sweep_spec.groups(runs, 0)) == 4
