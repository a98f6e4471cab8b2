"""The Flax FID Inception equals the reference implementation run side by
side, its weights read without PyTorch, and the Inception score follows
its formula.

The reference is torch-fidelity's FID Inception (its TF1-compatible resize
and the FID blocks: count_include_pad=False pools, Mixed_7c's max pool),
built here with *random* weights written in the reference state-dict
layout: no download. PyTorch and torch-fidelity are test-only (.ci/run
installs them); without them those tests are skipped.
"""

import collections
import importlib
import importlib.util
import os
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics import feature_metrics, inception
from gan_jax.metrics import inception_weights as weights
from tests.helpers import random_inception_state_dict


@pytest.fixture(scope='module')
def random_weights(tmp_path_factory):
  """(state dict, its file written by torch.save in the reference layout)."""
  torch = pytest.importorskip('torch')
  state = random_inception_state_dict()
  path = tmp_path_factory.mktemp('inception') / 'random_inception.pth'
  torch.save(
      collections.OrderedDict(
          (k, torch.from_numpy(v)) for k, v in state.items()
      ),
      str(path),
  )
  return state, str(path)


def _torch_fidelity_inception(path):
  """torch-fidelity's FeatureExtractorInceptionV3 with the weights at
  ``path``. Its package __init__ imports extractors that need
  torchvision, which does not import beside the CPU build of torch here;
  the Inception extractor needs torch alone, so it is loaded without that
  __init__."""
  spec = importlib.util.find_spec('torch_fidelity')
  if spec is None:
    pytest.skip(
        'torch-fidelity is not installed (pip install --no-deps '
        'torch-fidelity==0.4.0)'
    )
  package = types.ModuleType('torch_fidelity')
  package.__path__ = list(spec.submodule_search_locations)
  saved = {
      k: v
      for k, v in sys.modules.items()
      if k == 'torch_fidelity' or k.startswith('torch_fidelity.')
  }
  sys.modules['torch_fidelity'] = package
  try:
    module = importlib.import_module(
        'torch_fidelity.feature_extractor_inceptionv3'
    )
    return module.FeatureExtractorInceptionV3(
        'inception-v3-compat',
        ['2048', 'logits_unbiased', 'logits'],
        feature_extractor_weights_path=path,
    )
  finally:
    for name in [
        k
        for k in sys.modules
        if k == 'torch_fidelity' or k.startswith('torch_fidelity.')
    ]:
      del sys.modules[name]
    sys.modules.update(saved)


@pytest.mark.parametrize('size', [32, 64])
def test_pool3_and_logits_equal_the_reference(random_weights, size):
  torch = pytest.importorskip('torch')
  state, path = random_weights
  reference = _torch_fidelity_inception(path)
  images = np.random.default_rng(size).integers(
      0, 256, (3, size, size, 3), dtype=np.uint8
  )
  with torch.no_grad():
    theirs = reference(
        torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    )
  variables, _ = weights.load_variables(path, sha256_prefix=None)
  ours = jax.device_get(inception.features(variables, jnp.asarray(images)))
  for name, expected in zip(
      ('pool3', 'logits_unbiased', 'logits'), (t.numpy() for t in theirs)
  ):
    assert ours[name].shape == expected.shape
    # Relative to the output's scale (entries near zero carry no
    # relative precision of their own).
    np.testing.assert_allclose(
        ours[name],
        expected,
        rtol=1e-4,
        atol=1e-4 * np.abs(expected).max(),
        err_msg=name,
    )
  # The weights matter: another draw gives other features.
  other = inception.variables_from_state_dict(
      random_inception_state_dict(seed=1)
  )
  moved = jax.device_get(inception.features(other, jnp.asarray(images)))
  assert np.abs(moved['pool3'] - ours['pool3']).max() > 1e-2


def test_the_fid_pools_differ_from_the_published_network(random_weights):
  # The FID graph's pools (padding out of the means, Mixed_7c's max pool)
  # are not torchvision's Inception-v3: with the same weights, another
  # pool3.
  state, _ = random_weights
  variables = inception.variables_from_state_dict(state)
  x = inception.preprocess(
      jnp.asarray(
          np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3)), jnp.float32
      )
  )
  fid, plain = (
      jax.jit(inception.FIDInceptionV3(fid=fid).apply)(variables, x)['pool3']
      for fid in (True, False)
  )
  assert np.abs(np.asarray(fid) - np.asarray(plain)).max() > 1e-3


