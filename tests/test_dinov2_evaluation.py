"""FD-DINOv2 in the runner and in experiments.evaluate: eval.features=
'dinov2' and --features=dinov2, with random ViT-S/14 weights written in
the DINOv2 release's layout (.npz: no PyTorch needed); weights found
nowhere fall back to the classifier in one line."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments.runner import evaluate_run, evaluators, validation
from gan_jax.config import ConfigError
from gan_jax.metrics import dinov2, dinov2_weights, inception_weights
from tests.helpers import SMALL_RUN_FLAGS, small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_config_fields_are_checked():
  config = small_config(dataset='digits', eval__features='dinov2')
  validation.validate(config, 1)
  config.eval.dinov2.model = 'vitx14'
  with pytest.raises(ConfigError, match='eval.dinov2.model'):
    validation.validate(config, 1)
  config = small_config(dataset='digits', eval__features='dinov2')
  config.eval.dinov2.resize = 'nearest'
  with pytest.raises(ConfigError, match='eval.dinov2.resize'):
    validation.validate(config, 1)


def test_named_weights_that_are_missing_are_a_config_error(tmp_path):
  config = small_config(dataset='digits', eval__features='dinov2')
  config.eval.dinov2.weights = str(tmp_path / 'nothing.pth')
  with pytest.raises(ConfigError, match='eval.dinov2.weights: no DINOv2'):
    evaluators.image_metrics(config, str(tmp_path), 'cpu')


def _random_vits14(path) -> str:
  rng = np.random.default_rng(0)
  shapes = dinov2.abstract_variables('vits14')
  state = dinov2.state_dict_from_variables(
      jax.tree.map(
          lambda s: (rng.normal(size=s.shape) * 0.02).astype(np.float32),
          shapes,
      )
  )
  np.savez(path, **state)
  return str(path)


@pytest.mark.slow  # A 4-step digits run, then ViT-S/14 on 2x8 images.
def test_a_run_is_evaluated_in_dinov2_features(digits_dir, tmp_path):
  env = {
      k: v
      for k, v in os.environ.items()
      if k not in (dinov2_weights.ENV_PATH, inception_weights.ENV_PATH)
  }
  env.update(
      GAN_JAX_CACHE=str(tmp_path / 'empty_cache'),
      **{dinov2_weights.ENV_URL: (tmp_path / 'gone').as_uri()},
  )
  workdir = tmp_path / 'run'
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          '--variant=non_saturating',
          '--dataset=digits',
          f'--data_dir={digits_dir}',
          f'--workdir={workdir}',
          '--config.eval.features=dinov2',
          '--config.model.width=8',
          '--config.model.latent_dim=8',
          *SMALL_RUN_FLAGS[2:],
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=env,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  notes = [n for n in done.stderr.splitlines() if n.startswith('note: ')]
  assert len(notes) == 1 and 'no DINOv2 weights: put' in notes[0], notes
  assert 'dinov2_vits14_pretrain.pth' in notes[0]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['eval_protocol']['feature_extractor'].startswith('digits')

  refused = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.evaluate',
          f'--workdir={workdir}',
          '--features=dinov2',
          '--dinov2_model=vitl14',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=env,
  )
  assert refused.returncode != 0
  (line,) = refused.stderr.strip().splitlines()[-1:]
  assert line.startswith('error: no DINOv2 weights: put dinov2_vitl14_'), line
  assert line.endswith('--features=classifier'), line

  weights = _random_vits14(tmp_path / 'random_vits14.npz')
  report = evaluate_run.evaluate_workdir(
      str(workdir),
      'dinov2',
      num_samples=8,
      batch_size=8,
      dinov2_weights_path=weights,
  )
  assert set(report['results']) == {'ema', 'live'}
  for values in report['results'].values():
    assert set(values) == {
        'fd_dinov2',
        'kid',
        'precision',
        'recall',
        'density',
        'coverage',
    }
    assert all(np.isfinite(v) for v in values.values()), values
    assert values['fd_dinov2'] > 0
  protocol = report['protocol']
  assert protocol['model'] == 'vits14'
  assert protocol['resize_mode'] == 'pil_bicubic'
  assert protocol['weights_sha256'] == inception_weights.sha256(weights)
  assert (workdir / 'evaluation_dinov2.json').is_file()
  assert 'fd_dinov2' in evaluate_run.table(report)
