"""The Inception preprocessing modes (eval.inception.resize) against the
reference code of the tools whose numbers they reproduce, and FID's
reference statistics files in and out.

* ``pytorch``: pytorch-fid's own ``InceptionV3`` (resize_input and
  normalize_input, fed uint8 / 255 as its dataset code does);
* ``clean``: clean-fid's own resizer (``make_resizer('PIL', False,
  'bicubic', (299, 299))``) and its feature code's scaling
  (``InceptionV3W.forward``);
* ``tensorflow``: torch-fidelity's, in tests/test_inception.py.

The networks carry *random* weights in the reference layout (no
download). pytorch-fid and clean-fid are test-only (.ci/run installs them
with --no-deps); pytorch-fid subclasses torchvision's Inception blocks,
and torchvision's PyPI build registers C operators that need CUDA
libraries at import beside the CPU build of torch: an empty
``torchvision._meta_registrations`` stands in for that module (the
Inception classes use none of those operators). Without the packages the
tests are skipped.
"""

import collections
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default as default_config
from experiments.runner import config_layers, evaluate_run, validation
from gan_jax import inception_evaluation
from gan_jax.config import ConfigError
from gan_jax.metrics import inception
from tests import helpers
from tests.helpers import random_inception_state_dict


def _images(size: int, count: int = 3, seed: int = 0) -> np.ndarray:
  return np.random.default_rng(seed).integers(
      0, 256, (count, size, size, 3), dtype=np.uint8
  )


def _import_pytorch_fid():
  """pytorch_fid.inception, importing torchvision without its C-operator
  registrations (see the module docstring)."""
  pytest.importorskip('torch')
  pytest.importorskip('pytorch_fid')
  helpers.import_torchvision()
  try:
    import pytorch_fid.inception as module
  except (ImportError, RuntimeError) as error:
    pytest.skip(f'pytorch-fid does not import here: {error}')
  return module


def _pytorch_fid_network(state, monkeypatch, **kwargs):
  """pytorch-fid's InceptionV3 (FID blocks) with ``state``'s weights: its
  download is answered with them."""
  import torch

  module = _import_pytorch_fid()
  weights = collections.OrderedDict(
      (k, torch.from_numpy(v)) for k, v in state.items()
  )
  monkeypatch.setattr(
      module, 'load_state_dict_from_url', lambda *a, **k: weights
  )
  return module.InceptionV3([3], **kwargs).eval()


@pytest.fixture(scope='module')
def random_state():
  return random_inception_state_dict()


# --- The resizes alone (fast) -----------------------------------------------


@pytest.mark.parametrize('size', [8, 32, 300])
def test_pil_bicubic_resize_equals_clean_fids_resizer(size):
  # Up (the kernel as it is) and down (widened: antialiased), a
  # non-square image; clean-fid's resizer is PIL on float32 channels.
  resize = pytest.importorskip('cleanfid.resize')
  image = _images(size, 1)[0][:, : size - 1]
  theirs = resize.make_resizer('PIL', False, 'bicubic', (299, 299))(image)
  ours = inception.resize_bicubic_pil(jnp.asarray(image[None], jnp.float32))
  assert ours.shape == (1, 299, 299, 3)
  # PIL sums in float64, this in float32: ~1e-5 of the range.
  np.testing.assert_allclose(np.asarray(ours[0]), theirs, rtol=0, atol=1e-3)


def test_pil_bicubic_weights_are_pils():
  # Without clean-fid: PIL itself, on one 'F' channel, both directions.
  from PIL import Image

  row = np.random.default_rng(1).uniform(0, 255, (5, 11)).astype(np.float32)
  for out in (4, 29):
    expected = np.asarray(
        Image.fromarray(row, mode='F').resize((out, 5), Image.BICUBIC)
    )
    got = row @ inception.pil_bicubic_matrix(11, out).T
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize('size', [32, 500])
def test_pytorch_resize_equals_f_interpolate(size):
  torch = pytest.importorskip('torch')
  images = _images(size, 2)
  theirs = torch.nn.functional.interpolate(
      torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255,
      size=(299, 299),
      mode='bilinear',
      align_corners=False,
  )
  ours = inception.preprocess(jnp.asarray(images), resize='pytorch')
  np.testing.assert_allclose(
      np.asarray(ours),
      (2 * theirs - 1).permute(0, 2, 3, 1).numpy(),
      rtol=0,
      atol=2e-6,
  )


