"""PacGAN's packing and the Unrolled GAN's look-ahead (gan_jax.steps), and
the MLP options of the published 2-D protocols (gan_jax.models.mlp)."""

import importlib

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as gan_config
from gan_jax import state as gan_state, steps as gan_steps
from gan_jax.models import mlp
from tests.helpers import small_config


def _build(config):
  gan_config.validate(config)
  spec, hparams, dataset = gan_config.build(config)
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  batch = dataset.to_network(
      dataset.sample(
          jax.random.PRNGKey(1),
          (config.objective.n_critic, config.train.batch_size),
      )
  )
  return spec, state, batch


def _softplus(x):
  return np.logaddexp(0.0, x)


def test_pack_concatenates_consecutive_examples():
  x = jnp.arange(16.0).reshape(8, 2)
  np.testing.assert_array_equal(
      gan_steps.pack(x, 4),
      [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15]],
  )
  np.testing.assert_array_equal(gan_steps.pack(x, 1), x)
  # Images: channels of the first example, then the second's.
  images = jnp.arange(4 * 2 * 2 * 3.0).reshape(4, 2, 2, 3)
  packed = gan_steps.pack(images, 2)
  chex.assert_shape(packed, (2, 2, 2, 6))
  np.testing.assert_array_equal(
      packed[1, 0, 1], np.concatenate([images[2, 0, 1], images[3, 0, 1]])
  )


def test_packing_of_one_equals_no_packing():
  _, plain, batch = _build(small_config('wgan_gp'))
  spec, state, _ = _build(small_config('wgan_gp', model__pack=1))
  step = jax.jit(gan_steps.make_steps(spec).train_step)
  reference = jax.jit(
      gan_steps.make_steps(
          gan_config.build(small_config('wgan_gp'))[0]
      ).train_step
  )
  key = jax.random.PRNGKey(2)
  chex.assert_trees_all_equal(
      step(state, batch, key)[0], reference(plain, batch, key)[0]
  )


