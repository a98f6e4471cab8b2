"""A run's history is append-only (docs/reliability.md): no resume, refusal
or fault loses a checkpoint, a metrics record, a config or a summary.

In-process and small; the same scenarios through the command line, with
real faults, are in tests/test_fault_injection.py (``-m slow``).
"""

import json
import os
import shutil

import chex
import jax
import pytest

from experiments.runner import config_layers, driver, loop
from experiments.runner import train as runner_train
from experiments.runner.train import train_and_evaluate
from experiments.storage import checkpoints, writers
from experiments.sweeps import driver as sweep_driver, spec as sweep_spec
from experiments.sweeps.spec import SweepError
from gan_jax import config as gan_config, state as gan_state
from tests.helpers import SignalAfter, small_config


def _files(workdir):
  """Every file under ``workdir``: path -> (size, mtime)."""
  return {
      os.path.relpath(os.path.join(d, f), workdir): (
          os.stat(os.path.join(d, f)).st_size,
          os.stat(os.path.join(d, f)).st_mtime_ns,
      )
      for d, _, names in os.walk(workdir)
      for f in names
  }


def _like(config):
  spec, hparams, _ = gan_config.build(config)
  return gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  """A finished 8-step run: checkpoints at 4 and 8, evaluations at 4, 8."""
  workdir = tmp_path_factory.mktemp('finished')
  config = small_config()
  summary = train_and_evaluate(config, str(workdir), progress=False)
  return config, workdir, summary


@pytest.fixture
def copy(finished, tmp_path):
  config, source, summary = finished
  workdir = tmp_path / 'run'
  shutil.copytree(source, workdir)
  return config, workdir, summary


# --- 1. A config change the state cannot carry -------------------------------


def test_a_shape_change_is_refused_before_anything_is_touched(copy):
  _, workdir, _ = copy
  before = _files(workdir)
  wider = small_config(model__width=32)  # What --allow_config_change lets by.
  with pytest.raises(checkpoints.StructureMismatch) as error:
    train_and_evaluate(wider, str(workdir), progress=False)
  assert 'give another --workdir' in str(error.value)
  assert _files(workdir) == before  # config.json included.


def test_a_translation_config_never_resumes_a_gan_workdir(copy):
  _, workdir, _ = copy
  from experiments.configs import translate

  for allow in (False, True):
    with pytest.raises(gan_config.ConfigError, match='holds a GAN run'):
      config_layers.check_resume(
          str(workdir), translate.get_config(), allow=allow
      )


def test_a_resume_with_new_settings_keeps_the_old_config(copy):
  config, workdir, _ = copy
  longer = small_config(train__steps=10)
  old = (workdir / 'config.json').read_text()
  train_and_evaluate(longer, str(workdir), progress=False)
  assert (workdir / 'config.until_step_8.json').read_text() == old
  assert (
      json.loads((workdir / 'config.json').read_text())['train']['steps'] == 10
  )


def test_runs_and_sweeps_never_share_a_workdir(copy, tmp_path):
  config, workdir, _ = copy
  with pytest.raises(SweepError, match='holds a run .*another --workdir'):
    sweep_driver.claim_directory(str(workdir), {'seeds': [0]})
  sweep = tmp_path / 'sweep'
  sweep_driver.claim_directory(str(sweep), {'seeds': [0]})
  with pytest.raises(gan_config.ConfigError, match='holds a sweep'):
    config_layers.check_resume(str(sweep), config, allow=True)
  for inside in ('runs/non_saturating__seed0', 'groups/group000'):
    with pytest.raises(gan_config.ConfigError, match='is part of the sweep'):
      config_layers.check_resume(str(sweep / inside), config, allow=True)
  blocker = tmp_path / 'file'
  blocker.write_text('')
  with pytest.raises(SweepError, match='is a file, not a directory'):
    sweep_driver.claim_directory(str(blocker), {'seeds': [0]})