def test_the_modes_preprocess_differently():
  images = jnp.asarray(_images(32, 1))
  out = {m: inception.preprocess(images, m) for m in inception.RESIZE_MODES}
  for a in inception.RESIZE_MODES:
    for b in inception.RESIZE_MODES:
      if a < b:
        assert float(jnp.abs(out[a] - out[b]).max()) > 1e-2, (a, b)
  with pytest.raises(ValueError, match="resize 'area': give one of"):
    inception.preprocess(images, 'area')


# --- The whole network against the reference code ---------------------------

SLOW = pytest.mark.slow  # 32 px in the default suite, 64 px in the full one.


@pytest.mark.parametrize('size', [32, pytest.param(64, marks=SLOW)])
def test_pytorch_mode_equals_pytorch_fid(random_state, monkeypatch, size):
  import torch

  network = _pytorch_fid_network(random_state, monkeypatch)
  images = _images(size, seed=size)
  with torch.no_grad():
    # As pytorch-fid's ImagePathDataset feeds it: ToTensor, uint8 / 255.
    theirs = network(torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0)
  theirs = theirs[0][:, :, 0, 0].numpy()
  variables = inception.variables_from_state_dict(random_state)
  ours = np.asarray(
      inception.features(variables, jnp.asarray(images), 'pytorch')['pool3']
  )
  np.testing.assert_allclose(
      ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max()
  )
  # Not the default mode's numbers: the preprocessing matters.
  default = np.asarray(
      inception.features(variables, jnp.asarray(images))['pool3']
  )
  assert np.abs(default - theirs).max() > 1e-3 * np.abs(theirs).max()


@pytest.mark.parametrize('size', [32, pytest.param(64, marks=SLOW)])
def test_clean_mode_equals_clean_fid(random_state, monkeypatch, size):
  # clean-fid's resizer, then its InceptionV3W.forward (the scaling,
  # resize_inside=False as mode 'clean' builds it) around the FID network
  # (pytorch-fid's, with these weights, standing in for the TorchScript
  # file clean-fid downloads).
  import torch

  resize = pytest.importorskip('cleanfid.resize')
  torchscript = pytest.importorskip('cleanfid.inception_torchscript')
  body = _pytorch_fid_network(
      random_state, monkeypatch, resize_input=False, normalize_input=False
  )

  class Layers(torch.nn.Module):

    def forward(self, x):
      return body(x)[0]

  wrapper = torchscript.InceptionV3W.__new__(torchscript.InceptionV3W)
  torch.nn.Module.__init__(wrapper)
  wrapper.layers, wrapper.resize_inside = Layers(), False
  images = _images(size, seed=size + 1)
  resizer = resize.make_resizer('PIL', False, 'bicubic', (299, 299))
  batch = np.stack([resizer(image) for image in images])
  with torch.no_grad():
    theirs = wrapper(torch.from_numpy(batch).permute(0, 3, 1, 2)).numpy()
  variables = inception.variables_from_state_dict(random_state)
  ours = np.asarray(
      inception.features(variables, jnp.asarray(images), 'clean')['pool3']
  )
  np.testing.assert_allclose(
      ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max()
  )


# --- The config field -------------------------------------------------------


def test_the_resize_field_is_checked_and_defaults_on_old_runs():
  config = default_config.get_config()
  assert config.eval.inception.resize == 'tensorflow'
  config.eval.inception.resize = 'bilinear'
  with pytest.raises(ConfigError) as error:
    validation.validate_eval(config)
  message = str(error.value)
  assert 'eval.inception.resize' in message and '\n' not in message
  assert 'tensorflow, pytorch, clean' in message
  # A workdir written before the field: the default, which it ran with.
  saved = json.loads(default_config.get_config().to_json())
  del saved['eval']['inception']['resize']
  assert (
      config_layers.with_new_fields(saved).eval.inception.resize == 'tensorflow'
  )
  assert 'eval.inception.resize' in config_layers.RESUMABLE_CHANGES


def test_a_sweeps_table_names_the_mode_of_its_inception_numbers():
  from experiments.sweeps import results

  runs = [
      {'eval_protocol': {'resize_mode': 'clean'}},
      {'eval_protocol': {'resize_mode': 'tensorflow'}},
      {'eval_protocol': {'feature_extractor': 'digits classifier'}},
  ]
  assert results.inception_note(runs).startswith(
      "Inception features, resize 'clean' and 'tensorflow'"
  )
  assert results.inception_note(runs[2:]) == ''


# --- Reference statistics in and out ----------------------------------------