def test_tf1_bilinear_resize_samples_i_times_in_over_out():
  # TF1: output i reads input position i * in / out (no half-pixel offset,
  # corners not aligned), the last neighbour clamped.
  row = jnp.arange(4.0).reshape(1, 4, 1, 1) * jnp.ones((1, 1, 4, 1))
  resized = inception.resize_bilinear_tf1(row, size=8)[0, :, 0, 0]
  np.testing.assert_allclose(
      resized, [0, 0.5, 1, 1.5, 2, 2.5, 3, 3], rtol=0, atol=1e-6
  )
  shrunk = inception.resize_bilinear_tf1(row, size=3)[0, :, 0, 0]
  np.testing.assert_allclose(shrunk, [0, 4 / 3, 8 / 3], atol=1e-6)


@pytest.mark.parametrize('legacy', [False, True])
def test_pytorch_files_are_read_without_pytorch(legacy, tmp_path):
  torch = pytest.importorskip('torch')
  state = collections.OrderedDict(
      a=torch.randn(3, 4),
      b=torch.randn(5, 2, 3, 3),
      strided=torch.arange(6.0).reshape(2, 3).t(),  # A transposed view.
      half=torch.randn(4).half(),
      count=torch.tensor(7),
  )
  path = tmp_path / 'state.pth'
  torch.save(state, str(path), _use_new_zipfile_serialization=not legacy)
  read = weights.read_state_dict(str(path))
  assert list(read) == list(state)
  for name, tensor in state.items():
    np.testing.assert_array_equal(read[name], tensor.numpy())
    assert read[name].dtype == tensor.numpy().dtype


def test_missing_truncated_and_wrong_weights_are_one_line_each(
    random_weights, tmp_path, monkeypatch
):
  state, path = random_weights
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'cache'))
  monkeypatch.delenv(weights.ENV_PATH, raising=False)
  with pytest.raises(weights.WeightsNotFound) as missing:
    weights.find_weights(download=False)
  assert str(missing.value) == (
      f'no Inception weights: put {weights.WEIGHTS_FILE} (from '
      f'{weights.WEIGHTS_URL}) in {tmp_path / "cache"}, or name the file '
      f'with ${weights.ENV_PATH}'
  )
  with pytest.raises(
      weights.WeightsNotFound,
      match='no Inception weights file at /nowhere.pth',
  ):
    weights.find_weights('/nowhere.pth')
  monkeypatch.setenv(weights.ENV_PATH, path)
  assert weights.find_weights(download=False) == path
  # Not the standard file: its digest does not begin with 6726825d.
  with pytest.raises(
      weights.BadWeights,
      match=r'is not the FID Inception '
      r'weights file: its SHA-256 begins [0-9a-f]{8}, '
      'expected 6726825d',
  ):
    weights.load_variables(path)
  with open(path, 'rb') as f:
    data = f.read()
  truncated = tmp_path / 'truncated.pth'
  truncated.write_bytes(data[: len(data) // 2])
  with pytest.raises(
      weights.BadWeights, match='cannot read the Inception weights'
  ):
    weights.load_variables(str(truncated), sha256_prefix=None)
  np.savez(
      tmp_path / 'partial.npz',
      **{k: v for k, v in state.items() if not k.startswith('fc.')},
  )
  with pytest.raises(
      weights.BadWeights, match=r"the weights have no \['params'\]\['fc'\]"
  ):
    weights.load_variables(str(tmp_path / 'partial.npz'), sha256_prefix=None)
  for error in (missing.value,):
    assert '\n' not in str(error)


def test_the_cached_file_is_found_first_after_the_environment(
    tmp_path, monkeypatch
):
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path))
  monkeypatch.delenv(weights.ENV_PATH, raising=False)
  cached = tmp_path / weights.WEIGHTS_FILE
  cached.write_bytes(b'x')
  assert weights.find_weights(download=False) == str(cached)
  assert weights.find_weights(str(cached)) == str(cached)


