"""StyleGAN2: the modulated convolution's demodulation, the equalised
learning rate, the minibatch standard deviation, the path-length
regulariser against finite differences, lazy regularisers on their steps
in one compiled program, truncation, and one-line refusals."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from experiments.runner.config_layers import resolve_config
from gan_jax import config as gan_config, penalties
from gan_jax import state as gan_state, steps
from gan_jax.models import stylegan2


def test_demodulation_gives_unit_output_variance():
  # Unit-variance inputs and kernel, any styles: every output is
  # sum s_i w_ijk x / sqrt(sum (s_i w_ijk)^2), of variance exactly 1 away
  # from the zero-padded border.
  conv = stylegan2.ModulatedConv(32, 3)
  x = jax.random.normal(jax.random.PRNGKey(0), (64, 12, 12, 16))
  w = jax.random.normal(jax.random.PRNGKey(1), (64, 8))
  params = conv.init(jax.random.PRNGKey(2), x, w)
  # Styles far from 1, so modulation matters.
  params = jax.tree.map(lambda p: p * 3.0, params)
  y = conv.apply(params, x, w)
  chex.assert_shape(y, (64, 12, 12, 32))
  inner = np.asarray(y[:, 1:-1, 1:-1])
  assert abs(inner.var() - 1.0) < 0.03, inner.var()
  # Without demodulation the variance follows the styles instead.
  plain = stylegan2.ModulatedConv(32, 3, demodulate=False)
  assert (
      abs(np.asarray(plain.apply(params, x, w))[:, 1:-1, 1:-1].var() - 1.0)
      > 0.5
  )


def test_the_equalised_learning_rate_scales_at_run_time():
  x = jax.random.normal(jax.random.PRNGKey(0), (4096, 64))
  for lr_mul in (1.0, 0.01):
    dense = stylegan2.EqualDense(32, lr_mul=lr_mul, bias_init=0.5)
    params = dense.init(jax.random.PRNGKey(1), x)['params']
    # Stored N(0, 1/lr_mul); used times lr_mul / sqrt(fan_in); bias times
    # lr_mul.
    assert abs(float(np.std(params['kernel'])) * lr_mul - 1.0) < 0.05
    expected = x @ params['kernel'] * lr_mul / 8.0 + params['bias'] * lr_mul
    y = dense.apply({'params': params}, x)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(y).mean(0), 0.5, atol=0.1)
    assert abs(float(np.asarray(y).var()) - 1.0) < 0.1
  conv = stylegan2.EqualConv(8, 3)
  image = jax.random.normal(jax.random.PRNGKey(2), (64, 10, 10, 16))
  out = conv.apply(conv.init(jax.random.PRNGKey(3), image), image)
  assert abs(float(np.asarray(out)[:, 1:-1, 1:-1].var()) - 1.0) < 0.1


def test_minibatch_stddev_against_numpy():
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (8, 3, 3, 5)))
  got = np.asarray(stylegan2.minibatch_stddev(jnp.asarray(x), 4))
  chex.assert_shape(got, (8, 3, 3, 6))
  np.testing.assert_array_equal(got[..., :5], x)
  # Groups: samples b, b + 2, b + 4, b + 6 (group index b mod 2).
  for b in range(8):
    members = x[b % 2 :: 2]
    expected = np.mean(np.sqrt(members.var(axis=0) + 1e-8))
    np.testing.assert_allclose(got[b, :, :, 5], expected, rtol=1e-5)
  with pytest.raises(ValueError, match='batch 6 is not a multiple'):
    stylegan2.minibatch_stddev(jnp.zeros((6, 2, 2, 1)), 4)


def test_path_lengths_equal_a_finite_difference_estimate():
  # A small smooth synthesis: ws [B, L, W] -> images [B, 4, 4, 2].
  k = jax.random.normal(jax.random.PRNGKey(0), (3 * 2, 4 * 4 * 2)) / 3.0

  def synthesis(ws):
    flat = ws.reshape(ws.shape[0], -1)
    return jnp.tanh(flat @ k).reshape(ws.shape[0], 4, 4, 2)

  ws = jax.random.normal(jax.random.PRNGKey(1), (2, 2, 3))
  key = jax.random.PRNGKey(2)
  got = np.asarray(penalties.path_lengths(synthesis, ws, key))
  y = jax.random.normal(key, (2, 4, 4, 2)) / 4.0  # N(0, 1) / sqrt(H W)
  h = 1e-2
  jty = np.zeros(ws.shape)
  for index in np.ndindex(*ws.shape):
    step = jnp.zeros(ws.shape).at[index].set(h)
    diff = (synthesis(ws + step) - synthesis(ws - step)) / (2 * h)
    jty[index] = float(jnp.sum(y[index[0]] * diff[index[0]]))
  expected = np.sqrt(np.mean(np.sum(jty**2, axis=-1), axis=-1))
  np.testing.assert_allclose(got, expected, rtol=2e-3)
  # The penalty: squared distance to the updated running mean.
  penalty, mean = penalties.path_length_penalty(
      synthesis, ws, key, jnp.float32(0.5), 0.01
  )
  new_mean = 0.5 + 0.01 * (expected.mean() - 0.5)
  np.testing.assert_allclose(mean, new_mean, rtol=1e-5)
  np.testing.assert_allclose(
      penalty, np.mean((expected - new_mean) ** 2), rtol=5e-3
  )


def _config(**overrides):
  # Config F's step (style mixing, path lengths) on tiny networks.
  fields = {
      'model.width': 8,
      'model.depth': 2,
      'model.latent_dim': 8,
      'train.batch_size': 8,
      'model.mixing_prob': 0.9,
      'objective.g_penalty': 'path_length',
      **overrides,
  }
  config = resolve_config(default.get_config(), 'stylegan2', fields, 'digits')
  gan_config.validate(config, 1)
  return config


# lax.cond (the standard formulation, slow set), or selected (the CPU's).
@pytest.mark.parametrize(
    'unroll',
    [
        pytest.param(False, marks=pytest.mark.slow),
        pytest.param(True, marks=pytest.mark.slow),
    ],
)
def test_lazy_regularisers_fire_on_their_steps_in_one_program(unroll):
  config = _config(
      **{'objective.penalty_every': 4, 'objective.g_penalty_every': 2}
  )
  spec, hparams, _ = gan_config.build(config)
  state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  batch = jax.random.uniform(
      jax.random.PRNGKey(1), (1, 8, 8, 8, 1), minval=-1, maxval=1
  )
  step = jax.jit(steps.make_steps(spec, unroll=unroll).train_step)
  fired = {'d_penalty': [], 'g_penalty': []}
  pl_means = []
  for i in range(8):
    state, metrics = step(state, batch, jax.random.PRNGKey(i))
    for name in fired:
      if float(metrics[name]) != 0.0:
        fired[name].append(i)
    pl_means.append(float(state.extra['path_length']['pl_mean']))
  assert fired == {'d_penalty': [0, 4], 'g_penalty': [0, 2, 4, 6]}
  # The running mean moves only when the regulariser runs.
  assert [a != b for a, b in zip(pl_means, pl_means[1:])] == [
      False,
      True,
      False,
      True,
      False,
      True,
      False,
  ]
  assert step._cache_size() == 1


@pytest.mark.slow  # StyleGAN2 compiled twice (~12 s).
def test_truncation_pulls_every_z_to_the_mean_style():
  config = _config()
  spec, hparams, _ = gan_config.build(config)
  state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  w_avg = jax.random.normal(jax.random.PRNGKey(3), (8,))
  variables = {
      'params': state.g.params,
      'stylegan': {**state.g.model_state['stylegan'], 'w_avg': w_avg},
  }
  z = jax.random.normal(jax.random.PRNGKey(4), (4, 8))
  g = spec.generator
  at_zero = g.clone(truncation_psi=0.0).apply(variables, z, train=False)
  mean_image = g.apply(
      variables, jnp.broadcast_to(w_avg, (4, g.num_ws(), 8)), method='synthesis'
  )
  np.testing.assert_allclose(at_zero, mean_image, rtol=1e-5, atol=1e-6)
  untruncated = g.clone(truncation_psi=1.0).apply(variables, z, train=False)
  ws = g.apply(variables, z, None, False, method='mapping_ws')
  np.testing.assert_allclose(
      untruncated, g.apply(variables, ws, method='synthesis'), rtol=1e-6
  )
  assert float(jnp.std(untruncated, axis=0).mean()) > 1e-3


@pytest.mark.slow  # ~10 s: two StyleGAN2 inits and applies.
def test_a_squashed_output_is_tanh_of_the_linear_one():
  spec, hparams, _ = gan_config.build(_config())
  state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  variables = {'params': state.g.params, **state.g.model_state}
  z = 3.0 * jax.random.normal(jax.random.PRNGKey(4), (4, 8))
  g = spec.generator
  linear = g.clone(squash_output=False).apply(variables, z, train=False)
  squashed = g.clone(squash_output=True).apply(variables, z, train=False)
  assert float(jnp.abs(linear).max()) > 1.0  # Outside an image's range.
  np.testing.assert_allclose(squashed, jnp.tanh(linear), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    'field, value, message',
    [
        ('model.mixing_prob', 1.5, 'model.mixing_prob=1.5 is not allowed'),
        ('model.truncation_psi', -0.1, 'model.truncation_psi=-0.1 is not'),
        ('objective.penalty_every', 0, 'objective.penalty_every=0 is not'),
        ('objective.g_penalty_every', 0, 'objective.g_penalty_every=0 is not'),
        ('objective.penalty_weight', -1.0, 'objective.penalty_weight=-1.0'),
        ('data.image_size', 6, 'image side 6 cannot be halved'),
    ],
)
def test_bad_stylegan2_settings_are_one_line(field, value, message):
  with pytest.raises(gan_config.ConfigError, match=message) as error:
    _config(**{field: value})
  assert '\n' not in str(error.value)


def test_the_variant_takes_the_published_setting_of_each_resolution():
  def resolved(dataset, **overrides):
    return resolve_config(default.get_config(), 'stylegan2', overrides, dataset)

  def setting(config):
    return (
        config.model.depth,
        config.model.mixing_prob,
        config.objective.g_penalty,
        config.objective.penalty_weight,
        config.optim.g.lr,
        config.optim.d.lr,
    )

  cifar_ada = (2, 0.0, 'none', 0.01, 2.5e-3, 2.5e-3)
  assert setting(resolved('digits')) == cifar_ada  # 8x8
  assert setting(resolved('cifar10')) == cifar_ada  # 32x32
  assert setting(resolved('celeb_a')) == (
      2,
      0.9,
      'path_length',
      0.0128,
      2.5e-3,
      2.5e-3,
  )  # 64x64
  assert setting(resolved('celeb_a', **{'data.image_size': 128})) == (
      8,
      0.9,
      'path_length',
      0.01,
      2e-3,
      2e-3,
  )  # Config F.
  assert setting(resolved('cifar10', **{'data.image_size': 64}))[3] == 0.0128
  # The command line wins over the resolution's setting.
  assert resolved('digits', **{'model.depth': 8}).model.depth == 8
  # Digits are near-binary: tanh (docs/images.md); photographs linear.
  assert resolved('stacked_digits').model.squash_output
  assert not resolved('cifar10').model.squash_output


def test_the_2d_benchmarks_and_other_models_are_refused_with_a_reason():
  with pytest.raises(
      gan_config.ConfigError,
      match="--variant=stylegan2 is not allowed with dataset='grid25': it "
      'trains on images',
  ):
    resolve_config(default.get_config(), 'stylegan2', {}, 'grid25')
  config = resolve_config(
      default.get_config(), None, {'model.name': 'stylegan2'}, 'grid25'
  )
  with pytest.raises(
      gan_config.ConfigError,
      match="model.name='stylegan2' is not allowed with "
      "dataset='grid25': it takes images",
  ):
    gan_config.validate(config, 1)
  config = resolve_config(
      default.get_config(),
      'stylegan2',
      {'model.name': 'dcgan', 'objective.g_penalty': 'path_length'},
      'digits',
  )
  with pytest.raises(
      gan_config.ConfigError,
      match="g_penalty='path_length' is not allowed with model.name='dcgan'",
  ):
    gan_config.validate(config, 1)


@pytest.mark.slow
def test_the_style_mixing_grid_puts_the_sources_on_its_edges():
  from experiments.runner import evaluators

  spec, hparams, _ = gan_config.build(_config())
  state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  rng = jax.random.PRNGKey(5)
  images = evaluators._style_mixing_images(spec, state, rng, 2, 3, None)
  chex.assert_shape(images, (3 + 2 * 4, 8, 8, 1))
  z = jax.random.normal(rng, (5, 8))
  variables = {'params': state.g_ema, **state.g.model_state}
  sources = spec.generator.apply(variables, z, train=False)
  np.testing.assert_allclose(images[:3], sources[2:], rtol=1e-5, atol=1e-6)
  for r in range(2):  # Each row starts with its own source.
    np.testing.assert_allclose(
        images[3 + 4 * r], sources[r], rtol=1e-5, atol=1e-6
    )
  # A mix is neither of its sources.
  assert float(jnp.abs(images[4] - sources[0]).max()) > 1e-4
  assert float(jnp.abs(images[4] - sources[2]).max()) > 1e-4


@pytest.mark.slow  # Three short StyleGAN2 runs through the runner.
def test_a_stylegan2_run_resumes_bit_identical_and_draws_its_grids(
    digits_dir, tmp_path
):
  import json
  from experiments.runner.train import train_and_evaluate

  def run(workdir, steps):
    config = _config(
        **{
            'data.dir': digits_dir,
            'train.steps': steps,
            'train.log_every': 2,
            'train.eval_every': 2,
            'train.checkpoint_every': 2,
            'eval.num_samples': 50,
            'objective.penalty_every': 2,
            'objective.g_penalty_every': 2,
        }
    )
    return train_and_evaluate(config, str(workdir), progress=False)

  straight = run(tmp_path / 'straight', 4)
  run(tmp_path / 'resumed', 2)
  resumed = run(tmp_path / 'resumed', 4)
  assert straight['status'] == resumed['status'] == 'completed'
  assert straight['final_eval'] == resumed['final_eval']
  rows = lambda d: [
      r
      for r in map(json.loads, (d / 'metrics.jsonl').read_text().splitlines())
      if r['split'] == 'train'
  ]
  strip = lambda rs: [
      {k: v for k, v in r.items() if k != 'steps_per_second'} for r in rs
  ]
  assert strip(rows(tmp_path / 'straight')) == strip(rows(tmp_path / 'resumed'))
  assert (tmp_path / 'straight' / 'style_mixing_0000004.png').exists()
  assert (tmp_path / 'straight' / 'samples_0000004.png').exists()


def _upfirdn2d(x, up, down, pad, gain):
  """NumPy upfirdn2d with the [1, 3, 3, 1] filter: zeros after each pixel
  (``up``), zero padding, the 4x4 filter (sum ``gain``), every
  ``down``-th pixel."""
  b, h, w, c = x.shape
  if up == 2:
    z = np.zeros((b, 2 * h, 2 * w, c))
    z[:, ::2, ::2] = x
    x = z
  x = np.pad(x, ((0, 0), pad, pad, (0, 0)))
  f = np.array([1.0, 3.0, 3.0, 1.0])
  k = np.outer(f, f) / 64.0 * gain
  out_h = x.shape[1] - 3
  out = np.zeros((b, out_h, out_h, c))
  for i in range(out_h):
    for j in range(out_h):
      out[:, i, j] = np.einsum('bhwc,hw->bc', x[:, i : i + 4, j : j + 4], k)
  return out[:, ::down, ::down]


def test_the_resampling_filters_equal_upfirdn2d():
  x = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (2, 6, 6, 3)))
  np.testing.assert_allclose(
      stylegan2.upsample_2x(jnp.asarray(x)),
      _upfirdn2d(x, 2, 1, (2, 1), 4.0),
      atol=1e-5,
  )
  np.testing.assert_allclose(
      stylegan2.downsample_2x(jnp.asarray(x)),
      _upfirdn2d(x, 1, 2, (1, 1), 1.0),
      atol=1e-5,
  )
  np.testing.assert_allclose(
      stylegan2.blur_before_strided_conv(jnp.asarray(x)),
      _upfirdn2d(x, 1, 1, (2, 2), 1.0),
      atol=1e-5,
  )
  # Inside the image, 2x upsampling is bilinear: a constant stays constant.
  ones = stylegan2.upsample_2x(jnp.ones((1, 4, 4, 1)))
  np.testing.assert_allclose(ones[0, 1:-1, 1:-1, 0], 1.0, rtol=1e-6)


@pytest.mark.slow  # StyleGAN2 compilations on 8 fake devices.
@pytest.mark.parametrize(
    'route, conditional',
    [
        ('jit', False),
        ('shard_map', False),
        ('pmap', False),
        ('shard_map', True),
    ],
)
def test_sharded_stylegan2_steps_equal_one_device(
    route, conditional, digits_dir
):
  # Noise, style mixing, the minibatch stddev's groups, the path-length
  # mean and (conditional) its labels are those of the global batch on any
  # device count.
  from gan_jax import parallel
  from tests import test_parallel

  config = _config(
      **{
          'data.dir': digits_dir,
          'train.batch_size': 16,
          'objective.penalty_every': 2,
          'objective.g_penalty_every': 2,
          'model.conditional': conditional,
          **test_parallel._SGD,
      }
  )
  one = test_parallel._train(config, 'jit', 1)
  got = test_parallel._train(config, route, 8)
  assert parallel.axis_name(route) or route == 'jit'
  test_parallel._assert_close(got[0], one[0], rtol=1e-4, atol=1e-5)
  test_parallel._assert_close(got[1], one[1], rtol=2e-3, atol=2e-4)