@pytest.mark.parametrize('variant', ['non_saturating', 'wgan_gp'])
def test_packed_d_step_judges_hand_packed_batches(variant):
  """D's loss of a packed step, from examples concatenated by hand and a
  loss written out here: D's input is 2m wide and sees B / m packs."""
  m = 4
  spec, state, batch = _build(
      small_config(variant, model__pack=m, objective__n_critic=1)
  )
  assert state.d.params['Dense_0']['kernel'].shape[0] == 2 * m
  rng = jax.random.PRNGKey(3)
  _, metrics = jax.jit(gan_steps.make_steps(spec).d_step)(state, batch[0], rng)

  z_rng, eps_rng = jax.random.split(rng)
  z = jax.random.normal(z_rng, (16, spec.latent_dim))
  fake = np.asarray(spec.generator.apply({'params': state.g.params}, z))
  real = np.asarray(batch[0])
  by_hand = lambda x: np.stack(
      [np.concatenate(x[i : i + m]) for i in range(0, len(x), m)]
  )
  critic = lambda x: np.asarray(
      spec.discriminator.apply({'params': state.d.params}, jnp.asarray(x))
  )
  real_out, fake_out = critic(by_hand(real)), critic(by_hand(fake))
  assert real_out.shape == (16 // m,)
  if variant == 'non_saturating':
    expected = np.mean(_softplus(-real_out)) + np.mean(_softplus(fake_out))
  else:
    expected = np.mean(fake_out) - np.mean(real_out)
  np.testing.assert_allclose(metrics['d_loss'], expected, rtol=1e-5)
  if variant == 'wgan_gp':
    # One interpolation weight per pack, the norm over the whole pack.
    eps = np.asarray(jax.random.uniform(eps_rng, (16 // m,)))
    mixed = eps[:, None] * by_hand(real) + (1 - eps[:, None]) * by_hand(fake)
    grads = jax.vmap(
        jax.grad(
            lambda x: spec.discriminator.apply(
                {'params': state.d.params}, x[None]
            )[0]
        )
    )(jnp.asarray(mixed))
    norms = np.linalg.norm(np.asarray(grads), axis=1)
    np.testing.assert_allclose(
        metrics['d_penalty'], np.mean((norms - 1.0) ** 2), rtol=1e-4
    )


def test_packing_a_batch_that_does_not_divide_is_refused():
  with pytest.raises(
      gan_config.ConfigError,
      match=r'train.batch_size=16 .*multiple of model.pack',
  ):
    gan_config.validate(small_config(model__pack=3))
  with pytest.raises(gan_config.ConfigError, match='model.pack=0'):
    gan_config.validate(small_config(model__pack=0))


def _tiny_unrolled(objective='non_saturating', d_lr=0.5, unroll=1):
  """A 2-8-2 generator and 2-8-1 critic with tanh (smooth, for finite
  differences), SGD for both so one update is theta - lr * grad."""
  return small_config(
      'vanilla',
      objective__name=objective,
      model__width=8,
      model__depth=1,
      model__activation='tanh',
      ema__enabled=False,
      objective__unroll_steps=unroll,
      train__batch_size=8,
      optim__d__name='sgd',
      optim__d__lr=d_lr,
      optim__d__schedule='constant',
      optim__g__name='sgd',
      optim__g__lr=1.0,
      optim__g__schedule='constant',
  )


def _g_gradient(config, rng):
  """G's gradient as the step computes it (SGD at rate 1: old - new)."""
  spec, state, batch = _build(config)
  new, _ = jax.jit(gan_steps.make_steps(spec).g_step)(state, batch[0], rng)
  return (
      spec,
      state,
      batch[0],
      jax.tree.map(lambda a, b: a - b, state.g.params, new.g.params),
  )


def test_unrolled_step_with_no_lookahead_is_the_plain_step():
  rng = jax.random.PRNGKey(4)
  *_, plain = _g_gradient(_tiny_unrolled(unroll=0), rng)
  # One look-ahead update at rate 0 leaves D where it was.
  *_, unrolled = _g_gradient(_tiny_unrolled(unroll=1, d_lr=1e-30), rng)
  chex.assert_trees_all_close(unrolled, plain, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    'objective',
    ['non_saturating', pytest.param('minimax', marks=pytest.mark.slow)],
)
def test_unrolled_gradient_matches_finite_differences(objective):
  """G's gradient through one SGD update of D, against central differences
  of the surrogate written out here: f(theta_G) = L_G(theta_D -
  lr * dL_D/dtheta_D(theta_G)); for the zero-sum minimax game L_G is
  -L_D, real-data term included (Metz et al. 2017)."""
  lr = 0.5
  rng = jax.random.PRNGKey(5)
  spec, state, real, grads = _g_gradient(
      _tiny_unrolled(objective, d_lr=lr), rng
  )
  z = np.asarray(jax.random.normal(rng, (8, spec.latent_dim)), np.float64)
  real = np.asarray(real, np.float64)
  d_params = jax.tree.map(lambda p: np.asarray(p, np.float64), state.d.params)
  d = lambda p, x: spec.discriminator.apply({'params': p}, x)

  def d_loss(params, fake):
    return jnp.mean(jax.nn.softplus(-d(params, real))) + jnp.mean(
        jax.nn.softplus(d(params, fake))
    )

  def surrogate(flat):
    fake = spec.generator.apply({'params': unravel(flat)}, z)
    ahead = jax.tree.map(
        lambda p, g: p - lr * g, d_params, jax.grad(d_loss)(d_params, fake)
    )
    if objective == 'minimax':
      return -d_loss(ahead, fake)
    return jnp.mean(jax.nn.softplus(-d(ahead, fake)))

  with jax.enable_x64(True):
    flat, unravel = jax.flatten_util.ravel_pytree(
        jax.tree.map(lambda p: np.asarray(p, np.float64), state.g.params)
    )
    flat64 = np.asarray(flat)
    h = 1e-6
    numeric = np.array(
        [
            (
                surrogate(jnp.asarray(flat64 + h * e))
                - surrogate(jnp.asarray(flat64 - h * e))
            )
            / (2 * h)
            for e in np.eye(flat64.size)
        ]
    )
  analytic = np.asarray(jax.flatten_util.ravel_pytree(grads)[0])
  # Differentiating through the update matters: the plain gradient differs.
  *_, plain = _g_gradient(_tiny_unrolled(objective, unroll=0), rng)
  plain = np.asarray(jax.flatten_util.ravel_pytree(plain)[0])
  assert np.max(np.abs(plain - numeric)) > 20 * np.max(
      np.abs(analytic - numeric)
  )
  np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=2e-5)


def test_unrolled_train_step_traces_once_and_leaves_d_its_own_steps():
  spec, state, batch = _build(
      small_config('vanilla', objective__unroll_steps=3)
  )
  plain_spec, plain_state, _ = _build(small_config('vanilla'))
  step = jax.jit(
      chex.assert_max_traces(gan_steps.make_steps(spec).train_step, n=1)
  )
  key = jax.random.PRNGKey(6)
  new, _ = step(state, batch, key)
  new, metrics = step(new, batch, key)
  assert all(np.isfinite(float(v)) for v in metrics.values())
  # The look-ahead is G's alone: D's update is the plain step's, G's not.
  unrolled, _ = step(state, batch, key)
  plain, _ = jax.jit(gan_steps.make_steps(plain_spec).train_step)(
      plain_state, batch, key
  )
  chex.assert_trees_all_close(unrolled.d.params, plain.d.params, rtol=1e-6)
  # Adam's first step is about lr * sign(gradient): the unrolled gradient
  # moves a few weights differently.
  assert not np.array_equal(
      unrolled.g.params['Dense_0']['kernel'],
      plain.g.params['Dense_0']['kernel'],
  )


def test_mlp_options_build_the_published_networks():
  # PacGAN's critic: 3 maxout layers of 200 units, 5 pieces each, on packs
  # of 2; N(0, 0.02) kernels.
  d = mlp.MLPDiscriminator(
      width=200, depth=3, maxout_pieces=5, weight_init='normal', init_scale=0.02
  )
  params = d.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))['params']
  chex.assert_shape(params['Dense_0']['kernel'], (4, 1000))
  chex.assert_shape(params['Dense_1']['kernel'], (200, 1000))
  chex.assert_shape(params['Dense_3']['kernel'], (200, 1))
  assert abs(float(jnp.std(params['Dense_1']['kernel'])) - 0.02) < 1e-3
  # Maxout: each unit is the largest of its 5 pieces.
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 4))
  _, inner = d.apply(
      {'params': params},
      x,
      capture_intermediates=True,
      mutable=['intermediates'],
  )
  pre = x @ params['Dense_0']['kernel'] + params['Dense_0']['bias']
  hidden = np.max(np.asarray(pre).reshape(3, 200, 5), axis=-1)
  np.testing.assert_allclose(
      inner['intermediates']['Dense_1']['__call__'][0],
      hidden @ params['Dense_1']['kernel'] + params['Dense_1']['bias'],
      rtol=1e-5,
      atol=1e-6,
  )
  # The unrolled reference code's generator: tanh, orthogonal gain 1.4.
  g = mlp.MLPGenerator(
      width=128,
      depth=2,
      activation='tanh',
      weight_init='orthogonal',
      init_scale=1.4,
  )
  kernel = g.init(jax.random.PRNGKey(2), jnp.zeros((1, 256)))['params'][
      'Dense_1'
  ]['kernel']
  np.testing.assert_allclose(kernel.T @ kernel, 1.96 * np.eye(128), atol=1e-4)