def test_a_final_summary_is_kept_when_the_run_goes_on(copy):
  _, workdir, _ = copy
  old = (workdir / 'summary.json').read_text()
  train_and_evaluate(small_config(train__steps=10), str(workdir), False)
  assert (workdir / 'summary.until_step_8.json').read_text() == old
  assert json.loads((workdir / 'summary.json').read_text())['step'] == 10


@pytest.mark.parametrize(
    'text',
    [
        '{oops',
        '[]',
        '{"status": 5, "step": 8}',
        '{"status": "completed", "step": 8, "final_eval": 7}',
        '{"status": "completed", "step": "x"}',
    ],
)
def test_a_garbled_summary_is_one_line_before_the_end_too(copy, text):
  _, workdir, _ = copy
  (workdir / 'summary.json').write_text(text)
  with pytest.raises(gan_config.ConfigError, match='summary.json cannot be'):
    train_and_evaluate(small_config(train__steps=10), str(workdir), False)
  assert (workdir / 'summary.json').read_text() == text


@pytest.mark.parametrize(
    'name', [checkpoints.DIGESTS, checkpoints.FILE_DIGESTS]
)
@pytest.mark.parametrize('text', ['{bad', '{"8": 5}', '{"8": {"x": 1}}'])
def test_an_unreadable_digests_file_is_moved_aside_with_a_warning(
    copy, name, text
):
  config, workdir, _ = copy
  (workdir / name).write_text(text)
  warnings = []
  ckpt = checkpoints.Checkpointer(str(workdir), 2)
  try:
    assert int(ckpt.restore(_like(config), warn=warnings.append).step) == 8
  finally:
    ckpt.close()
  assert len(warnings) == 1 and 'restored unchecked' in warnings[0]
  assert (workdir / (name + '.unreadable')).read_text() == text
  assert not (workdir / checkpoints.DAMAGED).exists()


# --- Only damage sets a step aside -------------------------------------------


@pytest.mark.parametrize(
    'error,damage',
    [
        (checkpoints.DigestMismatch('differs'), True),
        (json.JSONDecodeError('Unterminated string', '{"a', 1), True),
        (FileNotFoundError(2, 'No such file'), True),
        (ValueError('DATA_LOSS: Error reading "x" in OCDBT database'), True),
        (ValueError('OUT_OF_RANGE: Error opening "zarr" driver'), True),
        (ValueError('FAILED_PRECONDITION: Error reading local file "a"'), True),
        (PermissionError(13, 'Permission denied'), False),
        (MemoryError(), False),
        (OSError(24, 'Too many open files'), False),
        (ValueError('RESOURCE_EXHAUSTED: out of memory'), False),
        (RuntimeError('a bug in the restoring code'), False),
        (TypeError("unhashable type: 'list'"), False),
    ],
)
def test_only_damaged_bytes_count_as_damage(error, damage):
  assert checkpoints.is_damage(error) == damage


def test_a_failure_that_is_not_damage_moves_nothing(copy, monkeypatch):
  config, workdir, _ = copy
  ckpt = checkpoints.Checkpointer(str(workdir), 2)

  def broken(*args, **kwargs):
    raise RuntimeError('a bug in the restoring code')

  monkeypatch.setattr(ckpt._manager, 'restore', broken)
  try:
    with pytest.raises(checkpoints.CheckpointError, match='nothing was moved'):
      ckpt.restore(_like(config), warn=pytest.fail)
  finally:
    ckpt.close()
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['4', '8']
  assert not (workdir / checkpoints.DAMAGED).exists()


def _wrapped(inner: Exception) -> Exception:
  """How orbax raises a tensorstore error met while reading an array."""
  try:
    try:
      raise inner
    except ValueError as error:
      raise Exception(  # pylint: disable=broad-exception-raised
          'Encountered error while reading array index: (slice(0, 4, 1),). '
          'See full TensorStore details: <bound method pybind11_detail_'
          "function_record_v1.spec of TensorStore({\n  'base': {"
      ) from error
  except Exception as wrapped:  # pylint: disable=broad-except
    return wrapped


