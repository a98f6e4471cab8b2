"""Multi-host training for real: two processes on 127.0.0.1, joined by
jax.distributed with CPU (gloo) collectives, 2 CPU devices each, against one
process with 4 devices; and the start-up failures that must not hang."""

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from experiments.storage import checkpoints
from gan_jax import config as gan_config, state as gan_state
from tests.helpers import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = [
    '--variant=wgan_gp',
    '--config.model.width=16',
    '--config.model.depth=2',
    '--config.train.batch_size=16',
    '--config.train.log_every=2',
    '--config.train.eval_every=4',
    '--config.train.checkpoint_every=4',
    '--config.eval.num_samples=100',
    '--progress=false',
    # Constant rates: a linear decay would depend on train.steps,
    # which the resume below raises from 4 to 8.
    '--config.optim.g.schedule=constant',
    '--config.optim.d.schedule=constant',
]
TIMEOUT = 240  # Seconds for any one process: a hang fails the test.


def _env():
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)  # conftest's 8 devices; --cpu_devices instead.
  return env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _start(args):
  return subprocess.Popen(
      [sys.executable, '-m', 'experiments.run', *args],
      cwd=ROOT,
      env=_env(),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _finish(process):
  try:
    out, err = process.communicate(timeout=TIMEOUT)
  except subprocess.TimeoutExpired:
    process.kill()
    raise
  return process.returncode, out, err


def _start_two(extra, timeout=60):
  port = _free_port()
  return [
      _start(
          [
              *extra,
              f'--coordinator_address=127.0.0.1:{port}',
              '--num_processes=2',
              f'--process_id={i}',
              '--cpu_devices=2',
              f'--distributed_timeout={timeout}',
          ]
      )
      for i in range(2)
  ]


def _errors(stderr):
  return [line for line in stderr.splitlines() if line.startswith('error')]


def _final_state(workdir):
  """The last checkpoint, restored on this process's first device."""
  spec, hparams, _ = gan_config.build(
      small_config(
          'wgan_gp',
          optim__g__schedule='constant',
          optim__d__schedule='constant',
      )
  )
  like = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    return ckpt.latest_step(), jax.device_get(ckpt.restore(like))
  finally:
    ckpt.close()


def _replace_contents(step_dir, other_step_dir):
  """Damage that orbax cannot see: a step's files replaced by another
  step's, all well-formed (the values' own bytes live in tensorstore files
  whose index is checksummed, and where flipped bytes are often unused)."""
  shutil.rmtree(step_dir)
  shutil.copytree(other_step_dir, step_dir)


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_two_hosts_train_and_resume_like_one_host_with_four_devices(tmp_path):
  two, one = tmp_path / 'two_hosts', tmp_path / 'one_host'
  single = _start(
      [*FLAGS, '--config.train.steps=8', '--cpu_devices=4', f'--workdir={one}']
  )
  for process in _start_two(
      [*FLAGS, '--config.train.steps=8', f'--workdir={two}']
  ):
    code, _, err = _finish(process)
    assert code == 0, err[-2000:]
  assert sorted(os.listdir(two / 'checkpoints')) == ['4', '8']
  # A damaged last checkpoint: both hosts see it through its digest, set it
  # aside, resume from step 4 and train to 8 again.
  _replace_contents(two / 'checkpoints' / '8', two / 'checkpoints' / '4')
  results = [
      _finish(p)
      for p in _start_two(
          [*FLAGS, '--config.train.steps=8', f'--workdir={two}']
      )
  ]
  for code, _, err in [*results, _finish(single)]:
    assert code == 0, err[-2000:]
    assert 'taking over the lock' not in err  # Released by the first job.
  assert not (two / '.lock').exists()  # One lock per job, released.
  out = results[0][1]  # Process 0 reports.
  assert (
      f'warning: checkpoint {two}/checkpoints/8 is damaged '
      '(its contents differ from the digest'
  ) in out, out[-2000:]
  assert os.listdir(two / 'damaged_checkpoints') == ['8']

  # Only process 0 reports and writes: one summary, one record per step.
  assert 'completed after 8 steps' in results[0][1]
  assert 'completed' not in results[1][1]  # (gloo's notes go to stdout)
  with open(two / 'summary.json') as f:
    summary = json.load(f)
  assert (summary['processes'], summary['devices']) == (2, '4 x cpu')
  with open(two / 'metrics.jsonl') as f:
    train_steps = [
        r['step'] for r in map(json.loads, f) if r['split'] == 'train'
    ]
  assert train_steps == [2, 4, 6, 8]  # Steps 6 and 8 written again.

  (step_two, state_two), (step_one, state_one) = (
      _final_state(two),
      _final_state(one),
  )
  assert step_two == step_one == 8
  # The same numbers to float rounding (the all-reduces sum in another
  # order across processes).
  jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
      state_two,
      state_one,
  )