def _evaluator(monkeypatch, reference, **kwargs):
  """An InceptionEvaluator whose network is replaced by a fixed map of the
  images (fast): its features are a function of the pixels."""
  projection = np.random.default_rng(5).normal(size=(4 * 4 * 3, FEATURES))

  def fake_features(variables, images, batch_size, advance=None, resize=''):
    del variables, batch_size, advance
    assert resize in inception.RESIZE_MODES
    flat = images.reshape(len(images), -1).astype(np.float64) / 255
    pool3 = np.tanh(flat @ projection).astype(np.float32)
    return {'pool3': pool3, 'logits_unbiased': pool3[:, :10]}

  monkeypatch.setattr(inception_evaluation, 'inception_features', fake_features)
  return (
      inception_evaluation.InceptionEvaluator(
          None, 'weights.pth', '0' * 64, reference, 'test', 8, **kwargs
      ),
      fake_features,
  )


# pool3's width in the statistics tests: 2048 costs seconds of
# eigendecompositions and compression that test nothing more.
FEATURES = 64


def test_written_statistics_give_the_features_fid(monkeypatch, tmp_path):
  monkeypatch.setattr(inception, 'POOL3_FEATURES', FEATURES)
  reference = np.random.default_rng(0).normal(size=(300, FEATURES))
  reference = reference.astype(np.float32)
  path = str(tmp_path / 'stats.npz')
  inception_evaluation.write_reference_stats(
      path, reference, {'resize': 'pytorch', 'dataset': 'x'}
  )
  stats = inception_evaluation.read_reference_stats(path)
  assert (stats.n, stats.resize) == (300, 'pytorch')

  def generate(rng, count):
    return jax.random.uniform(rng, (count, 4, 4, 3), minval=-1, maxval=1)

  rng = jax.random.PRNGKey(0)
  with_features, _ = _evaluator(monkeypatch, reference, resize='pytorch')
  direct, images = with_features.evaluate(generate, rng)
  with_stats, _ = _evaluator(
      monkeypatch,
      None,
      resize='pytorch',
      reference_stats=stats,
      num_samples=300,
  )
  from_file, same_images = with_stats.evaluate(generate, rng)
  np.testing.assert_array_equal(images, same_images)
  assert from_file['fid'] == pytest.approx(direct['fid'], rel=1e-6)
  assert from_file['inception_score'] == direct['inception_score']
  assert set(from_file) == {'fid', 'inception_score', 'inception_score_std'}
  protocol = with_stats.protocol('x')
  assert protocol['resize_mode'] == 'pytorch'
  assert protocol['reference_stats'] == stats.path
  assert 'KID, precision and recall' in protocol['not_reported']
  assert 'kid' not in protocol and 'knn_k' not in protocol


def test_pytorch_fid_layout_is_read_and_bad_files_are_one_line(
    monkeypatch, tmp_path
):
  monkeypatch.setattr(inception, 'POOL3_FEATURES', FEATURES)
  rng = np.random.default_rng(0)
  features = rng.normal(size=(100, FEATURES))
  # pytorch-fid --save-stats: np.savez_compressed(path, mu=, sigma=).
  plain = tmp_path / 'pytorch_fid.npz'
  np.savez_compressed(
      plain, mu=features.mean(0), sigma=np.cov(features, rowvar=False)
  )
  stats = inception_evaluation.read_reference_stats(str(plain))
  assert (stats.n, stats.resize) == (None, None)
  np.testing.assert_array_equal(stats.mu, features.mean(0))
  cases = {
      'keys.npz': (
          dict(mean=features.mean(0)),
          r"holds \['mean'\]: expected the keys mu and sigma",
      ),
      'shape.npz': (
          dict(mu=np.zeros(8), sigma=np.eye(8)),
          r'mu \[8\] and sigma \[8, 8\], expected \[64\]',
      ),
      'nan.npz': (
          dict(mu=np.full(FEATURES, np.nan), sigma=np.eye(FEATURES)),
          'non-finite',
      ),
  }
  for name, (arrays, expected) in cases.items():
    np.savez(tmp_path / name, **arrays)
    with pytest.raises(inception_evaluation.BadReferenceStats) as error:
      inception_evaluation.read_reference_stats(str(tmp_path / name))
    assert '\n' not in str(error.value)
    assert error.match(expected)
  (tmp_path / 'text.npz').write_text('not a zip')
  with pytest.raises(
      inception_evaluation.BadReferenceStats, match='cannot be read as an .npz'
  ) as error:
    inception_evaluation.read_reference_stats(str(tmp_path / 'text.npz'))
  assert '\n' not in str(error.value)
  with pytest.raises(evaluate_run.EvaluationError, match='no such file'):
    evaluate_run.check_inception_options(
        'inception', '', str(tmp_path / 'gone.npz')
    )
  with pytest.raises(evaluate_run.EvaluationError, match='--resize=area'):
    evaluate_run.check_inception_options('inception', 'area', '')
  with pytest.raises(evaluate_run.EvaluationError, match='not --features'):
    evaluate_run.check_inception_options('classifier', 'clean', '')


