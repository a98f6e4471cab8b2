"""The new objectives, regularisers and augmentations inside the steps:
at their neutral settings they take exactly the plain step; they compose
with packing, conditioning and the parallel routes; their state is
checkpointed and logged; the runner and the sweep train them."""

import json

import chex
import numpy as np
import pytest

from experiments.runner.train import train_and_evaluate
from experiments.sweeps import driver as sweep_driver, spec as sweep_spec
from tests.helpers import assert_same_on_devices, one_step, small_config


def _same_step(ours, theirs, ignore=(), g_rtol=0.0):
  (a, a_metrics), (b, b_metrics) = ours, theirs
  chex.assert_trees_all_equal((a.step, a.d), (b.step, b.d))
  if g_rtol:
    chex.assert_trees_all_close((a.g, a.g_ema), (b.g, b.g_ema), rtol=g_rtol)
  else:
    chex.assert_trees_all_equal((a.g, a.g_ema), (b.g, b.g_ema))
  for metric, value in b_metrics.items():
    if metric not in ignore and not metric.startswith('g_' if g_rtol else '.'):
      assert float(a_metrics[metric]) == float(value), metric


# Each term at weight 0: exactly the plain step (2-D, ~2 s each). Several
# at once are equal to rounding only: their zero gradients are exact, but
# XLA fuses the sums of D's backward pass differently.
@pytest.mark.parametrize(
    'name, neutral',
    [
        pytest.param(
            'bcr',
            dict(objective__bcr_real=0.0, objective__bcr_fake=0.0),
            marks=pytest.mark.slow,
        ),
        ('lecam', dict(objective__lecam_weight=0.0)),
        pytest.param(
            'cr', dict(objective__cr_weight=0.0), marks=pytest.mark.slow
        ),
        pytest.param(
            'zcr',
            dict(objective__zcr_dis=0.0, objective__zcr_gen=0.0),
            marks=pytest.mark.slow,
        ),
        pytest.param(
            'dragan',
            dict(objective__penalty_weight=0.0),
            marks=pytest.mark.slow,
        ),
        pytest.param(
            'r2', dict(objective__penalty_weight=0.0), marks=pytest.mark.slow
        ),
    ],
)
def test_each_regularizer_at_weight_zero_takes_the_plain_step(name, neutral):
  field = 'penalty' if name in ('dragan', 'r2') else 'regularizers'
  ours = one_step(
      small_config(**{f'objective__{field}': name, **neutral}), steps=2
  )
  assert f'd_{name}' in ours[1] or field == 'penalty'
  # zCR's G term runs G twice more: its zero gradient is exact, but XLA
  # fuses G's backward pass differently, so G's update is equal to
  # float32 rounding rather than bit for bit.
  _same_step(
      ours,
      one_step(small_config(), steps=2),
      {'d_penalty'},
      g_rtol=1e-5 if name == 'zcr' else 0.0,
  )


@pytest.mark.slow
def test_regularizers_together_at_weight_zero_are_the_plain_step():
  zero = one_step(
      small_config(
          objective__regularizers='cr+bcr+zcr+lecam',
          objective__cr_weight=0.0,
          objective__bcr_real=0.0,
          objective__bcr_fake=0.0,
          objective__zcr_dis=0.0,
          objective__zcr_gen=0.0,
          objective__lecam_weight=0.0,
      ),
      steps=2,
  )
  plain = one_step(small_config(), steps=2)
  chex.assert_trees_all_close(
      (zero[0].g, zero[0].d), (plain[0].g, plain[0].d), rtol=1e-5, atol=1e-8
  )
  assert float(zero[1]['lecam_real_ema']) != 0.0  # Its state moved.