def _wait_for_training(processes, workdir, metrics_glob):
  """Returns once a metrics file under ``workdir`` holds a record; fails if
  a process ends first or TIMEOUT passes."""
  deadline = time.time() + TIMEOUT
  while not any(p.read_text().strip() for p in workdir.glob(metrics_glob)):
    assert time.time() < deadline and all(p.poll() is None for p in processes)
    time.sleep(0.2)


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_a_signal_to_one_host_stops_both_at_one_step(tmp_path):
  """A scheduler may signal only some hosts; they agree (an all-gather per
  log interval), save one checkpoint at the same step and exit 143; the
  same command resumes there."""
  workdir = tmp_path / 'run'
  long_run = [
      *FLAGS,
      f'--workdir={workdir}',
      '--config.train.steps=1000000',
      '--config.train.eval_every=1000000',
      '--config.train.checkpoint_every=1000000',
  ]
  processes = _start_two(long_run)
  _wait_for_training(processes, workdir, 'metrics.jsonl')
  processes[1].send_signal(signal.SIGTERM)
  results = [_finish(p) for p in processes]
  assert [code for code, _, _ in results] == [143, 143], results[0][2][-2000:]
  with open(workdir / 'summary.json') as f:
    summary = json.load(f)
  step = summary['step']
  assert (summary['status'], summary['interrupted_by']) == (
      'interrupted',
      'SIGTERM',
  )
  assert 0 < step < 1000000 and step % 2 == 0  # On the log grid.
  assert os.listdir(workdir / 'checkpoints') == [str(step)]

  resumed = [
      _finish(p)
      for p in _start_two([*long_run, f'--config.train.steps={step + 2}'])
  ]
  for code, _, err in resumed:
    assert code == 0, err[-2000:]
  assert f'completed after {step + 2} steps' in resumed[0][1]


@pytest.mark.slow  # A process waits out its peer (~4 s).
def test_a_missing_process_ends_in_one_line_not_a_hang(tmp_path):
  port = _free_port()
  code, _, err = _finish(
      _start(
          [
              *FLAGS,
              f'--workdir={tmp_path / "run"}',
              f'--coordinator_address=127.0.0.1:{port}',
              '--num_processes=2',
              '--process_id=1',
              '--distributed_timeout=3',
          ]
      )
  )
  assert code == 1
  assert _errors(err) == [line for line in err.splitlines() if line.strip()]
  assert 'not every process connected within 3 s' in err
  assert not (tmp_path / 'run').exists()


def test_processes_that_disagree_on_the_count_all_stop(tmp_path):
  port = _free_port()
  procs = [
      _start(
          [
              *FLAGS,
              f'--workdir={tmp_path / "run"}',
              f'--coordinator_address=127.0.0.1:{port}',
              f'--num_processes={count}',
              f'--process_id={i}',
              '--distributed_timeout=30',
          ]
      )
      for i, count in enumerate((2, 3))
  ]
  for code, _, err in map(_finish, procs):
    assert code == 1
    assert 'the processes asked for [2, 3] but 2 joined' in err, err[-2000:]
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize(
    'args,message',
    [
        (
            [
                '--coordinator_address=127.0.0.1:1',
                '--num_processes=2',
                '--process_id=2',
            ],
            '--process_id=2: give 0 .. 1',
        ),
        (
            [
                '--coordinator_address=node0',
                '--num_processes=2',
                '--process_id=0',
            ],
            "--coordinator_address='node0': give host:port",
        ),
        (['--num_processes=2'], 'need --coordinator_address'),
        (['--coordinator_address=127.0.0.1:1'], 'also give --num_processes'),
        (
            ['--distributed', '--distributed_timeout=5'],
            '--distributed: cannot join the job',
        ),
    ],
)
def test_bad_launch_options_are_one_line(args, message, tmp_path):
  code, _, err = _finish(_start([*args, f'--workdir={tmp_path / "run"}']))
  assert code == 1
  assert _errors(err) == [line for line in err.splitlines() if line.strip()]
  assert message in err
  assert not (tmp_path / 'run').exists()


SWEEP_FLAGS = [
    '--variants=wgan_gp,non_saturating',
    '--seeds=3',
    '--dataset=grid25',
    '--set=model.width=16',
    '--set=model.depth=2',
    '--set=train.batch_size=16',
    '--set=train.steps=8',
    '--set=train.log_every=2',
    '--set=train.eval_every=4',
    '--set=train.checkpoint_every=4',
    '--set=eval.num_samples=200',
    '--progress=false',
]


