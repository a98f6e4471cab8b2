"""Workdirs written before the step contract resume under today's code and
continue the same numbers: tests/data/main_10434ff holds a run and a sweep
as main at 10434ff wrote them (configs without train.algorithm, states
without plug-in slots and with six fixed hyperparameters). Each resumes
from its step-4 checkpoint, without --allow_config_change, and trains
steps 5 to 8 exactly as the old code did."""

import json
import os
import shutil

import chex
import jax
import pytest

from experiments.runner import config_layers
from experiments.runner.train import train_and_evaluate
from experiments.storage import checkpoints
from experiments.sweeps import driver as sweep_driver
from gan_jax import config as gan_config, state as gan_state

DATA = os.path.join(os.path.dirname(__file__), 'data', 'main_10434ff')


def _records(path, split='train'):
  with open(path) as f:
    rows = [json.loads(line) for line in f]
  return {
      r['step']: {k: v for k, v in r.items() if k != 'steps_per_second'}
      for r in rows
      if r['split'] == split
  }


def _copy_back_to_step_4(source, target, checkpoint_dir):
  shutil.copytree(source, target)
  shutil.rmtree(os.path.join(target, checkpoint_dir, '8'))


def test_an_old_run_resumes_and_continues_the_same_numbers(tmp_path):
  workdir = str(tmp_path / 'run')
  _copy_back_to_step_4(os.path.join(DATA, 'run'), workdir, 'checkpoints')
  with open(os.path.join(workdir, 'config.json')) as f:
    saved = json.load(f)
  # The command that wrote it, as experiments.run builds its config today.
  # On one device, as it was written (the suite has 8).
  config = config_layers.resolve_config(
      config_layers.with_new_fields(saved), None, {'train.num_devices': 1}
  )
  assert config.train.algorithm == 'alternating'
  config_layers.check_resume(workdir, config, allow=False)  # Not refused.
  summary = train_and_evaluate(config, workdir, progress=False)

  assert summary['status'] == 'completed' and summary['step'] == 8
  old = _records(os.path.join(DATA, 'run', 'metrics.jsonl'))
  new = _records(os.path.join(workdir, 'metrics.jsonl'))
  assert sorted(new) == [2, 4, 6, 8]
  for step in (6, 8):  # Trained by today's code.
    assert new[step] == old[step], step
  old_eval = _records(os.path.join(DATA, 'run', 'metrics.jsonl'), 'eval')
  assert _records(os.path.join(workdir, 'metrics.jsonl'), 'eval')[8] == (
      old_eval[8]
  )
  # And the state: the old code's checkpoint of step 8, restored by
  # today's code, equals today's.
  spec, hparams, _ = gan_config.build(config)
  like = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  shutil.copytree(os.path.join(DATA, 'run'), tmp_path / 'old')
  old_ckpt = checkpoints.Checkpointer(str(tmp_path / 'old'), 2)
  ours = checkpoints.Checkpointer(workdir, 2)
  try:
    notes = []
    theirs = old_ckpt.restore(like, step=8, warn=notes.append)
    chex.assert_trees_all_equal(
        ours.restore(like, step=8, warn=notes.append), theirs
    )
  finally:
    old_ckpt.close()
    ours.close()
  # The old state had no g_penalty_weight (the one note), and nothing was
  # set aside as damaged.
  assert len(notes) == 1 and "predates .hparams['g_penalty_weight']" in (
      notes[0]
  )
  assert not os.path.exists(
      os.path.join(tmp_path, 'old', 'damaged_checkpoints')
  )


@pytest.mark.slow  # a sweep process (~9 s).
def test_an_old_sweep_resumes_its_group_and_continues_the_same_numbers(
    tmp_path,
):
  workdir = str(tmp_path / 'sweep')
  _copy_back_to_step_4(
      os.path.join(DATA, 'sweep'),
      workdir,
      os.path.join('groups', 'group000', 'checkpoints'),
  )
  runs = ('wgan_gp__seed0', 'wgan_gp__seed1')
  for run in runs:
    os.remove(os.path.join(workdir, 'runs', run, 'summary.json'))
  with open(os.path.join(workdir, 'sweep.json')) as f:
    spec = json.load(f)  # The spec as the old command normalised it.
  summaries = sweep_driver.run_sweep(spec, workdir, progress=False)

  for run, summary in zip(runs, summaries):
    with open(os.path.join(DATA, 'sweep', 'runs', run, 'summary.json')) as f:
      old = json.load(f)
    assert summary['final_eval'] == old['final_eval'], run
    old_metrics = _records(
        os.path.join(DATA, 'sweep', 'runs', run, 'metrics.jsonl')
    )
    new_metrics = _records(os.path.join(workdir, 'runs', run, 'metrics.jsonl'))
    assert new_metrics[8] == old_metrics[8], run
