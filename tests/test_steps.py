"""The step functions: alternation, purity, parallel equivalence."""

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import config as gan_config
from gan_jax import models, optim
from gan_jax import state as gan_state, steps as gan_steps
from tests.helpers import small_config


def _setup(config, axis_name=None):
  spec, hparams, dataset = gan_config.build(config, axis_name=axis_name)
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  batch = dataset.to_network(
      dataset.sample(
          jax.random.PRNGKey(1),
          (config.objective.n_critic, config.train.batch_size),
      )
  )
  return spec, state, batch


def _assert_trees_close(a, b, rtol=1e-4, atol=1e-5):
  jax.tree.map(
      lambda x, y: np.testing.assert_allclose(
          np.asarray(x), np.asarray(y), rtol=rtol, atol=atol
      ),
      a,
      b,
  )


@pytest.mark.parametrize(
    'variant,overrides',
    [
        ('non_saturating', dict(model__g_norm='batch', model__d_norm='layer')),
        ('wgan_gp', {}),
    ],
)
def test_a_compiled_initialisation_is_the_eager_one(variant, overrides):
  # experiments.run and batched.init_group initialise through one jitted
  # program instead of op by op: it must not change a single bit.
  spec, hparams, _ = gan_config.build(small_config(variant, **overrides))
  key = jax.random.PRNGKey(7)
  compiled = gan_state.compiled_init(spec)(key, hparams)
  chex.assert_trees_all_equal(
      compiled, gan_state.init_state(spec, key, hparams), strict=True
  )


def test_train_step_is_traced_once():
  spec, state, batch = _setup(small_config('wgan_gp'))
  steps = gan_steps.make_steps(spec)

  @jax.jit
  @chex.assert_max_traces(n=1)
  def step(state, batch, rng):
    return steps.train_step(state, batch, rng)

  rng = jax.random.PRNGKey(2)
  for _ in range(3):
    state, metrics = step(state, batch, rng)
  chex.assert_shape(list(metrics.values()), ())
  assert int(state.step) == 3


@pytest.mark.parametrize('variant', ['non_saturating', 'wgan_gp'])
def test_d_and_g_updates_alternate(variant):
  config = small_config(variant)
  spec, state, batch = _setup(config)
  steps = gan_steps.make_steps(spec)
  new, metrics = jax.jit(steps.train_step)(state, batch, jax.random.PRNGKey(3))
  n_critic = config.objective.n_critic
  # Optimizer step counters: D updated n_critic times, G once.
  assert int(optim.update_count_of(new.d.opt_state)) == n_critic
  assert int(optim.update_count_of(new.g.opt_state)) == 1
  assert set(metrics) >= {
      'd_loss',
      'g_loss',
      'd_real',
      'd_fake',
      'd_grad_norm',
      'g_grad_norm',
      'd_penalty',
      'g_fake',
  }
  # d_step leaves G's params alone; g_step leaves D's alone.
  after_d, _ = jax.jit(steps.d_step)(state, batch[0], jax.random.PRNGKey(4))
  chex.assert_trees_all_equal(after_d.g.params, state.g.params)
  after_g, _ = jax.jit(steps.g_step)(state, batch[0], jax.random.PRNGKey(5))
  chex.assert_trees_all_equal(after_g.d.params, state.d.params)
  with pytest.raises(AssertionError):
    chex.assert_trees_all_equal(after_d.d.params, state.d.params)


def test_g_step_goes_through_the_updated_discriminator():
  """train_step's G gradient equals g_step's on the D that d_step made."""
  spec, state, batch = _setup(small_config('non_saturating'))
  steps = gan_steps.make_steps(spec)
  rng = jax.random.PRNGKey(6)
  full, _ = jax.jit(steps.train_step)(state, batch, rng)
  d_rng, g_rng = jax.random.split(jax.random.fold_in(rng, state.step))
  manual, _ = jax.jit(steps.d_step)(
      state, batch[0], jax.random.fold_in(d_rng, 0)
  )
  manual, _ = jax.jit(steps.g_step)(manual, batch[0], g_rng)
  _assert_trees_close(full.g.params, manual.g.params, rtol=1e-6, atol=1e-7)


