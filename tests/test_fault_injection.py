"""Fault injection against real processes (``-m slow``): every fault that
docs/reliability.md names, scripted, and after each the same checks --

* the faulting command's exit status, and at most one line on stderr;
* no file of the run lost: every file is where it was or, for a damaged
  checkpoint, under damaged_checkpoints/; every metrics record is still in
  metrics.jsonl or in the side files a resume moved it to;
* the same command then completes, with the numbers of a run that was never
  interrupted (every train record, the last evaluation, the final state).

The run: 60 steps, logged, evaluated and checkpointed every 20. Each
scenario starts from a copy of the same run stopped at step 40 (a finished
40-step run: constant learning rates, so that 60 steps continue it).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import chex
import jax
import ml_collections
import pytest

from experiments.storage import checkpoints, writers
from gan_jax import config as gan_config, state as gan_state
from tests.helpers import tmpfs

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = [
    '--config=experiments/configs/default.py',
    '--config.model.width=16',
    '--config.model.depth=2',
    '--config.train.batch_size=16',
    '--config.train.num_devices=1',
    '--config.train.log_every=20',
    '--config.train.eval_every=20',
    '--config.train.checkpoint_every=20',
    '--config.optim.g.schedule=constant',
    '--config.optim.d.schedule=constant',
    '--config.eval.num_samples=100',
    '--progress=false',
]
STEPS = 60


def _command(workdir, *extra, steps=STEPS, module='experiments.run'):
  return [
      sys.executable,
      '-m',
      module,
      f'--workdir={workdir}',
      *FLAGS,
      f'--config.train.steps={steps}',
      *extra,
  ]


def _python(*arguments):
  """``python ARGUMENTS`` in the repository, its output captured."""
  return subprocess.run(
      [sys.executable, *arguments],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
  )


def _run(workdir, *extra, steps=STEPS, module='experiments.run'):
  return _python(*_command(workdir, *extra, steps=steps, module=module)[1:])


def _stderr_lines(process):
  return [line for line in process.stderr.splitlines() if line.strip()]


def _files(workdir):
  """path -> (size, mtime) of every file under ``workdir`` but the lock
  (held by a live process; one that a kill left is taken over)."""
  found = {}
  for directory, _, names in os.walk(workdir):
    for name in names:
      if name == '.lock':
        continue
      path = os.path.join(directory, name)
      stat = os.stat(path)
      found[os.path.relpath(path, workdir)] = (stat.st_size, stat.st_mtime_ns)
  return found


def _metric_lines(workdir):
  """Every line of the run's metrics, wherever a resume moved it."""
  lines = []
  for name in (writers.METRICS, writers.REWOUND, writers.TORN):
    path = os.path.join(workdir, name)
    if os.path.exists(path):
      with open(path) as f:
        lines += [line.rstrip('\n') for line in f if line.strip()]
  return lines


def _nothing_lost(workdir, before_files, before_lines, moved=(), rotated=False):
  """Every file of ``before_files`` is still there (or, for the checkpoint
  steps in ``moved``, under damaged_checkpoints/), and every metrics line.
  ``rotated``: the run has saved since, so the steps older than the
  ``keep_checkpoints`` it was asked to keep are gone, as asked."""
  after = _files(workdir)
  for path in before_files:
    parts = path.split(os.sep)
    if parts[0] == 'checkpoints' and len(parts) > 1 and parts[1] in moved:
      continue
    if parts[0] == 'checkpoints' and rotated:
      continue
    assert path in after, f'{path} was lost'
  for step in moved:
    assert any(
        p.startswith(f'{checkpoints.DAMAGED}{os.sep}{step}') for p in after
    ), f'step {step} was not kept'
  after_lines = _metric_lines(workdir)
  for line in before_lines:
    assert line in after_lines or line + '\n' in after_lines, line


def _records(workdir):
  """The run's train records (without the rate) and its last evaluation."""
  records = writers.read_metrics(str(workdir))
  train = [
      {k: v for k, v in r.items() if k != 'steps_per_second'}
      for r in records
      if r['split'] == 'train'
  ]
  evals = [r for r in records if r['split'] == 'eval']
  return train, evals[-1]