def test_damage_wrapped_by_orbax_is_damage_and_its_reason_is_the_inner():
  inner = ValueError(
      'OUT_OF_RANGE: Error reading "d.params/0.0" in OCDBT database: '
      'Requested byte range [3, 9) is not valid for value of size 4 '
      '[tensorstore_spec=\'{"context":{"cache_pool":{}}}\'] '
      "[source locations='tensorstore/a.cc:1']\nsecond line"
  )
  wrapped = _wrapped(inner)
  assert checkpoints.is_damage(wrapped)
  assert checkpoints._reason(wrapped) == (
      'OUT_OF_RANGE: Error reading "d.params/0.0" in OCDBT database: '
      'Requested byte range [3, 9) is not valid for value of size 4'
  )
  assert not checkpoints.is_damage(
      _wrapped(ValueError('PERMISSION_DENIED: no'))
  )
  # Without a status, what orbax said, without the repr.
  assert checkpoints._reason(_wrapped(ValueError('x'))) == (
      'Encountered error while reading array index: (slice(0, 4, 1),).'
  )


def _flip(step_dir):
  biggest = max(
      (p for p in step_dir.rglob('*') if p.is_file()),
      key=lambda p: p.stat().st_size,
  )
  data = bytearray(biggest.read_bytes())
  data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
  biggest.write_bytes(bytes(data))


@pytest.mark.slow  # Moved for the default suite's 6 minutes.
def test_a_step_damaged_twice_keeps_both_copies(copy):
  config, workdir, _ = copy
  for round_ in range(2):
    _flip(workdir / 'checkpoints' / '8')
    ckpt = checkpoints.Checkpointer(str(workdir), 2)
    try:
      assert int(ckpt.restore(_like(config), warn=lambda _: None).step) == 4
    finally:
      ckpt.close()
    if round_ == 0:  # Train step 8 again (the run resumes from 4).
      train_and_evaluate(config, str(workdir), progress=False)
  assert sorted(os.listdir(workdir / checkpoints.DAMAGED)) == ['8', '8.1']


def test_files_are_checked_before_orbax_reads_them_and_the_state_after(
    copy,
):
  config, workdir, _ = copy
  steps = workdir / 'checkpoints'
  # Step 8's files replaced by step 4's: well formed, every CRC right.
  shutil.rmtree(steps / '8')
  shutil.copytree(steps / '4', steps / '8')
  for files_recorded in (True, False):
    if not files_recorded:  # Older checkpoints: the state's digest sees it.
      (workdir / checkpoints.FILE_DIGESTS).unlink()
      shutil.copytree(workdir / checkpoints.DAMAGED / '8', steps / '8')
    warnings = []
    ckpt = checkpoints.Checkpointer(str(workdir), 2)
    try:
      restored = ckpt.restore(_like(config), warn=warnings.append)
    finally:
      ckpt.close()
    assert int(restored.step) == 4 and len(warnings) == 1
    assert (
        f'is changed ({checkpoints.FILE_DIGESTS} holds those it was saved'
        if files_recorded
        else 'differ from the digest written when it was saved'
    ) in warnings[0]


# --- 3. No readable checkpoint -----------------------------------------------


def test_no_readable_checkpoint_is_one_error_then_no_fresh_start(copy):
  config, workdir, _ = copy
  for step in ('4', '8'):
    _flip(workdir / 'checkpoints' / step)
  records = writers.read_metrics(str(workdir))
  with pytest.raises(checkpoints.CheckpointError) as error:
    driver.open_workdir(str(workdir), config, _like(config), None, True)
  # It names where the damaged steps are now, not where they were.
  assert f'{workdir}/{checkpoints.DAMAGED}/8' in str(error.value)
  assert f'{workdir}/checkpoints/8' not in str(error.value).split('(')[1]
  # The same command again: refused, not a fresh run over the old one.
  with pytest.raises(checkpoints.CheckpointError, match='another --workdir'):
    train_and_evaluate(config, str(workdir), progress=False)
  assert writers.read_metrics(str(workdir)) == records


