"""experiments.evaluate: a finished run's checkpoint evaluated after the
fact, in the FID Inception network's features (here with random weights
written in the reference layout) or in the classifier's; bad input is one
line and writes nothing."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from experiments.runner import evaluate_run
from gan_jax.metrics import inception_weights
from tests.helpers import (
    SMALL_RUN_FLAGS,
    random_inception_state_dict,
    small_config,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_FLAGS = [
    '--config.model.width=8',
    '--config.model.latent_dim=8',
    *SMALL_RUN_FLAGS[2:],
]


def _python(*args, timeout=300):
  return subprocess.run(
      [sys.executable, '-m', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


def _no_weights_anywhere(root) -> dict:
  """An environment where the Inception weights are found nowhere: an
  empty cache and a download source that does not exist."""
  env = {k: v for k, v in os.environ.items() if k != inception_weights.ENV_PATH}
  return {
      **env,
      'GAN_JAX_CACHE': str(root / 'empty_cache'),
      inception_weights.ENV_URL: (root / 'gone.pth').as_uri(),
  }


@pytest.fixture(scope='module')
def digits_run(digits_dir, tmp_path_factory):
  """A 4-step digits run (checkpoint at step 4) and a random-weights file
  of the FID Inception network, written as .npz (no PyTorch needed).

  The run asks for Inception features where no weights are to be found,
  so it also shows the fallback to classifier features (its stderr is
  kept in the workdir's parent as run.stderr)."""
  root = tmp_path_factory.mktemp('evaluate')
  workdir = root / 'run'
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          '--variant=non_saturating',
          '--dataset=digits',
          f'--data_dir={digits_dir}',
          f'--workdir={workdir}',
          '--config.eval.features=inception',
          *IMAGE_FLAGS,
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=_no_weights_anywhere(root),
  )
  assert done.returncode == 0, done.stderr[-2000:]
  (root / 'run.stderr').write_text(done.stderr)
  weights = root / 'random_inception.npz'
  np.savez(weights, **random_inception_state_dict())
  return workdir, str(weights)


@pytest.mark.slow  # the 4-step digits run (~30 s of 2 cores) it reads
def test_a_run_without_the_weights_falls_back_to_the_classifier_and_says_so(
    digits_run,
):
  workdir, _ = digits_run
  notes = [
      line
      for line in (workdir.parent / 'run.stderr').read_text().splitlines()
      if line.startswith('note: ')
  ]
  assert len(notes) == 1, notes
  assert (
      f'no Inception weights: put {inception_weights.WEIGHTS_FILE}' in notes[0]
      and 'evaluated in classifier features' in notes[0]
  )
  summary = json.loads((workdir / 'summary.json').read_text())
  protocol = summary['eval_protocol']
  assert protocol['features_note'] == notes[0][len('note: ') :]
  assert protocol['feature_extractor'].startswith('digits classifier')
  assert 'fd' in summary['final_eval'] and summary['status'] == 'completed'


@pytest.mark.slow  # ~11 GFLOP an image: 20 s of Inception on 2 cores.
def test_a_run_is_evaluated_with_inception_features(digits_run):
  workdir, weights = digits_run
  seen = []

  def progress(total, what):
    seen.append((what, total))
    return lambda n: None

  # Few images: the network reads 299x299 whatever the input size, ~11
  # GFLOP an image (about 5 a second on 2 CPU cores).
  report = evaluate_run.evaluate_workdir(
      str(workdir),
      'inception',
      num_samples=8,
      weights=weights,
      any_weights=True,
      batch_size=8,
      progress=progress,
  )
  assert report['step'] == 4 and set(report['results']) == {'ema', 'live'}
  for values in report['results'].values():
    assert set(values) == {
        'fid',
        'kid',
        'inception_score',
        'inception_score_std',
        'precision',
        'recall',
    }
    assert all(np.isfinite(v) for v in values.values()), values
    assert values['fid'] > 0 and 1 <= values['inception_score'] <= 1008
  protocol = report['protocol']
  assert protocol['weights_sha256'] == inception_weights.sha256(weights)
  assert protocol['standard_weights'] is False
  assert protocol['num_samples'] == 8
  assert protocol['reference'].startswith('digits/train, 8 of 1437')
  assert ('digits/train features', 8) in seen
  assert json.loads(open(report['written']).read())['results'] == json.loads(
      json.dumps(report['results'])
  )
  # The reference features are cached beside the data: the second
  # evaluation reads them, and gives the same numbers.
  again = evaluate_run.evaluate_workdir(
      str(workdir),
      'inception',
      num_samples=8,
      weights=weights,
      any_weights=True,
      batch_size=8,
  )
  assert again['results'] == report['results']