def test_mlp_options_are_refused_for_other_families():
  config = small_config(model__d_maxout_pieces=5)
  gan_config.validate(config)
  config.dataset = 'digits'
  config.model.name = 'dcgan'
  with pytest.raises(
      gan_config.ConfigError,
      match=r'model.d_maxout_pieces=5 is not allowed: 0 with '
      r"model.name='dcgan'",
  ):
    gan_config.validate(config)
  with pytest.raises(gan_config.ConfigError, match='model.d_maxout_pieces=1'):
    gan_config.validate(small_config(model__d_maxout_pieces=1))


@pytest.mark.slow  # Each protocol's network built and stepped (~6 s).
@pytest.mark.parametrize('name', ['pacgan', 'unrolled'])
def test_the_protocol_configs_validate_build_and_step(name):
  module = importlib.import_module(f'experiments.configs.protocols.{name}')
  config = module.get_config()
  gan_config.validate(config)
  config.train.batch_size = 8  # One cheap step of the published networks.
  if name == 'pacgan':
    config.update_from_flattened_dict(module.packed(2))
    config.train.batch_size = 8
  spec, state, batch = _build(config)
  assert spec.pack == config.model.pack
  assert spec.unroll_steps == config.objective.unroll_steps
  new, metrics = jax.jit(gan_steps.make_steps(spec).train_step)(
      state, batch, jax.random.PRNGKey(0)
  )
  assert int(new.step) == 1
  assert all(np.isfinite(float(v)) for v in metrics.values())
  assert new.g_ema is None  # The papers evaluate the live generator.


@pytest.mark.parametrize(
    'model', ['dcgan', pytest.param('stylegan2', marks=pytest.mark.slow)]
)
def test_image_critics_take_packs_along_channels(model):
  config = small_config(
      'non_saturating',
      dataset='stacked_digits',
      model__name=model,
      model__pack=2,
      train__batch_size=8,
  )
  if model == 'stylegan2':
    config.update_from_flattened_dict(
        {'model.width': 8, 'model.depth': 1, 'model.latent_dim': 8}
    )
  gan_config.validate(config)
  spec, hparams, _ = gan_config.build(config)
  assert spec.d_input_shape == (8, 8, 6)
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  batch = jax.random.uniform(
      jax.random.PRNGKey(1), (1, 8, 8, 8, 3), minval=-1, maxval=1
  )
  _, metrics = jax.jit(gan_steps.make_steps(spec).train_step)(
      state, batch, jax.random.PRNGKey(2)
  )
  assert all(np.isfinite(float(v)) for v in metrics.values())