def test_the_download_lands_whole_in_the_cache_or_not_at_all(
    tmp_path, monkeypatch
):
  # A file:// mirror stands in for the network: the real download code.
  source = tmp_path / 'mirror.pth'
  source.write_bytes(b'weights' * 1000)
  cache = tmp_path / 'cache'
  monkeypatch.setenv('GAN_JAX_CACHE', str(cache))
  monkeypatch.delenv(weights.ENV_PATH, raising=False)
  monkeypatch.setenv(weights.ENV_URL, source.as_uri())
  got = weights.find_weights()
  assert got == str(cache / weights.WEIGHTS_FILE)
  assert open(got, 'rb').read() == source.read_bytes()
  # Unreachable: the one-line message, and no partial file left behind.
  os.remove(got)
  monkeypatch.setenv(weights.ENV_URL, (tmp_path / 'gone.pth').as_uri())
  with pytest.raises(weights.WeightsNotFound) as error:
    weights.find_weights()
  assert f'put {weights.WEIGHTS_FILE}' in str(error.value)
  assert str(cache) in str(error.value) and '\n' not in str(error.value)
  assert os.listdir(cache) == []


def test_inception_score_over_splits_follows_its_formula():
  # Confident and spread over k classes: a part's score is its number of
  # distinct classes; two splits of 4 samples.
  eye = np.eye(4) * 50.0
  logits = np.concatenate([eye[[0, 1, 2, 3]], eye[[0, 0, 1, 1]]])
  mean, std = feature_metrics.inception_score(logits, splits=2)
  np.testing.assert_allclose([mean, std], [3.0, 1.0], rtol=1e-9)
  # No confidence at all: 1 whatever the split.
  assert feature_metrics.inception_score(np.zeros((10, 5)), 5) == (1.0, 0.0)
  # Parts are cut as the reference code cuts them: i * n // splits.
  uneven = np.concatenate([eye[[0, 1]], eye[[2, 2, 3]]])
  assert feature_metrics.inception_score(uneven, 2)[0] == pytest.approx(
      (2.0 + feature_metrics.classifier_score(np.eye(4)[[2, 2, 3]])) / 2
  )
  with pytest.raises(ValueError, match='splits=0: give 1 to 5'):
    feature_metrics.inception_score(np.zeros((5, 3)), 0)


@pytest.mark.slow  # Inception compiles once and reads 24 images.
def test_intra_class_fid_compares_each_class_with_its_own_references():
  """The evaluator's intra-class FID is the mean over classes of the FID of
  the generated images of class c against the reference images of class c,
  computed here from the features directly; a G that ignores its label is
  seen."""
  from gan_jax import inception_evaluation
  from gan_jax.data import embedded

  variables = inception.variables_from_state_dict(random_inception_state_dict())
  images, labels = embedded.digit_splits()['train']
  images = images.reshape(-1, 8, 8, 1)
  pick = np.concatenate([np.flatnonzero(labels == c)[:6] for c in (3, 7)])
  reference_images, reference_labels = images[pick], labels[pick]
  reference = inception_evaluation.inception_features(
      variables,
      inception_evaluation.to_uint8_rgb(reference_images),
      batch_size=12,
  )['pool3']
  evaluator = inception_evaluation.InceptionEvaluator(
      variables,
      'random',
      'random',
      reference,
      'digits 3 and 7',
      12,
      reference_labels=reference_labels,
  )
  to_network = lambda x: jnp.asarray(x, jnp.float32) / 127.5 - 1.0
  others = {
      c: np.flatnonzero(labels == c)[6:12] for c in (3, 7)
  }  # Other digits of the same classes.

  def generate(rng, count):
    del rng
    return to_network(images[np.concatenate(list(others.values()))][:count])

  def of_class(rng, count, label):
    del rng
    return to_network(images[others[label][:count]])

  def swapped(rng, count, label):
    return of_class(rng, count, 10 - label)  # 3 <-> 7.

  results, _ = evaluator.evaluate(generate, jax.random.PRNGKey(0), of_class)
  fake = inception_evaluation.inception_features(
      variables,
      inception_evaluation.to_uint8_rgb(
          to_network(images[np.concatenate(list(others.values()))])
      ),
      batch_size=12,
  )['pool3']
  expected = np.mean(
      [
          feature_metrics.frechet_distance(
              fake[i * 6 : (i + 1) * 6], reference[reference_labels == c]
          )
          for i, c in enumerate((3, 7))
      ]
  )
  np.testing.assert_allclose(results['intra_fid'], expected, rtol=1e-6)
  wrong, _ = evaluator.evaluate(generate, jax.random.PRNGKey(0), swapped)
  assert wrong['intra_fid'] > results['intra_fid']
  assert wrong['fid'] == results['fid']