def _final_state(workdir):
  with open(workdir / 'config.json') as f:
    config = ml_collections.ConfigDict(json.load(f))
  spec, hparams, _ = gan_config.build(config)
  like = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  ckpt = checkpoints.Checkpointer(str(workdir), 3)
  try:
    assert ckpt.latest_step() == STEPS
    return ckpt.restore(like, set_aside=False)
  finally:
    ckpt.close()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """(a run never interrupted, the same run stopped at step 40)."""
  base = tmp_path_factory.mktemp('runs')
  straight, stopped = base / 'straight', base / 'stopped'
  processes = [
      subprocess.Popen(_command(straight), cwd=ROOT),
      subprocess.Popen(_command(stopped, steps=40), cwd=ROOT),
  ]
  assert [p.wait(timeout=600) for p in processes] == [0, 0]
  return straight, stopped


@pytest.fixture
def workdir(runs, tmp_path):
  target = tmp_path / 'run'
  shutil.copytree(runs[1], target)
  return target


def _completes_as_never_interrupted(runs, workdir, *extra):
  """The same command completes, with the uninterrupted run's numbers."""
  done = _run(workdir, *extra)
  assert done.returncode == 0, done.stderr[-3000:]
  straight_train, straight_eval = _records(runs[0])
  train, last_eval = _records(workdir)
  assert train == straight_train
  assert last_eval == straight_eval
  chex.assert_trees_all_equal(_final_state(workdir), _final_state(runs[0]))
  return done


# --- 1. A config change the checkpoints cannot carry --------------------------


@pytest.mark.parametrize(
    'extra,module,says',
    [
        (
            ['--config.model.width=32', '--allow_config_change'],
            'experiments.run',
            'does not fit this config',
        ),
        (['--allow_config_change'], 'experiments.translate', 'holds a GAN run'),
    ],
)
def test_a_change_the_state_cannot_carry_touches_nothing(
    runs, workdir, extra, module, says
):
  before, lines = _files(workdir), _metric_lines(workdir)
  refused = (
      _run(workdir, *extra)
      if module == 'experiments.run'
      else _python('-m', module, f'--workdir={workdir}', *extra)
  )
  assert refused.returncode == 1
  stderr = _stderr_lines(refused)
  assert len(stderr) == 1 and says in stderr[0], refused.stderr[-3000:]
  assert 'another --workdir' in stderr[0]
  assert _files(workdir) == before  # Not a byte, not a timestamp.
  _nothing_lost(workdir, before, lines)
  _completes_as_never_interrupted(runs, workdir)


# --- 2. Torn metrics lines ----------------------------------------------------


def test_a_log_cut_mid_record_resumes(runs, workdir):
  # What a full disk left (8,192 bytes written, the record cut there).
  path = workdir / writers.METRICS
  torn = '{"d_loss": 1.2, "g_loss": 0.7, "spl'
  with open(path, 'a') as f:
    f.write(torn)
  before, lines = _files(workdir), _metric_lines(workdir)
  done = _completes_as_never_interrupted(runs, workdir)
  assert _stderr_lines(done) == []
  assert 'held 1 torn line(s)' in done.stdout
  assert (workdir / writers.TORN).read_text() == torn + '\n'
  _nothing_lost(workdir, before, lines, rotated=True)


# experiments.run with its metrics writes failing as on a full disk: the
# record of step 60 is cut after a few bytes, then ENOSPC.
_FULL_DISK_AT_60 = """
import errno, runpy, sys
from experiments.storage import writers
real = writers.MetricWriter.write
def write(self, step, split, metrics):
  if step >= 60:
    self._jsonl.write('{"d_fake": 0.49, "d_lo')
    self._jsonl.flush()
    raise OSError(errno.ENOSPC, 'No space left on device')
  return real(self, step, split, metrics)
writers.MetricWriter.write = write
sys.argv[0] = 'experiments.run'
runpy.run_module('experiments.run', run_name='__main__')
"""


