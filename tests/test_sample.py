"""experiments.sample: samples out of a checkpoint, the same for the same
command, in the .npz / PNG / points layouts; bad input is one line and
writes nothing. The slow test checks that the evaluation's own draw,
written and scored by experiments.evaluate --samples, gives the run's FD."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.runner import sampling
from experiments.storage import checkpoints, history
from gan_jax import config as gan_config, state as gan_state
from tests.helpers import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _workdir(path, config, step=3):
  """A workdir as a run leaves it: config.json and a checkpoint at
  ``step`` of a freshly initialised state (no training: G's outputs are
  what they are, and the same every time)."""
  os.makedirs(path)
  history.keep_config(str(path), config, 0)
  spec, hparams, _ = gan_config.build(config)
  state = gan_state.compiled_init(spec)(
      __import__('jax').random.PRNGKey(1), hparams
  )
  state = state.replace(step=state.step + step)
  ckpt = checkpoints.Checkpointer(str(path), 2)
  ckpt.save(step, state)
  ckpt.close()
  return str(path)


@pytest.fixture(scope='module')
def image_run(tmp_path_factory):
  """A conditional DCGAN on 8x8 digits, 4 channels wide."""
  config = small_config(
      dataset='digits',
      model__name='dcgan',
      model__width=4,
      model__latent_dim=4,
      model__conditional=True,
      data__dir=str(tmp_path_factory.mktemp('no_data')),
  )
  return _workdir(tmp_path_factory.mktemp('image') / 'run', config)


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
  config = small_config(dataset='ring8', model__width=8)
  return _workdir(tmp_path_factory.mktemp('toy') / 'run', config)


def _sample(**fields):
  return sampling.sample(sampling.Request(**fields), announce=lambda _: None)


@pytest.fixture(scope='module')
def image_loaded(image_run):
  return sampling.load_run(image_run)


def test_same_command_same_images_npz_layout(image_run, image_loaded, tmp_path):
  # The library call a command makes: any batch size, the same images.
  a = sampling.generate(image_loaded, 4, seed=3, batch_size=4)
  b = sampling.generate(image_loaded, 4, seed=3, batch_size=2)
  c = sampling.generate(image_loaded, 4, seed=4, batch_size=4)
  np.testing.assert_array_equal(
      sampling.to_uint8(a[0]), sampling.to_uint8(b[0])
  )
  assert not np.array_equal(a[0], c[0])  # Another seed.
  np.testing.assert_array_equal(a[1], np.arange(4) % 10)  # Balanced.
  out = str(tmp_path / 'a.npz')
  _sample(workdir=image_run, out=out, num=4, seed=3)
  npz = np.load(out)
  assert npz['arr_0'].dtype == np.uint8 and npz['arr_0'].shape == (4, 8, 8, 1)
  np.testing.assert_array_equal(npz['arr_0'], sampling.to_uint8(a[0]))
  np.testing.assert_array_equal(npz['arr_1'], a[1])
  info = json.loads(str(npz['gan_jax']))
  assert info['step'] == 3 and info['seed'] == 3 and info['generator'] == 'ema'


def test_pngs_with_labels_and_never_replaced(image_run, tmp_path):
  from PIL import Image

  out = str(tmp_path / 'pngs')
  _sample(workdir=image_run, out=out, num=4, label=4)
  assert sorted(os.listdir(out)) == [
      *[f'00000{i}.png' for i in range(4)],
      'labels.csv',
  ]
  assert np.asarray(Image.open(os.path.join(out, '000001.png'))).shape == (8, 8)
  with open(os.path.join(out, 'labels.csv')) as f:
    assert list(csv.reader(f))[1:] == [[f'00000{i}.png', '4'] for i in range(4)]
  before = os.path.getmtime(os.path.join(out, '000000.png'))
  with pytest.raises(sampling.SampleError, match='--overwrite'):
    _sample(workdir=image_run, out=out, num=2)
  # Fewer images over more, even with --overwrite: the folder would mix
  # two samples (and a scorer reading it would count both).
  with pytest.raises(sampling.SampleError, match='2 other sample files'):
    _sample(workdir=image_run, out=out, num=2, overwrite=True)
  assert os.path.getmtime(os.path.join(out, '000000.png')) == before


def test_interpolation_grid(image_run, tmp_path):
  from PIL import Image

  out = str(tmp_path / 'i.png')
  _sample(workdir=image_run, out=out, interpolate=2, interpolate_steps=2)
  # 2 rows of 2 images, 8x8 each shown 8 times larger, 1-pixel borders.
  assert np.asarray(Image.open(out)).shape[:2] == (131, 131)


def test_slerp_keeps_the_ends_and_the_norm():
  import jax.numpy as jnp

  z0 = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  z1 = jnp.array([[0.0, 1.0], [0.0, 2.0]])  # The second pair parallel.
  path = np.asarray(sampling.slerp(z0, z1, jnp.linspace(0.0, 1.0, 5)))
  np.testing.assert_allclose(path[:, 0], z0, atol=1e-6)
  np.testing.assert_allclose(path[:, -1], z1, atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(path[0], axis=-1), 1.0, atol=1e-6)
  np.testing.assert_allclose(path[1], np.tile([[0.0, 2.0]], (5, 1)))


def test_points_of_a_2d_run(toy_run, tmp_path):
  _sample(workdir=toy_run, out=str(tmp_path / 'p.npy'), num=4)
  points = np.load(tmp_path / 'p.npy')
  assert points.shape == (4, 2) and points.dtype == np.float32
  sampling.write_points(str(tmp_path / 'p.csv'), 'csv', points)
  rows = list(csv.reader(open(tmp_path / 'p.csv')))
  assert rows[0] == ['x', 'y']
  np.testing.assert_allclose(np.array(rows[1:], float), points, rtol=1e-6)


def test_points_are_in_the_data_coordinates_of_the_run(toy_run, tmp_path):
  # The same G (same seed, same outputs) trained with data.scale=2: its
  # points are the network outputs / 2, those of ring8's own scale / 1.414.
  config = small_config(dataset='ring8', model__width=8, data__scale=2.0)
  scaled_run = _workdir(tmp_path / 'scaled', config)
  _sample(workdir=toy_run, out=str(tmp_path / 'own.npy'), num=4)
  _sample(workdir=scaled_run, out=str(tmp_path / 'scaled.npy'), num=4)
  own, scaled = np.load(tmp_path / 'own.npy'), np.load(tmp_path / 'scaled.npy')
  np.testing.assert_allclose(scaled * 2.0, own * 1.414, rtol=1e-5)


@pytest.mark.parametrize(
    'fields, says',
    [
        (dict(num=0), '--num=0'),
        (dict(num=2, step=9), 'keeps checkpoints of steps 3'),
        (dict(num=2, truncation=0.5), 'StyleGAN2'),
        (dict(num=2, label=10), '--label=10: give a class in 0..9'),
        (dict(num=2, generator='best'), '--generator=best'),
        (dict(num=2, out='x.csv'), '.npy and .csv are for 2-D runs'),
        (dict(num=2, out='/proc/x.npz'), 'cannot write there'),
        (dict(num=2, seed='eval', label=1), 'leave out --label'),
        (dict(interpolate=2, out='x.npz'), 'one .png grid'),
        (dict(num=2, out='x.jpg'), 'a directory without a file extension'),
    ],
)
def test_bad_input_is_one_line(image_run, tmp_path, fields, says):
  out = fields.pop('out', 'x.npz')
  out = out if out.startswith('/') else str(tmp_path / out)
  with pytest.raises(sampling.SampleError, match=says.replace('.', r'\.')):
    _sample(workdir=image_run, out=out, **fields)
  assert os.listdir(tmp_path) == []


def test_2d_run_refuses_npz_and_no_checkpoint_is_one_line(toy_run, tmp_path):
  with pytest.raises(sampling.SampleError, match='FILE.npy or --out=FILE.csv'):
    _sample(workdir=toy_run, out=str(tmp_path / 'x.npz'), num=2)
  empty = tmp_path / 'empty'
  os.makedirs(empty)
  history.keep_config(str(empty), small_config(), 0)
  with pytest.raises(sampling.SampleError, match='no checkpoint'):
    _sample(workdir=str(empty), out=str(tmp_path / 'x.npy'), num=2)
  # The image-only options, each named as given.
  for fields, says in (
      (dict(seed='eval'), '--seed=eval: for image runs only'),
      (dict(label=1), '--label=1: for image runs only'),
  ):
    with pytest.raises(sampling.SampleError, match=says):
      _sample(workdir=toy_run, out=str(tmp_path / 'x.npy'), num=2, **fields)
  assert sorted(os.listdir(tmp_path)) == ['empty']
  assert sampling.parse_seed('eval') == 'eval'
  with pytest.raises(sampling.SampleError, match='--seed=-1'):
    sampling.parse_seed('-1')


@pytest.mark.slow
def test_evaluation_draw_scored_from_the_file_gives_the_runs_fd(
    digits_dir, tmp_path
):
  """A digits run evaluated at step 200 on 300 images; --seed=eval writes
  the images that evaluation drew, and experiments.evaluate --samples
  scores them against the same reference: the same FD up to the uint8
  quantisation of the file (the run scores float images)."""

  def python(*args):
    done = subprocess.run(
        [sys.executable, '-m', *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done

  workdir = str(tmp_path / 'run')
  python(
      'experiments.run',
      '--variant=non_saturating',
      '--dataset=digits',
      f'--data_dir={digits_dir}',
      f'--workdir={workdir}',
      '--config.model.width=8',
      '--config.model.latent_dim=8',
      '--config.train.steps=200',
      '--config.train.log_every=100',
      '--config.train.eval_every=200',
      '--config.train.checkpoint_every=200',
      '--config.eval.num_samples=300',
      # One device: 8 fake CPU devices' all-reduce can stall a loaded
      # 2-core machine past XLA's rendezvous timeout.
      '--config.train.num_devices=1',
      '--config.ema.decay=0.9',  # An EMA G that has moved from its init.
      '--progress=false',
  )
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    evals = [r for r in map(json.loads, f) if r['split'] == 'eval']
  run = [r for r in evals if r['step'] == 200][0]
  out = str(tmp_path / 'x.npz')
  python(
      'experiments.sample',
      f'--workdir={workdir}',
      '--num=300',
      '--seed=eval',
      f'--out={out}',
  )
  python(
      'experiments.evaluate',
      f'--workdir={workdir}',
      f'--samples={out}',
      '--progress=false',
  )
  # Another draw of the same G, for scale: a new file name, nothing replaced.
  other = str(tmp_path / 'seed0.npz')
  python(
      'experiments.sample',
      f'--workdir={workdir}',
      '--num=300',
      f'--out={other}',
  )
  python(
      'experiments.evaluate',
      f'--workdir={workdir}',
      f'--samples={other}',
      '--progress=false',
  )

  def scored(name):
    with open(os.path.join(workdir, name)) as f:
      return json.load(f)

  first = scored('evaluation_classifier_samples.json')
  assert first['step'] == 200
  assert first['protocol']['num_samples'] == 300
  got = first['results']['samples']
  another = scored('evaluation_classifier_samples.1.json')['results']['samples']
  # Rounding to uint8 moves a pixel by at most 1/255 of the [-1, 1] range.
  # Measured, it moved FD by 2e-5 to 2e-4 of itself (digits runs of 4 and
  # 200 steps); another draw of 300 images from the same G moved it by
  # 1.1%. 1e-3 is five times the first and a tenth of the second.
  assert got['fd'] == pytest.approx(run['fd'], rel=1e-3)
  assert got['kid'] == pytest.approx(run['kid'], rel=1e-3, abs=1.0)
  assert another['fd'] != pytest.approx(run['fd'], rel=1e-3)
  assert got['modes'] == run['modes']


def test_evaluate_samples_refuses_a_file_of_another_layout(image_run, tmp_path):
  from experiments.runner import evaluate_run

  bad = str(tmp_path / 'bad.npz')
  np.savez(bad, np.zeros((4, 8, 8, 3), np.uint8))  # 3 channels, not 1.
  with pytest.raises(evaluate_run.EvaluationError, match=r'uint8 \[N >= 2'):
    evaluate_run.evaluate_samples(image_run, bad)
  with pytest.raises(evaluate_run.EvaluationError, match='no such file'):
    evaluate_run.evaluate_samples(image_run, str(tmp_path / 'none.npz'))
  text = tmp_path / 'text.npz'
  text.write_text('not an archive')
  with pytest.raises(evaluate_run.EvaluationError, match='cannot be read as'):
    evaluate_run.evaluate_samples(image_run, str(text))
  images = np.zeros((4, 8, 8, 1), np.uint8)
  for labels, says in [
      (
          np.array([0, 1, 42, 3]),
          r'in \[0, 42\]; expected 4 integers in \[0, 10\)',
      ),
      (np.array([0, 1]), r'int64 \[2\]'),
      (np.array([0.5, 1, 2, 3]), 'float64'),
  ]:
    np.savez(bad, images, labels)
    with pytest.raises(evaluate_run.EvaluationError, match=says):
      evaluate_run.evaluate_samples(image_run, bad)
  first = evaluate_run.free_name(str(tmp_path), 'evaluation_x_samples')
  open(first, 'w').close()
  assert evaluate_run.free_name(str(tmp_path), 'evaluation_x_samples') == str(
      tmp_path / 'evaluation_x_samples.1.json'
  )