def _sweep(args):
  return subprocess.Popen(
      [sys.executable, '-m', 'experiments.sweep', *SWEEP_FLAGS, *args],
      cwd=ROOT,
      env=_env(),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _results(workdir):
  with open(workdir / 'results.csv') as f:
    rows = list(csv.DictReader(f))
  return [
      {
          k: v
          for k, v in row.items()
          if k
          in (
              'run',
              'status',
              'step',
              'modes',
              'high_quality_pct',
              'reverse_kl',
              'sliced_w1',
          )
      }
      for row in rows
  ]


@pytest.mark.slow
def test_two_host_sweep_matches_one_host(tmp_path):
  """A sweep's runs spread over two processes' devices: the same table as
  one process with 4 devices, also after a damaged checkpoint (~60 s)."""
  port = _free_port()
  procs = [
      _sweep(
          [
              f'--workdir={tmp_path / "two"}',
              f'--coordinator_address=127.0.0.1:{port}',
              '--num_processes=2',
              f'--process_id={i}',
              '--cpu_devices=2',
          ]
      )
      for i in range(2)
  ]
  single = _sweep([f'--workdir={tmp_path / "one"}', '--cpu_devices=4'])
  for process in [*procs, single]:
    code, _, err = _finish(process)
    assert code == 0, err[-2000:]
  assert _results(tmp_path / 'two') == _results(tmp_path / 'one')

  # No host holds a group's whole state: each recorded the digests of its
  # own pieces. One of process 1's pieces of step 8 no longer matches: on
  # resuming, process 1 finds it, both hosts set step 8 aside, resume from
  # step 4 and reach the same table.
  two = tmp_path / 'two'
  group = two / 'groups' / 'group000'
  path = group / 'checkpoint_digests.process1.json'
  with open(path) as f:
    digests = json.load(f)
  assert sorted(digests) == ['4', '8']
  assert not (group / checkpoints.DIGESTS).exists()
  piece = sorted(k for k in digests['8'] if '[2:3' in k)[0]
  digests['8'][piece] = '0' * 64
  with open(path, 'w') as f:
    json.dump(digests, f)
  for summary in (two / 'runs').glob('*/summary.json'):
    summary.unlink()  # The runs look interrupted at step 8.
  port = _free_port()
  results = [
      _finish(p)
      for p in [
          _sweep(
              [
                  f'--workdir={two}',
                  f'--coordinator_address=127.0.0.1:{port}',
                  '--num_processes=2',
                  f'--process_id={i}',
                  '--cpu_devices=2',
              ]
          )
          for i in range(2)
      ]
  ]
  for code, out, err in results:
    assert code == 0, err[-2000:]
    assert (
        f'warning: checkpoint {group}/checkpoints/8 is damaged '
        '(its contents differ from the digests'
    ) in out, out[-2000:]
  assert os.listdir(group / 'damaged_checkpoints') == ['8']
  assert _results(two) == _results(tmp_path / 'one')


@pytest.mark.slow
def test_a_signal_to_one_host_stops_a_two_host_sweep_at_one_step(tmp_path):
  """As for a run: the sweep's hosts agree once per log interval, save
  the group at one step, exit 143, and the same command resumes (~80 s)."""
  workdir = tmp_path / 'sweep'
  steps = 1000  # ~20 s in two-step intervals: time to signal mid-way.

  def start_two():
    port = _free_port()
    return [
        _sweep(
            [
                f'--workdir={workdir}',
                '--num_processes=2',
                '--cpu_devices=2',
                f'--coordinator_address=127.0.0.1:{port}',
                f'--process_id={i}',
                f'--set=train.steps={steps}',
                f'--set=train.eval_every={steps}',
                f'--set=train.checkpoint_every={steps}',
            ]
        )
        for i in range(2)
    ]

  procs = start_two()
  _wait_for_training(procs, workdir, 'runs/*/metrics.jsonl')
  procs[1].send_signal(signal.SIGTERM)
  results = [_finish(p) for p in procs]
  assert [code for code, _, _ in results] == [143, 143], results[0][2][-2000:]
  saved = os.listdir(workdir / 'groups' / 'group000' / 'checkpoints')
  assert len(saved) == 1 and 0 < int(saved[0]) < steps
  assert int(saved[0]) % 2 == 0  # On the log grid.
  for code, _, err in [_finish(p) for p in start_two()]:
    assert code == 0, err[-2000:]
  assert {r['status'] for r in _results(workdir)} == {'completed'}
  assert {r['step'] for r in _results(workdir)} == {str(steps)}