def test_a_full_disk_mid_record_is_one_line_and_the_run_resumes(runs, workdir):
  failed = _python('-c', _FULL_DISK_AT_60, *_command(workdir)[3:])
  assert failed.returncode == 1
  stderr = _stderr_lines(failed)
  assert len(stderr) == 1, failed.stderr[-3000:]
  assert stderr[0].startswith(f'error: writing under {workdir} failed: No ')
  before, lines = _files(workdir), _metric_lines(workdir)
  assert lines[-1] == '{"d_fake": 0.49, "d_lo'  # Cut mid-record.
  done = _completes_as_never_interrupted(runs, workdir)
  assert 'held 1 torn line(s)' in done.stdout
  _nothing_lost(workdir, before, lines, rotated=True)


def test_kill_9_at_random_moments_then_a_torn_line(runs, workdir):
  rng = random.Random(0)
  before, lines = _files(workdir), _metric_lines(workdir)
  for attempt in range(3):
    process = subprocess.Popen(
        _command(workdir),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(rng.uniform(2, 9))  # Starting, training, saving or done.
    process.send_signal(signal.SIGKILL)
    process.wait()
    if attempt == 1:  # As if killed in the middle of a write.
      with open(workdir / writers.METRICS, 'a') as f:
        f.write('{"step": 6')
    _nothing_lost(workdir, before, lines, rotated=True)
    before, lines = _files(workdir), _metric_lines(workdir)
  _completes_as_never_interrupted(runs, workdir)
  _nothing_lost(workdir, before, lines, rotated=True)


# --- Damaged checkpoints ------------------------------------------------------


def _biggest_file(step_dir):
  return max(
      (p for p in step_dir.rglob('*') if p.is_file()),
      key=lambda p: p.stat().st_size,
  )


def _flip(step_dir):
  path = _biggest_file(step_dir)
  data = bytearray(path.read_bytes())
  middle = len(data) // 2
  data[middle : middle + 32] = bytes(
      b ^ 0xFF for b in data[middle : middle + 32]
  )
  path.write_bytes(bytes(data))


def _truncate(step_dir):
  path = _biggest_file(step_dir)
  path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _garble_metadata(step_dir):
  (step_dir / 'default' / '_METADATA').write_text('{"tree_metadata": [')


def _truncate_data_unrecorded(step_dir):
  """A data file cut short, in a checkpoint without its files' digests
  (older code, several hosts): orbax meets the damage, and its pending
  reads fail late, from its threads."""
  path = sorted((step_dir / 'default' / 'd').iterdir())[0]
  path.write_bytes(path.read_bytes()[:100])
  (step_dir.parent.parent / checkpoints.FILE_DIGESTS).unlink()


@pytest.mark.parametrize(
    'damage', [_flip, _truncate, _garble_metadata, _truncate_data_unrecorded]
)
def test_a_damaged_checkpoint_is_set_aside_and_the_run_completes(
    runs, workdir, damage
):
  damage(workdir / 'checkpoints' / '40')
  before, lines = _files(workdir), _metric_lines(workdir)
  done = _completes_as_never_interrupted(runs, workdir)
  assert _stderr_lines(done) == []
  assert f'warning: checkpoint {workdir}/checkpoints/40 is damaged' in (
      done.stdout
  )
  _nothing_lost(workdir, before, lines, moved=('40',), rotated=True)


def test_a_step_damaged_twice_keeps_both_copies(runs, workdir):
  _flip(workdir / 'checkpoints' / '40')
  _completes_as_never_interrupted(runs, workdir)
  _flip(workdir / 'checkpoints' / '60')
  before, lines = _files(workdir), _metric_lines(workdir)
  done = _completes_as_never_interrupted(runs, workdir)
  assert 'checkpoints/60 is damaged' in done.stdout
  assert sorted(os.listdir(workdir / checkpoints.DAMAGED)) == ['40', '60']
  _flip(workdir / 'checkpoints' / '60')
  _completes_as_never_interrupted(runs, workdir)
  assert sorted(os.listdir(workdir / checkpoints.DAMAGED)) == [
      '40',
      '60',
      '60.1',
  ]
  _nothing_lost(workdir, before, lines, moved=('60',), rotated=True)


def test_no_readable_checkpoint_is_one_line_and_no_fresh_start(workdir):
  for step in ('20', '40'):
    _truncate(workdir / 'checkpoints' / step)
  before, lines = _files(workdir), _metric_lines(workdir)
  for _ in range(2):  # Then the same command again.
    refused = _run(workdir)
    assert refused.returncode == 1
    stderr = _stderr_lines(refused)
    assert len(stderr) == 1, refused.stderr[-3000:]
    assert f'{workdir}/{checkpoints.DAMAGED}/40' in stderr[0]
    assert stderr[0].endswith('give another --workdir to start afresh')
    _nothing_lost(workdir, before, lines, moved=('20', '40'))
  assert _metric_lines(workdir) == lines  # Nothing rewound or rewritten.


# --- Other files the run reads ------------------------------------------------


@pytest.mark.parametrize('name', ['config.json', 'summary.json'])
def test_a_garbled_run_file_is_one_line_naming_it(runs, workdir, name):
  if name == 'summary.json':  # Read when the run has finished.
    _completes_as_never_interrupted(runs, workdir)
  (workdir / name).write_text('{"seed": 0, "mod')
  before = _files(workdir)
  refused = _run(workdir)
  assert refused.returncode == 1
  stderr = _stderr_lines(refused)
  assert len(stderr) == 1 and f'{workdir}/{name}' in stderr[0], stderr
  assert _files(workdir) == before


def test_a_finished_run_run_again_writes_nothing(runs, workdir):
  _completes_as_never_interrupted(runs, workdir)
  before = _files(workdir)
  again = _run(workdir)
  assert again.returncode == 0 and _stderr_lines(again) == []
  assert 'finished at step 60 already' in again.stdout
  assert 'completed after 60 steps' in again.stdout
  assert _files(workdir) == before


# --- No room ------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
  """A 16 MiB tmpfs, all but 1 MiB of it taken (needs root and mount)."""
  with tmpfs(tmp_path / 'disk', '16m') as mount_point:
    with open(mount_point / 'filler', 'wb') as f:
      f.write(b'\0' * (15 << 20))
    yield mount_point


def test_a_sweep_without_room_is_one_line_before_it_trains(full_disk):
  workdir = full_disk / 'sweep'
  refused = _python(
      '-m',
      'experiments.sweep',
      '--variants=non_saturating',
      f'--workdir={workdir}',
      '--progress=false',
      *(f'--set={f.removeprefix("--config.")}' for f in FLAGS[1:-1]),
      '--set=train.steps=20',
  )
  assert refused.returncode == 1
  stderr = _stderr_lines(refused)
  assert len(stderr) == 1 and 'MiB free' in stderr[0], refused.stderr[-3000:]
  assert not workdir.exists()  # Not even its sweep.json.


def test_a_truncated_image_checkpoint_is_one_warning_and_no_traceback(
    tmp_path,
):
  # A convolutional state: orbax wraps tensorstore's error, and its other
  # pending reads fail as they are collected (29 tracebacks, once).
  command = [
      sys.executable,
      '-m',
      'experiments.run',
      '--dataset=digits',
      f'--workdir={tmp_path}',
      '--config.train.steps=2',
      '--config.train.log_every=1',
      '--config.train.eval_every=2',
      '--config.train.checkpoint_every=1',
      '--config.eval.num_samples=100',
      '--progress=false',
  ]
  first = _python(*command[1:])
  assert first.returncode == 0, first.stderr[-3000:]
  _truncate(tmp_path / 'checkpoints' / '2')
  (tmp_path / 'summary.json').unlink()  # As if killed before writing it.
  # Without the files' digests (a checkpoint of older code, or of several
  # hosts), orbax meets the damage itself.
  (tmp_path / checkpoints.FILE_DIGESTS).unlink()
  before, lines = _files(tmp_path), _metric_lines(tmp_path)
  again = _python(*command[1:])
  assert again.returncode == 0, again.stderr[-3000:]
  assert _stderr_lines(again) == []
  warning = [
      line for line in again.stdout.splitlines() if line.startswith('warning')
  ]
  assert len(warning) == 1 and 'is damaged (OUT_OF_RANGE: ' in warning[0]
  assert 'bound method' not in again.stdout
  _nothing_lost(tmp_path, before, lines, moved=('2',), rotated=True)