def test_write_ref_stats_of_a_dataset_records_mode_and_n(monkeypatch, tmp_path):
  # The digits' train split (no download); the weights and the Inception
  # features of the split stubbed (the network's own tests are above).
  monkeypatch.setattr(inception, 'POOL3_FEATURES', FEATURES)
  weights = tmp_path / 'weights.npz'
  weights.write_bytes(b'stub')
  monkeypatch.setattr(
      evaluate_run.inception_weights,
      'load_variables',
      lambda path, prefix: (None, 'ab' * 32),
  )
  seen = {}

  def fake_reference(dataset, split, count, *args, resize='', **kwargs):
    seen.update(dataset=dataset, split=split, count=count, resize=resize)
    return np.random.default_rng(0).normal(size=(count, FEATURES))

  monkeypatch.setattr(
      inception_evaluation, 'reference_features', fake_reference
  )
  path = str(tmp_path / 'out' / 'digits.npz')
  written = evaluate_run.write_reference_stats(
      path,
      dataset='digits',
      data_dir=str(tmp_path / 'data'),
      weights=str(weights),
      any_weights=True,
      num_samples=100,
      resize='clean',
  )
  assert seen == dict(
      dataset='digits', split='train', count=100, resize='clean'
  )
  assert written['n'] == 100 and written['resize'] == 'clean'
  stats = inception_evaluation.read_reference_stats(path)
  assert (stats.n, stats.resize) == (100, 'clean')
  with np.load(path) as stored:
    assert str(stored['dataset']) == 'digits'
  # A file of another mode is refused before anything is computed.
  with pytest.raises(
      inception_evaluation.BadReferenceStats, match='give --resize=clean'
  ):
    inception_evaluation.build(
        'digits', '', str(weights), 10, 8, True, ref_stats=path
    )
  with pytest.raises(evaluate_run.EvaluationError, match='one of them'):
    evaluate_run.write_reference_stats(path)


@pytest.mark.slow  # A 4-step run and ~40 images through Inception: ~1 min.
def test_a_run_is_evaluated_against_its_written_statistics(
    digits_dir, tmp_path
):
  import subprocess

  from tests.helpers import SMALL_RUN_FLAGS

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
          '--config.eval.features=classifier',
          '--config.eval.inception.resize=pytorch',
          '--config.model.width=8',
          '--config.model.latent_dim=8',
          *SMALL_RUN_FLAGS[2:],
      ],
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  weights = tmp_path / 'random_inception.npz'
  np.savez(weights, **random_inception_state_dict())
  common = dict(weights=str(weights), any_weights=True, batch_size=8)
  stats = str(tmp_path / 'digits.npz')
  # The run's dataset, data dir and resize mode.
  written = evaluate_run.write_reference_stats(
      stats, workdir=str(workdir), num_samples=8, **common
  )
  assert (written['n'], written['resize']) == (8, 'pytorch')
  direct = evaluate_run.evaluate_workdir(
      str(workdir), 'inception', num_samples=8, **common
  )
  assert direct['protocol']['resize_mode'] == 'pytorch'
  report = evaluate_run.evaluate_workdir(
      str(workdir), 'inception', num_samples=8, ref_stats=stats, **common
  )
  for name, values in report['results'].items():
    assert set(values) == {'fid', 'inception_score', 'inception_score_std'}
    assert values['fid'] == pytest.approx(
        direct['results'][name]['fid'], rel=1e-5
    )
  assert 'not reported: KID, precision and recall' in evaluate_run.table(report)
  assert 'resize pytorch' in evaluate_run.table(report)
  with pytest.raises(evaluate_run.EvaluationError, match='give --resize='):
    evaluate_run.evaluate_workdir(
        str(workdir),
        'inception',
        num_samples=8,
        ref_stats=stats,
        resize='clean',
        **common,
    )
