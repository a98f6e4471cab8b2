"""Numerically hostile inputs: a batch of one, a collapsed generator
(constant images), images far outside [-1, 1], absurd learning rates."""

import math

import jax
import jax.numpy as jnp
import pytest

from experiments.runner.train import train_and_evaluate
from gan_jax import image_evaluation
from gan_jax.data import images
from tests.helpers import small_config


@pytest.mark.parametrize(
    'variant',
    ['non_saturating', pytest.param('wgan_gp', marks=pytest.mark.slow)],
)
def test_a_batch_of_one_trains_to_finite_numbers(variant, tmp_path):
  config = small_config(
      variant, train__batch_size=1, train__steps=4, train__eval_every=4
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'completed'
  assert all(math.isfinite(v) for v in summary['final_eval'].values())


@pytest.mark.slow
def test_a_batch_of_one_with_batch_norm_in_dcgan_trains(digits_dir, tmp_path):
  # Batch norm over one example: zero variance, normalised by epsilon.
  config = small_config(
      'non_saturating',
      dataset='digits',
      model__name='dcgan',
      model__width=8,
      model__g_norm='batch',
      model__d_norm='layer',
      data__dir=digits_dir,
      train__batch_size=1,
      train__steps=4,
      train__eval_every=4,
      eval__num_samples=50,
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'completed'
  assert all(math.isfinite(v) for v in summary['final_eval'].values())


@pytest.fixture(scope='module')
def digits_evaluator(digits_dir):
  extractor = image_evaluation.build_feature_extractor('digits', digits_dir)
  held_out = images.load_split('digits', 'test', digits_dir)[0]
  train = images.load_split('digits', 'train', digits_dir)[0]
  return image_evaluation.ImageEvaluator(
      extractor, held_out, train, num_samples=200, mode_samples=0
  )


@pytest.mark.parametrize('value', [-1.0, 0.0, 1.0, 1e6, -1e30])
def test_constant_or_out_of_range_images_get_finite_metrics(
    digits_evaluator, value
):
  """A collapsed G (every image the same) has singular feature covariance;
  the metrics stay finite and say it is bad."""

  def collapsed(rng, count):
    del rng
    return jnp.full((count, 8, 8, 1), value, jnp.float32)

  results, _ = digits_evaluator.evaluate(collapsed, jax.random.PRNGKey(0))
  assert all(math.isfinite(v) for v in results.values()), results
  real = digits_evaluator.real_vs_real
  assert results['fd'] > 10 * real['fd']
  assert results['modes'] <= 2 and results['coverage'] < 0.05
