"""Faults: divergence, pre-emption, kill -9, resume mismatch, damaged
checkpoints, a full or unwritable disk (README, Reliability)."""

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import chex
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from experiments.storage import (
    checkpoints,
    failed_writes,
    state_digests,
    writers,
)
from experiments.runner import config_layers
from experiments.runner.loop import divergence
from experiments.runner.train import train_and_evaluate
from gan_jax import config as gan_config
from gan_jax import state as gan_state
from tests.helpers import small_config, tmpfs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A tiny run that checkpoints every 20 steps (keeping 2): most of its time
# is spent saving (~0.2 s a save, 20 steps ~10 ms), so a kill often lands
# in the middle of a save.
CHECKPOINTING_FLAGS = [
    '--config=experiments/configs/default.py',
    '--config.model.width=16',
    '--config.model.depth=2',
    '--config.train.batch_size=16',
    '--config.train.num_devices=1',
    '--config.train.log_every=20',
    '--config.train.checkpoint_every=20',
    '--config.eval.num_samples=100',
    '--progress=false',
]


def _start(workdir, steps):
  return subprocess.Popen(
      [
          sys.executable,
          '-m',
          'experiments.run',
          f'--workdir={workdir}',
          *CHECKPOINTING_FLAGS,
          f'--config.train.steps={steps}',
          f'--config.train.eval_every={steps}',
      ],
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _steps_saved(workdir):
  try:
    return [int(n) for n in os.listdir(workdir / 'checkpoints') if n.isdigit()]
  except FileNotFoundError:
    return []


def _wait_for_new_checkpoint(process, workdir, after, timeout=120):
  """Blocks until a checkpoint beyond ``after`` is finished, or the process
  ends; returns whether the process is still running."""
  deadline = time.time() + timeout
  while time.time() < deadline:
    if process.poll() is not None:
      return False
    if max(_steps_saved(workdir), default=-1) > after:
      return True
    time.sleep(0.02)
  raise AssertionError(f'no progress in {timeout} s')


def _final_state(workdir, steps):
  config = small_config(train__steps=steps)
  spec, hparams, _ = gan_config.build(config)
  like = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    assert ckpt.latest_step() == steps
    return ckpt.restore(like)
  finally:
    ckpt.close()


# --- Divergence ------------------------------------------------------------


def test_divergence_names_the_first_bad_step_and_every_bad_quantity():
  finite = np.ones(5, np.float32)
  metrics = {
      'd_loss': finite.copy(),
      'g_loss': finite.copy(),
      'g_grad_norm': finite.copy(),
  }
  assert divergence(metrics, {'G': True, 'D': True}, 101) is None
  metrics['g_loss'][3] = np.inf
  metrics['g_grad_norm'][2:] = np.nan
  assert (
      divergence(metrics, {'G': True, 'D': True}, 101)
      == 'g_grad_norm not finite at step 103'
  )
  metrics['d_loss'][2] = np.nan
  assert (
      divergence(metrics, {'G': True, 'D': True}, 101)
      == 'd_loss, g_grad_norm not finite at step 103'
  )
  # Parameters are checked at the interval's end.
  assert (
      divergence({'d_loss': finite}, {'G': True, 'D': False}, 101)
      == 'D parameters not finite at step 105'
  )


@pytest.mark.slow  # a run process (~6 s); test_run checks a diverging run in-process.
def test_diverged_run_names_the_step_and_keeps_its_last_checkpoint(tmp_path):
  constant = dict(
      optim__g__schedule='constant',
      optim__d__schedule='constant',
      train__eval_every=40,
      train__checkpoint_every=4,
  )
  train_and_evaluate(
      small_config(train__steps=4, **constant), str(tmp_path), progress=False
  )
  # Resumed at step 4 with learning rates of 1e38: step 5's D update moves
  # D's params by ~1e38 (Adam's first steps are ~lr), so G's loss in the
  # same step overflows through D's two hidden layers on any machine. (At
  # 1e30 whether step 5 or 6 overflowed depended on the CPU.)
  config = small_config(
      optim__d__lr=1e38, optim__g__lr=1e38, train__steps=40, **constant
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'diverged' and summary['step'] == 4
  assert summary['reason'].startswith('diverged: ')
  assert summary['reason'].endswith(
      ' not finite at step 5; last good checkpoint: step 4'
  )
  saved = json.loads((tmp_path / 'summary.json').read_text())
  assert saved['status'] == 'diverged' and saved['reason'] == summary['reason']
  assert _steps_saved(tmp_path) == [4]


# --- Pre-emption and kill -9 -------------------------------------------------


def _stop_and_resume(tmp_path, signum, kills, steps):
  """Runs ``steps`` steps in a process stopped once by ``signum`` (if any)
  and then SIGKILLed ``kills`` times at random moments, restarting it
  after each, and compares its end with a run never stopped."""
  straight = _start(tmp_path / 'straight', steps)
  workdir = tmp_path / 'stopped'
  if signum:
    process = _start(workdir, steps)
    assert _wait_for_new_checkpoint(process, workdir, 20)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, stderr[-2000:]
    summary = json.loads((workdir / 'summary.json').read_text())
    assert summary['status'] == 'interrupted'
    assert summary['interrupted_by'] == signal.Signals(signum).name
    assert 0 < summary['step'] < steps
    assert max(_steps_saved(workdir)) == summary['step']  # Saved there.
  killed = 0
  rng = random.Random(kills)
  while True:
    process = _start(workdir, steps)
    latest = max(_steps_saved(workdir), default=-1)
    if killed == kills or not _wait_for_new_checkpoint(
        process, workdir, latest
    ):
      _, stderr = process.communicate(timeout=300)
      assert process.returncode == 0, stderr[-2000:]
      break
    time.sleep(rng.uniform(0, 0.4))  # Training or saving, at random.
    process.kill()
    process.communicate()
    killed += 1
  straight.communicate(timeout=300)
  assert straight.returncode == 0
  assert killed == kills, f'the run finished after {killed} kills'
  chex.assert_trees_all_equal(
      _final_state(tmp_path / 'straight', steps), _final_state(workdir, steps)
  )
  logged = [
      r['step']
      for r in writers.read_metrics(str(workdir))
      if r['split'] == 'train'
  ]
  assert logged == sorted(set(logged)) and logged[-1] == steps


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_sigterm_then_kill_9_resume_bit_identical(tmp_path):
  _stop_and_resume(tmp_path, signal.SIGTERM, kills=1, steps=400)


@pytest.mark.slow
def test_ctrl_c_resumes_bit_identical(tmp_path):
  _stop_and_resume(tmp_path, signal.SIGINT, kills=0, steps=300)


@pytest.mark.slow
def test_kill_9_twenty_times_resumes_bit_identical(tmp_path):
  _stop_and_resume(tmp_path, None, kills=20, steps=3000)


# --- Resume with another config ---------------------------------------------


def test_resume_changes_lists_the_fields_that_change_the_run():
  saved = small_config(
      optim__g__schedule='constant', optim__d__schedule='constant'
  ).to_dict()
  same_run = small_config(
      optim__g__schedule='constant',
      optim__d__schedule='constant',
      train__steps=80,
      eval__num_samples=50,
      train__checkpoint_every=8,
  )
  assert config_layers.resume_changes(saved, same_run.to_dict()) == []
  other = small_config(
      optim__g__schedule='constant',
      optim__d__schedule='constant',
      optim__d__lr=1e-3,
      seed=3,
  )
  assert config_layers.resume_changes(saved, other.to_dict()) == [
      ('optim.d.lr', 2e-4, 1e-3),
      ('seed', 0, 3),
  ]
  # A learning-rate schedule is stretched over train.steps.
  linear = small_config()
  assert config_layers.resume_changes(
      linear.to_dict(), small_config(train__steps=80).to_dict()
  ) == [('train.steps', 8, 80)]
  # A field the saved run did not have (an older version, a plug-in
  # registered since) changes nothing at its default, which is how the run
  # trained; at another value it counts.
  del saved['ema']['decay']
  assert config_layers.resume_changes(saved, same_run.to_dict()) == []
  same_run.ema.decay = 0.5
  assert config_layers.resume_changes(saved, same_run.to_dict()) == [
      ('ema.decay', '(absent)', 0.5)
  ]


def test_resume_with_another_config_is_refused_in_one_line(
    trained_workdir, tmp_path
):
  config, source = trained_workdir
  workdir = tmp_path / 'run'
  subprocess.run(['cp', '-r', str(source), str(workdir)], check=True)
  other = small_config(train__checkpoint_every=4, optim__d__lr=1e-3, seed=2)
  with pytest.raises(gan_config.ConfigError) as error:
    config_layers.check_resume(str(workdir), other, allow=False)
  assert str(error.value) == (
      f'--workdir={workdir} holds a run with another config: optim.d.lr '
      '0.0002 -> 0.001, seed 0 -> 2; use another --workdir, or '
      '--allow_config_change to resume it with the new values'
  )
  config_layers.check_resume(str(workdir), config, allow=False)  # Same.
  # With --allow_config_change the config's numbers win over the
  # checkpoint's: test_diverged_run_names_the_step_and_keeps_its_last_...

  # Through the command line (whose config differs from the test config in
  # many fields): one line, exit 1, the workdir untouched.
  before = {p: p.stat().st_mtime_ns for p in workdir.rglob('*')}
  refused = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          f'--workdir={workdir}',
          *CHECKPOINTING_FLAGS,
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert refused.returncode == 1
  lines = [line for line in refused.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, refused.stderr
  assert lines[0].startswith(
      f'error: --workdir={workdir} holds a run with another config: '
  )
  assert {p: p.stat().st_mtime_ns for p in workdir.rglob('*')} == before


# --- Damaged checkpoints ------------------------------------------------------


def _damage(step_dir, how):
  files = sorted(
      (p for p in step_dir.rglob('*') if p.is_file()),
      key=lambda p: p.stat().st_size,
  )
  biggest = files[-1]
  data = bytearray(biggest.read_bytes())
  if how == 'flipped':  # Silent for orbax: only the digest sees it.
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(
        b ^ 0xFF for b in data[middle : middle + 64]
    )
    biggest.write_bytes(bytes(data))
  elif how == 'truncated':
    biggest.write_bytes(bytes(data[: len(data) // 3]))
  elif how == 'metadata':
    for path in files:
      if path.name == '_METADATA':
        path.write_text('{not json')


@pytest.fixture(scope='module')
def trained_workdir(tmp_path_factory):
  """A finished 8-step run with checkpoints at steps 4 and 8."""
  workdir = tmp_path_factory.mktemp('trained')
  config = small_config(train__checkpoint_every=4)
  train_and_evaluate(config, str(workdir), progress=False)
  return config, workdir


def _like(config):
  spec, hparams, _ = gan_config.build(config)
  return gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)


@pytest.mark.parametrize(
    'how',
    [
        pytest.param('flipped', marks=pytest.mark.slow),
        'truncated',
        pytest.param('metadata', marks=pytest.mark.slow),
    ],
)
def test_damaged_checkpoint_is_moved_aside_and_the_one_before_used(
    how, trained_workdir, tmp_path
):
  config, source = trained_workdir
  workdir = tmp_path / 'run'
  subprocess.run(['cp', '-r', str(source), str(workdir)], check=True)
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  intact_4 = ckpt.restore(_like(config), step=4)
  ckpt.close()
  _damage(workdir / 'checkpoints' / '8', how)

  warnings = []
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    restored = ckpt.restore(_like(config), warn=warnings.append)
    assert ckpt.latest_step() == 4
  finally:
    ckpt.close()
  chex.assert_trees_all_equal(restored, intact_4)
  assert len(warnings) == 1
  assert warnings[0].startswith(
      f'warning: checkpoint {workdir}/checkpoints/8 is damaged ('
  )
  assert (workdir / 'damaged_checkpoints' / '8').is_dir()  # Kept.
  # The run goes on from step 4 and saves step 8 again.
  summary = train_and_evaluate(config, str(workdir), progress=False)
  assert summary['status'] == 'completed' and 8 in _steps_saved(workdir)


@pytest.mark.slow  # runs processes (~6 s); test_history checks the same refusal in-process.
def test_no_readable_checkpoint_is_one_error_naming_the_files(
    trained_workdir, tmp_path
):
  config, source = trained_workdir
  workdir = tmp_path / 'run'
  subprocess.run(['cp', '-r', str(source), str(workdir)], check=True)
  for step in (4, 8):
    _damage(workdir / 'checkpoints' / str(step), 'truncated')
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    with pytest.raises(
        checkpoints.CheckpointError,
        match='no checkpoint under .* can be restored',
    ):
      ckpt.restore(_like(config), warn=lambda line: None)
  finally:
    ckpt.close()
  assert sorted(os.listdir(workdir / 'damaged_checkpoints')) == ['4', '8']


def test_a_checkpoint_older_than_a_field_fills_it_and_says_so(
    trained_workdir, tmp_path
):
  config, source = trained_workdir
  workdir = tmp_path / 'run'
  subprocess.run(['cp', '-r', str(source), str(workdir)], check=True)
  grown = _like(config).replace(extra={'mine': jnp.ones(3)})
  notes = []
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    restored = ckpt.restore(grown, warn=notes.append)
    plain = ckpt.restore(_like(config), warn=notes.append)
  finally:
    ckpt.close()
  chex.assert_trees_all_equal(restored.extra['mine'], jnp.ones(3))
  chex.assert_trees_all_equal(restored.replace(extra={}), plain)
  assert notes == [
      f"note: checkpoint {workdir}/checkpoints/8 predates .extra['mine']: "
      'they start as in a fresh run'
  ]
  assert not (workdir / 'damaged_checkpoints').exists()


def test_a_checkpoint_of_another_shape_is_a_config_change_not_damage(
    trained_workdir, tmp_path
):
  config, source = trained_workdir
  workdir = tmp_path / 'run'
  subprocess.run(['cp', '-r', str(source), str(workdir)], check=True)
  wider = small_config(train__checkpoint_every=4, model__width=32)
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    with pytest.raises(checkpoints.StructureMismatch) as error:
      ckpt.restore(_like(wider), warn=pytest.fail)
  finally:
    ckpt.close()
  assert "does not fit this config: .g.params['Dense_0']" in str(error.value)
  assert (
      'resume it with the config it was saved with, or give another '
      '--workdir' in str(error.value)
  )
  assert sorted(_steps_saved(workdir)) == [4, 8]
  assert not (workdir / 'damaged_checkpoints').exists()


def test_a_transient_failure_to_restore_moves_nothing(
    trained_workdir, tmp_path, monkeypatch
):
  config, source = trained_workdir
  workdir = tmp_path / 'run'
  subprocess.run(['cp', '-r', str(source), str(workdir)], check=True)
  ckpt = checkpoints.Checkpointer(str(workdir), 2)

  def refused(*args, **kwargs):
    raise PermissionError(errno.EACCES, 'Permission denied')

  monkeypatch.setattr(ckpt._manager, 'restore', refused)
  try:
    with pytest.raises(
        checkpoints.CheckpointError,
        match=r'cannot be restored .*Permission denied.*; nothing was moved: '
        'run again',
    ):
      ckpt.restore(_like(config), warn=pytest.fail)
  finally:
    ckpt.close()
  assert sorted(_steps_saved(workdir)) == [4, 8]
  assert not (workdir / 'damaged_checkpoints').exists()


def _sharded_tree(rows, devices=4):
  """Rows 0..7 split over ``devices`` devices (as a sweep's runs), and a
  replicated counter."""
  mesh = jax.sharding.Mesh(np.array(jax.devices()[:devices]), ('runs',))
  by_run = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('runs'))
  every = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return {
      'w': jax.device_put(np.asarray(rows, np.float32), by_run),
      'n': jax.device_put(np.int32(7), every),
  }


def test_piece_digests_name_each_shard_once_by_its_place():
  rows = np.arange(24).reshape(8, 3)
  pieces = state_digests.piece_digests(_sharded_tree(rows))
  assert sorted(pieces) == [
      "['n'][]",
      "['w'][0:2, 0:3]",
      "['w'][2:4, 0:3]",
      "['w'][4:6, 0:3]",
      "['w'][6:8, 0:3]",
  ]
  changed = rows.copy()
  changed[5, 1] += 1
  other = state_digests.piece_digests(_sharded_tree(changed))
  assert [k for k in pieces if pieces[k] != other[k]] == ["['w'][4:6, 0:3]"]
  # The same piece held by another layout or host has the same digest.
  two = state_digests.piece_digests(_sharded_tree(rows, devices=2))
  assert two["['n'][]"] == pieces["['n'][]"]
  assert "['w'][0:4, 0:3]" in two


def test_a_state_split_over_hosts_is_checked_piece_by_piece(
    tmp_path, monkeypatch
):
  """As on several hosts, where no host holds all of a sweep's state: each
  writes and checks the digests of its own pieces (the two-process sweep
  itself: tests/test_multihost.py, -m slow)."""
  monkeypatch.setattr(state_digests, 'split_over_hosts', lambda tree: True)
  rows = np.arange(24).reshape(8, 3)
  changed = rows.copy()
  changed[6, 0] = -1  # One piece differs between the two steps.
  ckpt = checkpoints.Checkpointer(str(tmp_path), 2)
  ckpt.save(4, _sharded_tree(rows))
  ckpt.save(8, _sharded_tree(changed))
  ckpt.close()
  assert not (tmp_path / checkpoints.DIGESTS).exists()
  with open(tmp_path / 'checkpoint_digests.process0.json') as f:
    assert sorted(json.load(f)) == ['4', '8']
  # Step 8's files replaced by step 4's: well-formed, so only the digest
  # of the one piece that differs can tell.
  subprocess.run(['rm', '-r', str(tmp_path / 'checkpoints' / '8')], check=True)
  subprocess.run(
      [
          'cp',
          '-r',
          str(tmp_path / 'checkpoints' / '4'),
          str(tmp_path / 'checkpoints' / '8'),
      ],
      check=True,
  )

  # Several hosts record no file digests (each writes its own files).
  (tmp_path / checkpoints.FILE_DIGESTS).unlink()

  warnings = []
  ckpt = checkpoints.Checkpointer(str(tmp_path), 2)
  try:
    restored = ckpt.restore(_sharded_tree(rows), warn=warnings.append)
    assert ckpt.latest_step() == 4
    # Step 8 saved again, now whole (one host): its piece digests go.
    monkeypatch.undo()
    ckpt.save(8, _sharded_tree(changed))
  finally:
    ckpt.close()
  np.testing.assert_array_equal(restored['w'], rows)
  assert (
      len(warnings) == 1
      and ('differ from the digests written when it was saved') in warnings[0]
  ), warnings
  with open(tmp_path / 'checkpoint_digests.process0.json') as f:
    assert sorted(json.load(f)) == ['4']
  with open(tmp_path / checkpoints.DIGESTS) as f:
    assert sorted(json.load(f)) == ['8']


# --- Disk full, unwritable workdir ---------------------------------------------


def test_a_workdir_without_room_is_refused_before_anything_is_written(
    tmp_path, monkeypatch
):
  state = _like(small_config())
  checkpoints.check_room(str(tmp_path / 'run'), state, 2)  # Room here.
  usage = checkpoints.shutil.disk_usage(tmp_path)
  monkeypatch.setattr(
      checkpoints.shutil,
      'disk_usage',
      lambda path: usage._replace(free=1 << 20),
  )
  with pytest.raises(
      checkpoints.NoRoom,
      match=r'1.0 MiB free, the run needs about 16.\d MiB \(2 checkpoints of',
  ):
    train_and_evaluate(small_config(), str(tmp_path / 'run'), progress=False)
  assert not (tmp_path / 'run').exists()


def test_a_workdir_inside_a_file_is_one_line_and_exit_1(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('')
  result = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          f'--workdir={blocker}/run',
          *CHECKPOINTING_FLAGS,
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert result.returncode == 1
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert lines == [
      f'error: --workdir={blocker}/run: {blocker} is a file, not a directory'
  ]


def test_a_failing_save_is_one_error_and_the_earlier_checkpoint_survives(
    tmp_path, monkeypatch
):
  config = small_config(train__checkpoint_every=4)
  real_save = ocp.CheckpointManager.save

  def disk_full_at_step_8(self, step, *args, **kwargs):
    if step == 8:
      raise OSError(28, 'No space left on device')
    return real_save(self, step, *args, **kwargs)

  monkeypatch.setattr(ocp.CheckpointManager, 'save', disk_full_at_step_8)
  with pytest.raises(checkpoints.CheckpointError) as error:
    train_and_evaluate(config, str(tmp_path), progress=False)
  assert str(error.value) == (
      f'cannot write the checkpoint of step 8 under {tmp_path}/checkpoints: '
      'No space left on device; the checkpoint of step 4 is intact'
  )
  monkeypatch.setattr(ocp.CheckpointManager, 'save', real_save)
  ckpt = checkpoints.Checkpointer(str(tmp_path), 2)
  try:
    assert ckpt.latest_step() == 4
    assert int(ckpt.restore(_like(config)).step) == 4
  finally:
    ckpt.close()


@pytest.fixture
def small_disk(tmp_path):
  """A 40 MiB tmpfs (needs root and mount; skipped elsewhere)."""
  with tmpfs(tmp_path / 'disk', '40m') as mount_point:
    yield mount_point


def _fill_the_disk_mid_run(disk, name):
  """A real ENOSPC: the disk fills once the run's first checkpoint is
  written. Checks the run's stderr is one line, and that the checkpoint it
  names as intact restores once there is room again."""
  workdir = disk / name
  process = _start(workdir, 400)
  assert _wait_for_new_checkpoint(process, workdir, -1)
  # Unbuffered: a write that does not fit raises, and closing has nothing
  # left to flush (a buffered file raised ENOSPC again on close).
  with open(disk / 'filler', 'wb', buffering=0) as filler:
    with pytest.raises(OSError):
      while True:
        filler.write(b'\0' * (1 << 16))
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 1
  # One line: not orbax's threads' ~500 lines of tracebacks (held back, and
  # muted after the failure, however late they come), nor tensorboardX's
  # exit hooks failing again on the full disk (skipped).
  last = [line for line in stderr.splitlines() if line.strip()]
  assert len(last) == 1 and re.fullmatch(
      rf'error: cannot write the checkpoint of step \d+ under {workdir}/'
      r'checkpoints: No space left on device; the checkpoint of step \d+ is '
      r'intact',
      last[0],
  ), stderr[-3000:]
  intact = int(last[0].rsplit('step ', 1)[1].split()[0])
  assert not (workdir / '.lock').exists()  # Released before the exit.
  (disk / 'filler').unlink()  # Room again: it resumes from there.
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    assert ckpt.latest_step() == intact
    assert int(ckpt.restore(_like(small_config())).step) == intact
  finally:
    ckpt.close()
  shutil.rmtree(workdir)


def test_a_disk_filling_up_mid_run_is_one_error_and_keeps_the_checkpoint(
    small_disk,
):
  _fill_the_disk_mid_run(small_disk, 'run')


@pytest.mark.slow
def test_a_disk_filling_up_is_one_line_on_a_busy_machine_20_times(small_disk):
  # The line once came after tracebacks that orbax's threads printed late,
  # on a loaded machine only: every core kept busy meanwhile.
  busy = [
      subprocess.Popen([sys.executable, '-c', 'while True: pass'])
      for _ in range(os.cpu_count() or 1)
  ]
  try:
    for attempt in range(20):
      _fill_the_disk_mid_run(small_disk, f'run{attempt}')
  finally:
    for process in busy:
      process.kill()
      process.wait()


@pytest.mark.parametrize(
    'failure,shown',
    [
        (OSError(28, 'No space left on device'), False),  # Said in one line.
        (RuntimeError('barrier timed out'), True),  # Unexplained: details kept.
    ],
)
def test_what_a_failing_save_printed_is_shown_unless_the_os_explains_it(
    failure, shown, tmp_path, monkeypatch, capfd
):
  def printing_then_failing(self, step, *args, **kwargs):
    os.write(2, b'orbax thread: traceback\n')
    raise failure

  monkeypatch.setattr(ocp.CheckpointManager, 'save', printing_then_failing)
  ckpt = checkpoints.Checkpointer(str(tmp_path), 2)
  try:
    with pytest.raises(checkpoints.CheckpointError, match=str(failure)[-12:]):
      ckpt.save(1, {'x': np.zeros(3)})
  finally:
    ckpt.close()
  assert ('orbax thread: traceback' in capfd.readouterr().err) == shown


def test_after_a_refused_save_late_prints_are_muted_and_the_line_shows():
  # What orbax's and tensorstore's threads print after a save the OS
  # refused -- while closing, or late on a busy machine -- is muted; the
  # one line reaches the real stderr.
  code = (
      'import os, threading\n'
      'from experiments.storage import failed_writes\n'
      'with failed_writes.held_stderr() as held:\n'
      '  os.write(2, b"during the save\\n")\n'
      '  held.mute_after = True\n'
      'os.write(2, b"late, from C\\n")\n'
      'thread = threading.Thread(target=lambda: 1 / 0)\n'
      'thread.start(); thread.join()  # A traceback, through sys.stderr.\n'
      'failed_writes.exit_after_failed_write("error: one line")\n'
  )
  done = subprocess.run(
      [sys.executable, '-c', code],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=60,
  )
  assert (done.returncode, done.stderr) == (1, 'error: one line\n')


def test_unmute_stderr_gives_the_real_stderr_back(capfd):
  with failed_writes.held_stderr() as held:
    held.mute_after = True
  os.write(2, b'muted\n')
  failed_writes.unmute_stderr()
  os.write(2, b'shown\n')
  assert capfd.readouterr().err == 'shown\n'


def test_held_stderr_holds_what_any_writer_prints(capfd):
  # What orbax's threads and tensorstore's C++ print while a save fails.
  with failed_writes.held_stderr() as held:
    os.write(2, b'from C\n')
    print('from Python', file=sys.__stderr__, flush=True)  # (Not pytest's.)
    writer = threading.Thread(target=os.write, args=(2, b'x' * 200_000))
    writer.start()  # More than a pipe holds: drained while written.
    writer.join()
  assert held.text == 'from C\nfrom Python\n' + 'x' * 200_000
  print('after', file=sys.stderr)
  assert capfd.readouterr().err == 'after\n'