@pytest.mark.slow
def test_top_k_with_k_the_batch_is_the_plain_step():
  # gamma = 1: k stays the batch; the sort changes only the order of the
  # sum, so equal to rounding.
  topk = one_step(
      small_config(
          objective__regularizers='topk',
          objective__topk_gamma=1.0,
          objective__topk_epoch_steps=1,
      ),
      steps=2,
  )
  plain = one_step(small_config(), steps=2)
  chex.assert_trees_all_close(topk[0].g, plain[0].g, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(topk[1]['g_loss'], plain[1]['g_loss'], rtol=1e-6)


def _digits(**overrides):
  return small_config(
      dataset='digits',
      model__name='dcgan',
      model__latent_dim=8,
      model__width=8,
      model__g_norm='batch',
      model__d_norm='layer',
      **overrides,
  )


@pytest.mark.slow
@pytest.mark.parametrize(
    'neutral',
    [
        dict(
            augment__name='diffaugment',
            augment__color=False,
            augment__translation=False,
            augment__cutout=False,
        ),
        dict(augment__name='ada', augment__adapt=False, augment__p=0.0),
    ],
)
def test_augmentations_at_their_identity_take_the_plain_step(neutral):
  ours = one_step(_digits(**neutral), steps=2)
  _same_step(ours, one_step(_digits(), steps=2), {'ada_p'})


# The claim that matters for reproducibility: the same numbers on 1 and 8
# devices, with batch statistics (RaGAN's means, LeCam's anchors), latent
# perturbations and state (zCR, LeCam) and a global ranking (top-k).
@pytest.mark.parametrize(
    'variant, regularizers, route',
    [
        ('ragan', 'zcr+lecam', 'shard_map'),
        pytest.param(
            'non_saturating',
            'topk+lecam',
            'shard_map',
            marks=pytest.mark.slow,
        ),
        pytest.param('ragan', 'zcr+lecam', 'pmap', marks=pytest.mark.slow),
        pytest.param(
            'non_saturating', 'topk+bcr', 'pmap', marks=pytest.mark.slow
        ),
    ],
)
def test_new_terms_take_the_same_step_on_one_and_eight_devices(
    variant, regularizers, route
):
  config = small_config(
      variant,
      objective__regularizers=regularizers,
      objective__topk_epoch_steps=1,
      objective__topk_gamma=0.8,
      train__batch_size=32,
      optim__g__name='sgd',
      optim__d__name='sgd',
      optim__g__lr=0.05,
      optim__d__lr=0.05,
  )
  assert_same_on_devices(config, route, 8, 3)


@pytest.mark.slow
@pytest.mark.parametrize('augment', ['diffaugment', 'ada'])
def test_augmentations_take_the_same_step_on_one_and_four_devices(augment):
  config = _digits(
      augment__name=augment,
      objective__regularizers='bcr',
      train__batch_size=16,
      optim__g__name='sgd',
      optim__d__name='sgd',
      **(
          {'augment__p': 0.5, 'augment__interval': 1}
          if augment == 'ada'
          else {}
      ),
  )
  assert_same_on_devices(config, 'shard_map', 4, 2, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize('augment', ['diffaugment', 'ada'])
def test_zcr_at_sigma_zero_is_zero_under_an_augmentation(augment):
  """zCR shows D G(z) and G(z + 0) as it showed the fakes: the same
  augmentation draws, the same noise, so exactly 0."""
  _, metrics = one_step(
      _digits(
          augment__name=augment,
          augment__p=0.5,
          objective__regularizers='zcr',
          objective__zcr_sigma=0.0,
      ),
      steps=2,
  )
  assert float(metrics['d_zcr']) == 0.0 and float(metrics['g_zcr']) == 0.0


@pytest.mark.slow
def test_zcr_and_lecam_train_with_an_unrolled_g():
  _, metrics = one_step(
      small_config(
          objective__regularizers='zcr+lecam', objective__unroll_steps=2
      ),
      steps=2,
  )
  assert all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.slow
def test_augmentation_composes_with_packing_and_conditioning():
  for overrides in (dict(model__pack=2), dict(model__conditional=True)):
    state, metrics = one_step(
        _digits(augment__name='diffaugment', **overrides), steps=1
    )
    assert all(np.isfinite(float(v)) for v in metrics.values()), overrides


@pytest.mark.slow
def test_ada_trains_through_the_runner_logs_p_and_resumes_it(tmp_path):
  def config(steps):
    return _digits(
        augment__name='ada',
        augment__interval=1,
        augment__speed_kimg=0.1,  # p moves by 16 / 100 per step.
        train__steps=steps,
        train__log_every=2,
        train__eval_every=2,
        train__checkpoint_every=2,
        # Constant rates: a decaying one would depend on train.steps.
        optim__g__schedule='constant',
        optim__d__schedule='constant',
    )

  def logged(workdir):
    lines = (workdir / 'metrics.jsonl').read_text().splitlines()
    records = [json.loads(line) for line in lines if '"ada_p"' in line]
    return [
        {k: v for k, v in r.items() if k != 'steps_per_second'} for r in records
    ]

  whole, halves = tmp_path / 'whole', tmp_path / 'halves'
  assert train_and_evaluate(config(4), str(whole), False)['status'] == (
      'completed'
  )
  records = logged(whole)
  assert len(records) == 2 and all(0.0 <= r['ada_p'] <= 1.0 for r in records)
  assert records[0]['ada_p'] != records[1]['ada_p']  # It adapted.
  # Stopped after 2 steps and given 2 more: p continues from the
  # checkpoint, the same numbers as the uninterrupted run.
  train_and_evaluate(config(2), str(halves), False)
  train_and_evaluate(config(4), str(halves), False)
  assert logged(halves) == records


@pytest.mark.slow
def test_a_sweep_vmaps_over_the_new_weights(tmp_path):
  spec = sweep_spec.normalize(
      {
          'variants': ['lecam'],
          'dataset': 'digits',
          'seeds': 2,
          'set': {
              'model.width': 8,
              'model.latent_dim': 8,
              'train.batch_size': 16,
              'train.steps': 4,
              'train.log_every': 2,
              'train.eval_every': 4,
              'train.checkpoint_every': 4,
              'eval.num_samples': 200,
              'eval.classifier_steps': 50,
              'augment.name': 'diffaugment',
          },
          'grid': {'objective.lecam_weight': [0.0, 0.3]},
      }
  )
  summaries = sweep_driver.run_sweep(spec, str(tmp_path), progress=False)
  assert [s['status'] for s in summaries] == ['completed'] * 4
  assert 'in 1 vmapped group' in (tmp_path / 'results.md').read_text()
