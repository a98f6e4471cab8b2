"""train.formulation: the XLA:CPU formulations (4x4 stride-2 layers with
rewritten gradients, unrolled critic loops) and the standard ones (flax's
layers, lax.scan) give the same params, outputs and train steps; only the
speed differs."""

import chex
import jax
import pytest

from experiments.runner import loop
from gan_jax import config as gan_config, state as gan_state, steps
from tests.helpers import small_config


def _image_config(model: str, formulation: str):
  config = small_config(
      'wgan_gp',
      dataset='digits',
      model__name=model,
      model__width=8,
      model__latent_dim=8,
      model__d_norm='layer' if model == 'dcgan' else 'spectral',
      model__g_norm='batch',
      train__batch_size=4,
      objective__n_critic=2,
      train__formulation=formulation,
  )
  if model != 'dcgan':
    config.data.image_size = 16  # SNGAN's smallest side.
  gan_config.validate(config, 1)
  return config


def _state_and_steps(config, unroll: bool):
  spec, hparams, _ = gan_config.build(config)
  state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  return spec, state, steps.make_steps(spec, unroll=unroll)


# SNGAN's formulations compile for half a minute: slow set.
@pytest.mark.slow  # trains each formulation (~8 s).
@pytest.mark.parametrize(
    'model', ['dcgan', pytest.param('sngan_cnn', marks=pytest.mark.slow)]
)
def test_both_formulations_train_the_same_steps(model):
  # WGAN-GP with two critic steps: the penalty's double backward runs
  # through the rewritten gradients, and the critic loop is unrolled in
  # one formulation and a lax.scan in the other.
  cpu, standard = (_image_config(model, f) for f in ('cpu', 'standard'))
  assert gan_config.formulation(cpu) == 'cpu'
  assert gan_config.formulation(standard, 'cpu') == 'standard'
  spec_a, state_a, steps_a = _state_and_steps(cpu, unroll=True)
  spec_b, state_b, steps_b = _state_and_steps(standard, unroll=False)
  assert type(spec_a.generator.conv_transpose) is not type(
      spec_b.generator.conv_transpose
  )
  chex.assert_trees_all_equal(state_a, state_b)  # Same init, same names.

  side = spec_a.data_shape[0]
  batch = jax.random.uniform(
      jax.random.PRNGKey(1), (2, 4, side, side, 1), minval=-1, maxval=1
  )
  rng = jax.random.PRNGKey(2)
  for _ in range(2):
    state_a, metrics_a = jax.jit(steps_a.train_step)(state_a, batch, rng)
    state_b, metrics_b = jax.jit(steps_b.train_step)(state_b, batch, rng)
  chex.assert_trees_all_close(metrics_a, metrics_b, rtol=1e-4, atol=1e-5)
  chex.assert_trees_all_close(state_a, state_b, rtol=1e-4, atol=1e-5)


def test_the_loop_follows_the_formulation_on_every_backend():
  image = _image_config('dcgan', 'auto')
  assert loop.steps_per_dispatch(image, 'cpu') == 1
  assert loop.steps_per_dispatch(image, 'gpu') == image.train.log_every
  image.train.formulation = 'standard'
  assert loop.steps_per_dispatch(image, 'cpu') == image.train.log_every
  assert not loop.unroll_loops(image)
  image.train.formulation = 'cpu'
  assert loop.steps_per_dispatch(image, 'tpu') == 1
  assert loop.unroll_loops(image)
  toy = small_config('wgan_gp', train__formulation='cpu')
  assert loop.steps_per_dispatch(toy, 'cpu') == toy.train.log_every
  assert not loop.unroll_loops(toy)  # Dense layers only: nothing to tune.
  assert gan_config.formulation(small_config(), 'gpu') == 'standard'
  assert gan_config.formulation(small_config(), 'cpu') == 'cpu'


def test_an_unknown_formulation_is_one_line():
  config = small_config(train__formulation='cuda')
  with pytest.raises(
      gan_config.ConfigError,
      match="train.formulation='cuda' is not allowed: one of "
      'auto, cpu, standard',
  ):
    gan_config.validate(config, 1)
