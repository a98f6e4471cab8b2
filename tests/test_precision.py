"""train.compute_dtype: products in bfloat16, the state in float32; a
bfloat16 step against the float32 one, and the gradient penalty's double
backward in bfloat16 against float32."""

import functools

import chex
import jax
import jax.numpy as jnp
import optax
import pytest

from gan_jax import config as gan_config, penalties, precision
from gan_jax import state as gan_state, steps
from tests.helpers import small_config


def _config(dtype: str, **overrides):
  # SGD: an update is the gradient times the rate, so the updates compare
  # the gradients (Adam's first update is +-lr whatever the gradient).
  config = small_config(
      'wgan_gp',
      dataset='digits',
      model__name='dcgan',
      model__width=16,
      model__latent_dim=16,
      model__d_norm='layer',
      model__g_norm='batch',
      train__batch_size=32,
      objective__n_critic=1,
      train__compute_dtype=dtype,
      optim__g__name='sgd',
      optim__d__name='sgd',
      optim__g__lr=1e-2,
      optim__d__lr=1e-2,
      **overrides,
  )
  gan_config.validate(config, 1)
  return config


def _relative(a, b) -> float:
  return float(
      optax.tree.norm(jax.tree.map(jnp.subtract, a, b)) / optax.tree.norm(b)
  )


@pytest.mark.slow
def test_a_bfloat16_dcgan_step_matches_float32():
  batch = jax.random.uniform(
      jax.random.PRNGKey(1), (1, 32, 8, 8, 1), minval=-1, maxval=1
  )
  results = {}
  for dtype in ('float32', 'bfloat16'):
    spec, hparams, _ = gan_config.build(_config(dtype))
    assert spec.compute_dtype == dtype
    state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
    new, metrics = jax.jit(steps.make_steps(spec).train_step)(
        state, batch, jax.random.PRNGKey(2)
    )
    results[dtype] = state, new, metrics
  start, exact, metrics = results['float32']
  _, half, half_metrics = results['bfloat16']
  # The state stays float32: params, optimizer state, EMA, batch stats.
  chex.assert_trees_all_equal_dtypes(half, exact)
  chex.assert_trees_all_close(half_metrics, metrics, rtol=2e-2, atol=1e-3)
  for side in ('g', 'd'):
    update = functools.partial(
        lambda name, s: jax.tree.map(
            jnp.subtract, getattr(s, name).params, getattr(start, name).params
        ),
        side,
    )
    # Measured 1.1% (G) and 1.9% (D) on 2026-11-29: bfloat16's 8-bit
    # significand, ~0.4% per rounding.
    assert _relative(update(half), update(exact)) < 0.05, side


def test_the_gradient_penalty_double_backward_in_bfloat16():
  """The penalty and its gradient with respect to D's params, bfloat16
  products against float32 ones on one fixed batch (the figures in
  docs/performance.md)."""
  spec, hparams, _ = gan_config.build(_config('float32'))
  state = gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)
  keys = jax.random.split(jax.random.PRNGKey(3), 3)
  real = jax.random.uniform(keys[0], (32, 8, 8, 1), minval=-1, maxval=1)
  fake = jax.random.uniform(keys[1], (32, 8, 8, 1), minval=-1, maxval=1)
  eps = jax.random.uniform(keys[2], (32,))

  def penalty(params, dtype):
    critic = lambda x: steps.apply_model(
        spec.discriminator, state.d, params, x, compute_dtype=dtype
    )[0]
    return penalties.gradient_penalty(critic, real, fake, eps, 1.0, False)

  value_and_grad = jax.jit(jax.value_and_grad(penalty), static_argnums=1)
  exact, exact_grad = value_and_grad(state.d.params, 'float32')
  half, half_grad = value_and_grad(state.d.params, 'bfloat16')
  assert half.dtype == jnp.float32
  assert abs(float(half) / float(exact) - 1) < 0.03
  assert _relative(half_grad, exact_grad) < 0.05


def test_casts_touch_floats_only_and_come_back_float32():
  params = {'w': jnp.ones((2, 2)), 'count': jnp.array(3, jnp.int32)}
  cast, x = precision.to_compute(params, jnp.ones((1, 2)), 'bfloat16')
  assert cast['w'].dtype == jnp.bfloat16 and x.dtype == jnp.bfloat16
  assert cast['count'].dtype == jnp.int32
  assert precision.to_compute(params, x, 'float32')[0] is params
  back = precision.to_float32(cast)
  assert back['w'].dtype == jnp.float32 and back['count'].dtype == jnp.int32
  # The cast's derivative brings a bfloat16 product's gradient back to
  # float32 params.
  grad = jax.grad(
      lambda w: jnp.sum(precision.to_compute(w, None, 'bfloat16')[0] ** 2)
  )(jnp.ones(3))
  assert grad.dtype == jnp.float32


@pytest.mark.parametrize(
    'dtype, message',
    [
        ('float16', 'float16 needs loss scaling'),
        ('float64', 'one of float32, bfloat16'),
    ],
)
def test_unsupported_compute_dtypes_are_one_line(dtype, message):
  with pytest.raises(
      gan_config.ConfigError,
      match=f"train.compute_dtype='{dtype}' is not allowed: .*{message}",
  ) as error:
    gan_config.validate(small_config(train__compute_dtype=dtype), 1)
  assert '\n' not in str(error.value)


@pytest.mark.slow  # A full grid25 run, bfloat16 emulated on the CPU: ~40 s.
def test_a_bfloat16_wgan_gp_run_finds_every_grid25_mode(tmp_path):
  import json
  import subprocess
  import sys

  root = __file__.rsplit('/tests/', 1)[0]
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          '--variant=wgan_gp',
          f'--workdir={tmp_path / "run"}',
          '--config.train.compute_dtype=bfloat16',
          '--progress=false',
      ],
      cwd=root,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'float32 products' not in done.stdout + done.stderr
  assert 'bfloat16 products' in done.stdout + done.stderr
  summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
  assert summary['compute_dtype'] == 'bfloat16'
  # 91.4% high quality on 2026-11-29 (float32: 92.1%).
  assert summary['final_eval']['modes'] == 25
  assert summary['final_eval']['high_quality_pct'] > 80