# --- 2. Torn and rewound metrics lines ---------------------------------------


def _lines(path):
  return path.read_text().splitlines() if path.exists() else []


def test_a_torn_line_and_records_past_the_step_are_moved_not_dropped(
    tmp_path,
):
  path = tmp_path / writers.METRICS
  good = [
      json.dumps({'step': s, 'split': 'train', 'd_loss': 1.0})
      for s in (2, 4, 6)
  ]
  torn = '{"step": 8, "split": "tra'
  path.write_text('\n'.join(good) + '\n' + torn)
  said = []
  writers.rewind_metrics(str(tmp_path), 4, said.append)
  assert _lines(path) == good[:2]
  assert _lines(tmp_path / writers.REWOUND) == good[2:]
  assert _lines(tmp_path / writers.TORN) == [torn]
  assert len(said) == 2 and 'torn' in said[0] and 'after step 4' in said[1]
  # Nothing else to move: nothing said, nothing rewritten.
  mtime = path.stat().st_mtime_ns
  writers.rewind_metrics(str(tmp_path), 4, pytest.fail)
  assert path.stat().st_mtime_ns == mtime


def test_a_torn_line_in_the_middle_is_moved_too(tmp_path):
  path = tmp_path / writers.METRICS
  path.write_text('{"step": 2}\n{"step": 4, "sp{"step": 6}\n{"step": 6}\n')
  writers.rewind_metrics(str(tmp_path), 6, lambda _: None)
  assert _lines(path) == ['{"step": 2}', '{"step": 6}']
  assert _lines(tmp_path / writers.TORN) == ['{"step": 4, "sp{"step": 6}']
  assert [r['step'] for r in writers.read_metrics(str(tmp_path))] == [2, 6]


def test_binary_garbage_in_the_log_is_moved_byte_for_byte(tmp_path):
  path = tmp_path / writers.METRICS
  garbage = bytes(range(256)) * 2  # Invalid UTF-8, newlines inside.
  path.write_bytes(b'{"step": 2}\n[1, 2]\n' + garbage)
  writers.rewind_metrics(str(tmp_path), 2, lambda _: None)
  assert path.read_bytes() == b'{"step": 2}\n'
  assert (tmp_path / writers.TORN).read_bytes().replace(b'\n', b'') == (
      b'[1, 2]' + garbage.replace(b'\n', b'')
  )
  assert writers.read_metrics(str(tmp_path)) == [{'step': 2}]


def test_a_run_whose_log_was_torn_resumes(copy, capsys):
  config, workdir, expected = copy
  # A disk that filled up mid-record after step 8's checkpoint.
  with open(workdir / writers.METRICS, 'a') as f:
    f.write('{"step": 10, "split": "train", "d_lo')
  longer = small_config(train__steps=10)
  summary = train_and_evaluate(longer, str(workdir), progress=False)
  assert summary['status'] == 'completed' and summary['step'] == 10
  out = capsys.readouterr().out
  assert f'resumed {workdir} from its checkpoint of step 8' in out
  assert 'held 1 torn line(s)' in out
  records = writers.read_metrics(str(workdir))
  assert [r['step'] for r in records if r['split'] == 'train'] == [
      2,
      4,
      6,
      8,
      10,
  ]
  del expected


# --- 5. Re-running a finished run; an interrupted run's summary ---------------


def test_a_finished_run_run_again_writes_nothing(copy, capsys):
  config, workdir, expected = copy
  before = _files(workdir)
  summary = train_and_evaluate(config, str(workdir), progress=False)
  assert _files(workdir) == before
  assert 'finished at step 8 already' in capsys.readouterr().out
  assert summary['wall_seconds'] == pytest.approx(expected['wall_seconds'])
  assert summary['final_eval'] == pytest.approx(expected['final_eval'])