@pytest.mark.slow  # Inception compiles once and reads 30 images.
def test_a_run_evaluates_in_inception_features_while_it_trains(
    digits_run, digits_dir, tmp_path
):
  _, weights = digits_run
  workdir = tmp_path / 'run'
  done = _python(
      'experiments.run',
      '--variant=non_saturating',
      '--dataset=digits',
      f'--data_dir={digits_dir}',
      f'--workdir={workdir}',
      '--config.eval.features=inception',
      f'--config.eval.inception.weights={weights}',
      '--config.eval.inception.any_weights=True',
      '--config.eval.inception.num_samples=10',
      '--config.eval.inception.batch_size=10',
      *IMAGE_FLAGS,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'note:' not in done.stderr
  summary = json.loads((workdir / 'summary.json').read_text())
  final = summary['final_eval']
  assert set(final) == {
      'fid',
      'kid',
      'inception_score',
      'inception_score_std',
      'precision',
      'recall',
  }
  protocol = summary['eval_protocol']
  assert protocol['weights_sha256'] == inception_weights.sha256(weights)
  assert protocol['num_samples'] == 10
  assert protocol['reference'].startswith('digits/train, 10 of 1437')
  assert 'FID Inception-v3' in done.stdout
  logged = [
      json.loads(line)
      for line in (workdir / 'metrics.jsonl').read_text().splitlines()
  ]
  assert [r['step'] for r in logged if 'fid' in r] == [4]
  # After the fact, at the same key and count: the same numbers.
  report = evaluate_run.evaluate_workdir(
      str(workdir),
      'inception',
      num_samples=10,
      weights=weights,
      any_weights=True,
      batch_size=10,
  )
  for name, value in final.items():
    assert report['results']['ema'][name] == pytest.approx(
        value, rel=1e-4, abs=1e-6
    ), name


@pytest.mark.slow  # the 4-step digits run it reads
def test_a_run_is_evaluated_with_the_classifier_as_it_trains(digits_run):
  workdir, _ = digits_run
  report = evaluate_run.evaluate_workdir(
      str(workdir), 'classifier', num_samples=100
  )
  summary = json.loads((workdir / 'summary.json').read_text())
  assert set(report['results']) == {'ema', 'live'}
  # The EMA generator at the run's step, key and sample count: what the
  # run reported at its end.
  ema, logged = report['results']['ema'], summary['final_eval']
  assert set(ema) == set(logged)
  for name in logged:
    assert ema[name] == pytest.approx(logged[name], rel=1e-4, abs=1e-6), name
  assert report['protocol']['num_samples'] == 100


@pytest.mark.slow  # ~11 GFLOP an image: 20 s of Inception on 2 cores.
def test_the_command_prints_the_table_and_writes_the_json(digits_run):
  workdir, weights = digits_run
  done = _python(
      'experiments.evaluate',
      f'--workdir={workdir}',
      f'--inception_weights={weights}',
      '--any_weights',
      '--num_samples=4',
      '--batch_size=4',
      '--progress=false',
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert '| G | fid | kid | inception_score |' in done.stdout
  # A new file beside any earlier evaluation's, never over it.
  assert re.search(
      rf'written to {workdir}/evaluation_inception(\.\d+)?\.json', done.stdout
  )


@pytest.mark.slow  # the 4-step digits run it reads
def test_bad_input_is_one_line_and_overwrites_nothing(digits_run, tmp_path):
  workdir, weights = digits_run
  empty = tmp_path / 'empty'
  empty.mkdir()
  no_checkpoint = tmp_path / 'no_checkpoint'
  no_checkpoint.mkdir()
  (no_checkpoint / 'config.json').write_text(
      (workdir / 'config.json').read_text()
  )
  truncated = tmp_path / 'truncated.pth'
  truncated.write_bytes(b'PK\x03\x04 not really a zip')
  before = {p: p.stat().st_mtime_ns for p in workdir.iterdir()}
  cases = [
      (dict(workdir=str(empty)), f'--workdir={empty} holds no run'),
      (
          dict(workdir=str(no_checkpoint), weights=weights),
          f'--workdir={no_checkpoint} has no checkpoint to evaluate',
      ),
      (
          dict(workdir=str(workdir), features='fid'),
          '--features=fid: give inception or classifier',
      ),
      (
          dict(workdir=str(workdir), weights='/nowhere.pth'),
          'no Inception weights file at /nowhere.pth',
      ),
      (
          dict(workdir=str(workdir), weights=weights),
          'is not the FID Inception weights file',
      ),
      (
          dict(workdir=str(workdir), weights=str(truncated), any_weights=True),
          'cannot read the Inception weights',
      ),
      (dict(workdir=str(workdir), num_samples=1), '--num_samples must be'),
  ]
  for kwargs, message in cases:
    with pytest.raises(
        (
            evaluate_run.EvaluationError,
            inception_weights.BadWeights,
            inception_weights.WeightsNotFound,
        )
    ) as error:
      evaluate_run.evaluate_workdir(**kwargs)
    assert message in str(error.value) and '\n' not in str(error.value)
  # The command line says them in one line, exit 1.
  for args, message in [
      (
          [
              f'--workdir={workdir}',
              f'--inception_weights={truncated}',
              '--any_weights',
          ],
          'cannot read the Inception weights',
      ),
      (['--features=inception'], '--workdir: give the run directory'),
  ]:
    done = _python('experiments.evaluate', *args, '--progress=false')
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and len(lines) == 1, (args, done.stderr)
    assert lines[0].startswith('error: ') and message in lines[0], lines
  assert {p: p.stat().st_mtime_ns for p in workdir.iterdir()} == before
  assert os.listdir(empty) == []
  assert sorted(os.listdir(no_checkpoint)) == ['config.json']


def test_a_2d_run_is_refused_in_one_line(tmp_path):
  workdir = tmp_path / 'grid'
  workdir.mkdir()
  (workdir / 'config.json').write_text(json.dumps(small_config().to_dict()))
  with pytest.raises(
      evaluate_run.EvaluationError, match='trained on grid25, a 2-D benchmark'
  ):
    evaluate_run.evaluate_workdir(str(workdir), 'classifier')


# --- Issue 44: a translation run, and the missing weights' way out ----------


def test_missing_inception_weights_are_one_line_naming_the_file_and_the_way_out(
    digits_run, tmp_path
):
  workdir, _ = digits_run
  before = {p: p.stat().st_mtime_ns for p in workdir.iterdir()}
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.evaluate',
          f'--workdir={workdir}',
          '--progress=false',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
      env=_no_weights_anywhere(tmp_path),
  )
  lines = [line for line in done.stderr.splitlines() if line.strip()]
  assert done.returncode == 1 and len(lines) == 1, done.stderr
  assert lines[0].startswith('error: no Inception weights: put ')
  assert inception_weights.WEIGHTS_FILE in lines[0]
  assert lines[0].endswith('--features=classifier'), lines[0]
  assert {p: p.stat().st_mtime_ns for p in workdir.iterdir()} == before


def _translation_workdir(root, pair):
  """A translation run's directory as experiments.translate starts it:
  its config.json (no checkpoint yet)."""
  from experiments.configs import translate as translate_configs
  from experiments.translation import layers

  config = layers.resolve(translate_configs.get_config(), {}, pair=pair)
  workdir = root / pair.replace(':', '_')
  workdir.mkdir()
  (workdir / 'config.json').write_text(json.dumps(config.to_dict()))
  return workdir


def test_a_translation_workdir_is_recognised_and_bad_asks_are_one_line(
    tmp_path,
):
  digits = _translation_workdir(tmp_path, 'digits_rot')
  points = _translation_workdir(tmp_path, 'grid25_shear')
  public = _translation_workdir(tmp_path, 'horse2zebra')
  cases = [
      # Read as a translation run (not as a GAN config missing fields):
      # what it lacks is a checkpoint.
      (digits, 'classifier', f'--workdir={digits} has no checkpoint'),
      (points, 'classifier', 'a pair of 2-D point sets'),
      (public, 'classifier', 'the digit classifier reads digits_rot only'),
      (digits, 'fid', '--features=fid: give inception or classifier'),
  ]
  for workdir, features, message in cases:
    with pytest.raises(evaluate_run.EvaluationError) as error:
      evaluate_run.evaluate_workdir(str(workdir), features)
    assert message in str(error.value) and '\n' not in str(error.value)
  # No weights: the one line names the file, and for digits_rot the
  # classifier's features, which need none.
  env = _no_weights_anywhere(tmp_path)
  saved = {k: os.environ.get(k) for k in env}
  os.environ.update(env)
  os.environ.pop(inception_weights.ENV_PATH, None)
  try:
    for workdir, way_out in ((digits, True), (public, False)):
      with pytest.raises(inception_weights.WeightsNotFound) as missing:
        evaluate_run.evaluate_workdir(str(workdir), 'inception')
      text = str(missing.value)
      assert inception_weights.WEIGHTS_FILE in text and '\n' not in text
      assert text.endswith('--features=classifier') == way_out, text
  finally:
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
  for workdir in (digits, points, public):
    assert os.listdir(workdir) == ['config.json']


@pytest.mark.slow  # A 2-step digits_rot run (~40 s on 2 cores), evaluated.
def test_a_translation_run_is_evaluated_as_it_evaluates_itself(
    digits_dir, tmp_path
):
  workdir = tmp_path / 'cyclegan'
  done = _python(
      'experiments.translate',
      '--pair=digits_rot',
      f'--data_dir={digits_dir}',
      f'--workdir={workdir}',
      '--config.train.steps=2',
      '--config.train.log_every=1',
      '--config.train.eval_every=2',
      '--config.train.checkpoint_every=2',
      '--config.model.g_width=8',
      '--config.model.d_width=8',
      '--config.train.batch_size=4',
      '--config.train.num_devices=1',
      '--progress=false',
  )
  assert done.returncode == 0, done.stderr[-2000:]
  done = _python(
      'experiments.evaluate',
      f'--workdir={workdir}',
      '--features=classifier',
      '--progress=false',
  )
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'CycleGAN (cyclegan) on digits_rot at step 2' in done.stdout
  assert '| translator | cycle_x | cycle_y | accuracy_x2y |' in done.stdout
  report = json.loads((workdir / 'evaluation_classifier.json').read_text())
  summary = json.loads((workdir / 'summary.json').read_text())
  assert report['step'] == 2 and report['features'] == 'classifier'
  # The same checkpoint, test images, classifier and translators: the
  # numbers the run reported at its end, the references' included.
  expected = {
      'trained': summary['final_eval'],
      **summary['reference_translators'],
  }
  rows = [line.split(' |')[0] for line in done.stdout.splitlines()[4:8]]
  assert rows == [
      '| trained',
      '| identity',
      '| known_correspondence',
      '| untrained',
  ], done.stdout
  assert set(report['results']) == set(expected)
  for name, values in expected.items():
    assert set(report['results'][name]) == set(values), name
    for metric, value in values.items():
      assert report['results'][name][metric] == pytest.approx(
          value, rel=1e-4, abs=1e-6
      ), (name, metric)


def test_statistics_are_never_written_over_a_file(tmp_path):
  existing = tmp_path / 'cifar10_train.npz'
  existing.write_bytes(b'a file of the user')
  with pytest.raises(evaluate_run.EvaluationError, match='exists'):
    evaluate_run.write_reference_stats(str(existing), dataset='digits')
  assert existing.read_bytes() == b'a file of the user'


def test_a_folder_run_is_scored_in_inception_features_by_default():
  import ml_collections

  def config(dataset):
    return ml_collections.ConfigDict(
        {'dataset': dataset, 'eval': {'features': 'auto'}}
    )

  # No classifier for one's own images (it needs labelled held-out ones).
  assert evaluate_run.run_features(config('digits'), 'cpu') == 'classifier'
  assert evaluate_run.run_features(config('folder:/x'), 'cpu') == 'inception'
  assert evaluate_run.run_features(config('tfds:svhn'), 'gpu') == 'inception'
