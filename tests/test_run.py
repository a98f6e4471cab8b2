"""The runner end to end: smoke runs, resume, and bad input."""

import dataclasses
import functools
import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from experiments.storage import checkpoints, writers
from experiments.runner.train import train_and_evaluate
from gan_jax import config as gan_config
from gan_jax import state as gan_state
from gan_jax.variants import SEED_VARIANTS
from tests.helpers import SMALL_RUN_FLAGS, small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL_FLAGS = ['--config=experiments/configs/default.py', *SMALL_RUN_FLAGS]


def _run(*args, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.run', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


# The README's variant in the default suite, the other three in the slow set.
@pytest.mark.parametrize(
    'variant',
    [
        v if v == 'wgan_gp' else pytest.param(v, marks=pytest.mark.slow)
        for v in SEED_VARIANTS
    ],
)
def test_seed_variant_smoke_run_through_main(variant, tmp_path):
  workdir = tmp_path / variant
  result = _run(f'--variant={variant}', f'--workdir={workdir}', *SMALL_FLAGS)
  assert result.returncode == 0, result.stderr[-2000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['status'] == 'completed' and summary['step'] == 4
  assert summary['variant'] == variant
  assert summary['eval_protocol']['num_samples'] == 100
  assert 0 <= summary['final_eval']['modes'] <= 25
  records = writers.read_metrics(str(workdir))
  assert [r['step'] for r in records if r['split'] == 'train'] == [2, 4]
  assert any(r['split'] == 'eval' for r in records)
  assert (workdir / 'samples_0000004.png').stat().st_size > 1000
  assert any(
      name.startswith('events.out.tfevents')
      for name in os.listdir(workdir / 'tensorboard')
  )
  assert (workdir / 'checkpoints' / '4').is_dir()
  assert 'modes' in result.stdout  # The one-screen summary.


def _final_state(config, workdir):
  spec, hparams, _ = gan_config.build(config)
  like = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    return ckpt.restore(like)
  finally:
    ckpt.close()


def test_steps_per_dispatch_does_not_change_results(tmp_path):
  one = small_config('non_saturating', train__steps_per_dispatch=1)
  scan = small_config('non_saturating', train__steps_per_dispatch=2)
  train_and_evaluate(one, str(tmp_path / 'one'), progress=False)
  train_and_evaluate(scan, str(tmp_path / 'scan'), progress=False)
  _assert_trees_close = functools.partial(
      chex.assert_trees_all_close, rtol=1e-5, atol=1e-6
  )
  _assert_trees_close(
      _final_state(one, tmp_path / 'one'), _final_state(scan, tmp_path / 'scan')
  )


BAD_INPUTS = [
    (['--variant=wgan'], 'unknown variant'),
    (
        ['--variant=wgan-gp'],
        "unknown variant 'wgan-gp' (did you mean "
        'wgan_gp?); valid: vanilla, non_saturating, wgan_gp',
    ),
    (
        ['--variant=WGAN_GP'],
        "unknown variant 'WGAN_GP' (did you mean wgan_gp?)",
    ),
    (['--dataset=mnist9'], 'dataset='),
    (
        ['--config.train.stepz=5'],
        "unknown config field 'train.stepz' (did you mean 'train.steps'?)",
    ),
    (['--config.optim.d.lr=-0.1'], 'optim.d.lr=-0.1'),
    (['--config.optim.g.lr=0'], 'optim.g.lr=0'),
    (['--config.objective.n_critic=0'], 'objective.n_critic=0'),
    (['--config.train.batch_size=10'], 'device count (8)'),
    (
        ['--variant=wgan_gp', '--config.model.d_norm=batch'],
        "d_norm='batch' is not allowed",
    ),
    (['--config.train.steps=abc'], 'train.steps'),
    (['--config.train.num_devices=9'], 'train.num_devices=9'),
    (['--config.train.parallel=pjit'], "train.parallel='pjit' is not allowed"),
    (
        ['--config.train.compute_dtype=float16'],
        "train.compute_dtype='float16' is not allowed: float16 needs loss "
        'scaling',
    ),
    (
        ['--config.train.formulation=cudnn'],
        "train.formulation='cudnn' is not allowed: one of auto, cpu, standard",
    ),
    (
        ['--config.eval.features=inception'],
        "eval.features='inception' is not allowed with dataset='grid25'",
    ),
    (
        # A fork's algorithm without the file that registers it.
        ['--config.train.algorithm=simultaneous'],
        "train.algorithm='simultaneous' is not allowed: one of alternating; "
        'a plug-in registered in a file needs that file as --config',
    ),
    (
        ['--variant=stylegan2'],
        "--variant=stylegan2 is not allowed with dataset='grid25': it "
        'trains on images',
    ),
    (['--config=experiments/configs/missing.py'], 'cannot load it'),
    (['--config=tests/helpers.py'], 'it has no get_config()'),
    (['--config.model.conditional=true'], 'it has no labels'),
    (['--config.model.name=dcgan'], "it takes images; use 'mlp'"),
    (
        ['--dataset=digits', '--config.data.image_size=7'],
        "data.image_size=7 is not allowed with model.name='dcgan'",
    ),
    (['--config.data.image_size=16'], 'it resizes images'),
    (['--config.data.scale=-1.0'], 'data.scale=-1.0 is not allowed'),
    (['--dataset=digits', '--config.data.scale=1.0'], 'it scales 2-D points'),
    (
        ['--dataset=digits', '--config.train.steps_per_dispatch=3'],
        'a divisor of train.log_every',
    ),
    (
        ['--dataset=mnist', '--data_dir=/nonexistent/tfds'],
        'tfds build mnist --file_format=array_record',
    ),
]


@pytest.mark.parametrize('args,message', BAD_INPUTS)
def test_bad_input_is_one_line_and_writes_nothing(args, message, tmp_path):
  workdir = tmp_path / 'run'
  result = _run(*args, f'--workdir={workdir}')
  assert result.returncode != 0
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith('error: ') and message in lines[0], lines[0]
  assert not workdir.exists()


IMAGE_FLAGS = [
    '--config.model.width=8',
    '--config.model.latent_dim=8',
    *SMALL_RUN_FLAGS[2:],
]  # DCGAN's depth follows the image size.


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_conditional_image_run_through_main(digits_dir, tmp_path):
  workdir = tmp_path / 'digits'
  result = _run(
      '--variant=wgan_gp',
      '--dataset=digits',
      f'--data_dir={digits_dir}',
      f'--workdir={workdir}',
      '--config.model.conditional=true',
      *IMAGE_FLAGS,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['status'] == 'completed' and summary['step'] == 4
  config = summary['config']
  # Dataset defaults, then the variant's image setting, then the flags.
  assert config['model']['name'] == 'dcgan'
  assert config['objective']['penalty_weight'] == 10.0
  assert config['model']['width'] == 8
  protocol = summary['eval_protocol']
  assert protocol['num_samples'] == 100
  assert protocol['feature_extractor_held_out_accuracy'] >= 0.97
  assert (
      set(protocol['real_vs_real'])
      == set(summary['final_eval'])
      >= {
          'fd',
          'kid',
          'precision',
          'recall',
          'density',
          'coverage',
          'classifier_score',
          'modes',
          'mode_kl',
          'intra_fd',  # A conditional G: each class against its own.
      }
  )
  assert summary['final_eval']['intra_fd'] > 0
  assert 'in device memory' in summary['input']
  assert (workdir / 'samples_0000004.png').stat().st_size > 1000
  assert 'real vs real' in result.stdout


@pytest.mark.slow  # two image runs (~11 s).
def test_streamed_input_trains_like_the_in_memory_one(digits_dir, tmp_path):
  """Same records per step either way (the streamed indices are drawn on the
  host, the in-memory ones on device, so the batches differ; both run)."""
  config = small_config(
      'non_saturating',
      dataset='digits',
      model__name='dcgan',
      model__width=8,
      model__g_norm='batch',
      model__d_norm='layer',
      data__dir=digits_dir,
      data__in_memory_limit_mb=0,
      eval__num_samples=50,
      eval__classifier_steps=2000,
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'completed' and summary['step'] == 8
  assert 'streamed' in summary['input']


def test_diverging_run_stops_and_keeps_good_checkpoints(tmp_path):
  # Learning rates of 1e30 overflow D's outputs within a few steps.
  config = small_config(
      'non_saturating',
      optim__d__lr=1e30,
      optim__g__lr=1e30,
      train__steps=40,
      train__eval_every=40,
      train__checkpoint_every=2,
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'diverged'
  assert summary['step'] < 40
  saved = json.loads((tmp_path / 'summary.json').read_text())
  assert saved['status'] == 'diverged'
  # Every checkpoint left behind holds finite numbers.
  for name in os.listdir(tmp_path / 'checkpoints'):
    if name.isdigit():
      spec, hparams, _ = gan_config.build(config)
      like = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
      ckpt = checkpoints.Checkpointer(str(tmp_path), 2)
      try:
        restored = ckpt.restore(like, step=int(name))
      finally:
        ckpt.close()
      assert all(
          bool(jax.numpy.all(jax.numpy.isfinite(leaf)))
          for leaf in jax.tree.leaves(restored)
      )


def test_finished_run_rerun_reports_again(tmp_path):
  config = small_config(
      'non_saturating',
      train__steps=2,
      train__eval_every=2,
      train__checkpoint_every=2,
  )
  first = train_and_evaluate(config, str(tmp_path), progress=False)
  again = train_and_evaluate(config, str(tmp_path), progress=False)
  assert again['step'] == first['step'] == 2
  assert again['final_eval'] == first['final_eval']


@pytest.mark.slow
def test_default_wgan_gp_covers_all_modes(tmp_path):
  """The README's first command, in full: all 25 modes of grid25."""
  result = _run(
      '--variant=wgan_gp',
      f'--workdir={tmp_path}',
      '--progress=false',
      timeout=1800,
  )  # About 7 minutes here.
  assert result.returncode == 0, result.stderr[-2000:]
  summary = json.loads((tmp_path / 'summary.json').read_text())
  assert summary['final_eval']['modes'] == 25


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_celeb_a_streams_through_the_runner_at_64x64(tmp_path):
  """CelebA's code path end to end on mock records: crop and resize,
  streamed batches, 64x64 DCGAN, metrics with a freshly trained classifier."""
  import tensorflow_datasets as tfds

  config = small_config(
      'hinge',
      dataset='celeb_a',
      model__name='dcgan',
      model__width=4,
      model__latent_dim=8,
      model__g_norm='batch',
      model__d_norm='spectral',
      data__dir=str(tmp_path / 'tfds'),
      data__in_memory_limit_mb=0,
      data__random_flip=True,
      train__batch_size=8,
      train__steps=2,
      train__eval_every=2,
      train__checkpoint_every=2,
      eval__num_samples=16,
      eval__classifier_steps=2,
  )
  gan_config.validate(config, num_devices=1)
  with tfds.testing.mock_data(num_examples=24):
    summary = train_and_evaluate(config, str(tmp_path / 'run'), progress=False)
  assert summary['status'] == 'completed' and summary['step'] == 2
  assert 'streamed' in summary['input']
  assert summary['eval_protocol']['num_samples'] == 16
  assert (tmp_path / 'run' / 'samples_0000002.png').exists()


def test_the_train_loop_refuses_implicit_transfers(tmp_path, monkeypatch):
  """The runner dispatches under jax.transfer_guard('disallow'): a host
  array slipped into the loop is an error, not a silent per-step copy."""
  from experiments.runner import inputs

  real_make_input = inputs.make_input

  def with_host_data(*args, **kwargs):
    made = real_make_input(*args, **kwargs)
    return dataclasses.replace(
        made,
        data=lambda step, n: np.zeros(n, np.float32),
        sample_batch=lambda key, data, i: made.sample_batch(key, None, i)
        + data[i],
    )  # Used, so jit cannot prune it.

  monkeypatch.setattr(inputs, 'make_input', with_host_data)
  with pytest.raises(Exception, match='Disallowed host-to-device transfer'):
    train_and_evaluate(small_config(), str(tmp_path), progress=False)


def test_metric_writers_do_not_import_torch(tmp_path):
  """tensorboardX imports PyTorch when it is installed (~2 s per run);
  writers hides it for that import, and torch stays importable after."""
  script = (
      'import sys, importlib.util\n'
      'from experiments.storage import writers\n'
      'assert "torch" not in sys.modules\n'
      f'w = writers.MetricWriter({str(tmp_path)!r})\n'
      'w.write(1, "train", {"loss": 0.5}); w.close()\n'
      'if importlib.util.find_spec("torch"):\n'
      '  import torch; torch.zeros(1)\n'
  )
  subprocess.run(
      [sys.executable, '-c', script],
      check=True,
      cwd=os.path.dirname(os.path.dirname(__file__)),
  )
  assert os.listdir(tmp_path / 'tensorboard')