def test_an_interrupted_summary_has_its_reason_and_its_evaluation_step(
    tmp_path, monkeypatch
):
  # One dispatch per step, and the signal looked for after each and once
  # per interval: at the 7th look, after step 5, past step 4's evaluation.
  config = small_config(train__steps_per_dispatch=1)
  monkeypatch.setattr(
      runner_train.preemption, 'StopRequest', lambda: SignalAfter(6)
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'interrupted'
  assert summary['reason'] == (
      'SIGTERM at step 5: checkpoint saved; run the same command to resume'
  )
  assert (summary['step'], summary['final_eval_step']) == (5, 4)
  # Resumed and stopped at once: still step 4's evaluation, from the log.
  monkeypatch.setattr(
      runner_train.preemption, 'StopRequest', lambda: SignalAfter(0)
  )
  again = train_and_evaluate(config, str(tmp_path), progress=False)
  assert (again['step'], again['final_eval_step']) == (6, 4)
  assert again['final_eval'] == pytest.approx(summary['final_eval'])


def test_a_run_stopped_at_an_evaluation_step_evaluates_there_on_resume(
    finished, tmp_path, monkeypatch
):
  # Stopped after step 4 (the 6th look), where it would have evaluated.
  config = small_config(train__steps_per_dispatch=1)
  monkeypatch.setattr(
      runner_train.preemption, 'StopRequest', lambda: SignalAfter(5)
  )
  stopped = train_and_evaluate(config, str(tmp_path), progress=False)
  assert (stopped['step'], stopped['final_eval_step']) == (4, None)
  monkeypatch.undo()
  train_and_evaluate(config, str(tmp_path), progress=False)

  def evals(workdir):
    return [
        r for r in writers.read_metrics(str(workdir)) if r['split'] == 'eval'
    ]

  assert [r['step'] for r in evals(tmp_path)] == [4, 8]
  assert evals(tmp_path) == pytest.approx(evals(finished[1]))


def test_an_interruption_is_reported_with_its_reason():
  hooks = loop.Hooks(
      dispatch=lambda state, first, n: (state, None),
      end_interval=lambda state, outputs, first, started: len(outputs),
      evaluate=lambda state, step, final: {},
      save=lambda state, step: None,
  )
  cadence = loop.Cadence(10, 2, 10, 10, 1)
  outcome, step = loop.train_to_outcome(
      None, 0, cadence, hooks, SignalAfter(0), lambda _: None
  )
  assert outcome['status'] == 'interrupted' and step == 1
  assert outcome['reason'].startswith('SIGTERM at step 1')


# --- A sweep checks for room before training ---------------------------------


def test_a_sweep_without_room_is_refused_before_it_trains(
    tmp_path, monkeypatch
):
  spec = sweep_spec.normalize(
      {
          'set': {
              'model.width': 16,
              'model.depth': 2,
              'train.batch_size': 16,
              'train.steps': 4,
              'eval.num_samples': 100,
          },
          'variants': ['non_saturating'],
      }
  )
  real = shutil.disk_usage
  workdir = tmp_path / 'sweep'
  for free, refused in ((1 << 20, SweepError), ((16 << 20) + 1, None)):
    monkeypatch.setattr(
        checkpoints.shutil,
        'disk_usage',
        lambda path, free=free: real(path)._replace(free=free),
    )
    if refused:  # Not even room for the logs: nothing written at all.
      with pytest.raises(SweepError, match=r'1.0 MiB free.*\(its logs\)'):
        sweep_driver.run_sweep(spec, str(workdir), progress=False)
      assert not workdir.exists()
      continue
    # Room for the logs, not for the group's checkpoints.
    with pytest.raises(checkpoints.NoRoom, match=r'2 checkpoints of'):
      sweep_driver.run_sweep(spec, str(workdir), progress=False)
    assert not (workdir / 'groups' / 'group000' / 'checkpoints').exists()
    chex.assert_equal(list(workdir.rglob('metrics.jsonl')), [])