def test_weight_clipping_bounds_discriminator():
  spec, state, batch = _setup(small_config('wgan_clip'))
  new, _ = jax.jit(gan_steps.make_steps(spec).train_step)(
      state, batch, jax.random.PRNGKey(0)
  )
  assert (
      max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(new.d.params))
      <= 0.01 + 1e-7
  )


def test_ema_tracks_generator():
  config = small_config('non_saturating', ema__enabled=True, ema__decay=0.5)
  spec, state, batch = _setup(config)
  new, _ = jax.jit(gan_steps.make_steps(spec).train_step)(
      state, batch, jax.random.PRNGKey(0)
  )
  expected = jax.tree.map(
      lambda old, g: 0.5 * old + 0.5 * g, state.g_ema, new.g.params
  )
  _assert_trees_close(new.g_ema, expected, rtol=1e-6, atol=1e-7)


def test_same_seed_same_parameters():
  config = small_config('wgan_gp')
  results = []
  for _ in range(2):
    spec, state, _ = _setup(config)
    steps = gan_steps.make_steps(spec)
    sample = lambda key, data, i: jax.random.normal(key, (5, 16, 2))
    loop = jax.jit(
        functools.partial(steps.train_loop, sample_batch=sample, num_steps=3)
    )
    results.append(loop(state, jax.random.PRNGKey(9), None)[0])
  chex.assert_trees_all_equal(results[0], results[1])


def test_conditional_steps_use_the_real_batch_labels():
  """A conditional GAN's batch is (x, labels): fakes and the penalty's
  interpolates get the real batch's labels, and changing them changes the
  update."""
  config = small_config('wgan_gp')
  spec, hparams, _ = gan_config.build(config)
  generator, discriminator = models.build_models(
      config.model, (2,), num_classes=3
  )
  spec = dataclasses.replace(
      spec, generator=generator, discriminator=discriminator, num_classes=3
  )
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  steps = gan_steps.make_steps(spec)
  x = jax.random.normal(jax.random.PRNGKey(1), (5, 16, 2))
  step = jax.jit(steps.train_step)
  rng = jax.random.PRNGKey(2)
  new, metrics = step(state, (x, jnp.zeros((5, 16), jnp.int32)), rng)
  other, _ = step(state, (x, jnp.ones((5, 16), jnp.int32)), rng)
  assert int(new.step) == 1 and np.isfinite(float(metrics['d_penalty']))
  assert not np.allclose(
      new.g.params['Dense_0']['kernel'], other.g.params['Dense_0']['kernel']
  )


def test_unrolled_steps_compute_the_same_and_have_no_loop():
  """unroll=True (convolutional models on CPU) writes the n_critic D steps
  and a one-step train_loop out without an XLA loop; same numbers."""
  config = small_config('wgan_gp')
  spec, state, batch = _setup(config)
  sample = lambda key, data, i: batch
  results, rolled_loops = [], None
  for unroll in (False, True):
    steps = gan_steps.make_steps(spec, unroll=unroll)
    loop = jax.jit(
        functools.partial(steps.train_loop, sample_batch=sample, num_steps=1)
    )
    rng = jax.random.PRNGKey(4)
    results.append(loop(state, rng, None))
    # Only threefry's own loops (random bits) stay.
    text = loop.lower(state, rng, None).as_text()
    loops = text.count('stablehlo.while')
    if unroll:
      assert loops < rolled_loops
    rolled_loops = loops
  _assert_trees_close(results[0], results[1], rtol=1e-6, atol=1e-7)
  chex.assert_shape(list(results[1][1].values()), (1,))
