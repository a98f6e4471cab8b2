"""One live process per workdir: a second run, sweep or theory lab on a
workdir that a live process holds is refused in one line naming it; a lock
left by a process that died is taken over with a note. Real processes."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from experiments.storage import workdir_lock
from tests.helpers import SMALL_RUN_FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Holds the lock as experiments.run would, until killed.
HOLDER = (
    'import sys, time\n'
    'from experiments.storage.workdir_lock import WorkdirLock\n'
    'WorkdirLock(sys.argv[1], command="holder").acquire()\n'
    'print("held", flush=True)\n'
    'time.sleep(600)\n'
)


def _hold(workdir):
  holder = subprocess.Popen(
      [sys.executable, '-c', HOLDER, str(workdir)],
      cwd=ROOT,
      stdout=subprocess.PIPE,
      text=True,
  )
  assert holder.stdout.readline().strip() == 'held'
  return holder


def _run(*args, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


def _lines(text):
  return [line for line in text.splitlines() if line.strip()]


def test_a_second_lock_on_a_held_workdir_is_refused_naming_the_holder(tmp_path):
  workdir = tmp_path / 'run'
  with workdir_lock.WorkdirLock(str(workdir), command='first') as first:
    holder = json.loads((workdir / workdir_lock.LOCK_FILE).read_text())
    assert holder['pid'] == os.getpid() and holder['command'] == 'first'
    assert holder['host'] == socket.gethostname()
    # Another open file description, as another process would have.
    with pytest.raises(
        workdir_lock.WorkdirBusy,
        match=rf'is in use by pid {os.getpid()} on '
        rf'{socket.gethostname()} \(first\) since 20',
    ):
      workdir_lock.WorkdirLock(str(workdir)).acquire()
    first.release()
    first.release()  # Twice is harmless.
  # The lock created the directory and nothing else was written: gone, so
  # a refused run leaves nothing behind.
  assert not workdir.exists()


def test_a_workdir_that_holds_files_stays_when_the_lock_is_released(tmp_path):
  (tmp_path / 'config.json').write_text('{}')
  with workdir_lock.WorkdirLock(str(tmp_path)):
    pass
  assert sorted(os.listdir(tmp_path)) == ['config.json']


@pytest.mark.slow  # Two run processes (~8 s); the lock's own tests stay.
def test_a_second_run_on_a_live_runs_workdir_is_refused_in_one_line(tmp_path):
  # The same command twice, as a user who forgot the first one would.
  workdir = tmp_path / 'run'
  command = [
      'experiments.run',
      f'--workdir={workdir}',
      *SMALL_RUN_FLAGS,
      '--config.train.steps=100000',
      '--config.train.checkpoint_every=1000',
  ]
  first = subprocess.Popen(
      [sys.executable, '-m', *command],
      cwd=ROOT,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )
  try:
    deadline = time.time() + 120
    while not (workdir / 'metrics.jsonl').exists():
      assert first.poll() is None, first.communicate()[1][-2000:]
      assert time.time() < deadline, 'the first run did not start'
      time.sleep(0.1)
    second = _run(*command)
    assert second.returncode == 1
    (line,) = _lines(second.stderr)
    assert line.startswith(
        f'error: --workdir={workdir} is in use by pid '
        f'{first.pid} on {socket.gethostname()} ('
    )
    assert 'experiments.run' in line and line.endswith(
        'wait for it to end, or give another --workdir'
    ), line
    assert first.poll() is None  # The first run goes on, untouched.
  finally:
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
  assert first.returncode == 128 + signal.SIGTERM
  assert not (workdir / workdir_lock.LOCK_FILE).exists()


@pytest.mark.parametrize(
    'command',
    [
        ['experiments.sweep', '--variants=wgan_gp', '--seeds=1'],
        ['experiments.theory'],
    ],
)
def test_a_sweep_or_the_theory_lab_on_a_held_workdir_is_refused(
    command, tmp_path
):
  workdir = tmp_path / 'held'
  holder = _hold(workdir)
  try:
    refused = _run(*command, f'--workdir={workdir}')
  finally:
    holder.kill()
    holder.wait()
  assert refused.returncode == 1
  (line,) = _lines(refused.stderr)
  assert line.startswith(
      f'error: --workdir={workdir} is in use by pid '
      f'{holder.pid} on {socket.gethostname()} (holder)'
  )
  assert os.listdir(workdir) == [workdir_lock.LOCK_FILE]  # Nothing written.


@pytest.mark.slow  # Moved for the default suite's 6 minutes.
def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_note(tmp_path):
  workdir = tmp_path / 'run'
  holder = _hold(workdir)
  holder.send_signal(signal.SIGKILL)  # No chance to release anything.
  holder.wait()
  assert (workdir / workdir_lock.LOCK_FILE).exists()
  done = _run('experiments.run', f'--workdir={workdir}', *SMALL_RUN_FLAGS)
  assert done.returncode == 0, done.stderr[-2000:]
  (note,) = _lines(done.stderr)
  assert note == (
      f'note: --workdir={workdir}: taking over the lock left by '
      f'pid {holder.pid} on {socket.gethostname()} (holder) '
      f'since {note.split(" since ")[1].split(",")[0]}, which '
      'is no longer running'
  )
  assert (
      json.loads((workdir / 'summary.json').read_text())['status']
      == 'completed'
  )
  assert not (workdir / workdir_lock.LOCK_FILE).exists()


def test_a_job_takes_one_lock_on_process_0_only(tmp_path, monkeypatch):
  # The other processes of a multi-host job write no files and hold no lock
  # (tests/test_multihost.py runs the collective with two real processes).
  monkeypatch.setattr(workdir_lock.jax, 'process_index', lambda: 1)
  with workdir_lock.hold_for_job(str(tmp_path / 'run')) as lock:
    assert lock is None and not (tmp_path / 'run').exists()
  monkeypatch.setattr(workdir_lock.jax, 'process_index', lambda: 0)
  with workdir_lock.hold_for_job(str(tmp_path / 'run')) as lock:
    assert (tmp_path / 'run' / workdir_lock.LOCK_FILE).exists()
  assert not (tmp_path / 'run').exists()  # Released, the empty dir gone.
