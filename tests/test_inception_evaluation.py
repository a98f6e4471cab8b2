"""Which features a run is evaluated in (eval.features), the usual protocol
per dataset, and the images as the Inception network is given them."""

import ml_collections
import numpy as np
import pytest

from experiments.configs import default
from experiments.runner import evaluators
from gan_jax import image_evaluation, inception_evaluation
from experiments.runner.validation import validate
from gan_jax.config import ConfigError
from gan_jax.metrics import inception_weights
from tests.helpers import random_inception_state_dict


def test_the_usual_protocol_per_dataset_and_its_cap_on_a_cpu():
  assert inception_evaluation.default_num_samples('cifar10', 'gpu') == (
      50_000,
      '',
  )
  assert inception_evaluation.default_num_samples('celeb_a', 'tpu') == (
      50_000,
      '',
  )
  n, note = inception_evaluation.default_num_samples('cifar10', 'cpu')
  assert n == 10_000 and 'instead of the usual 50000' in note
  # Without a published protocol: 10k against the train split, everywhere.
  assert inception_evaluation.default_num_samples('mnist', 'cpu') == (
      10_000,
      '',
  )
  assert inception_evaluation.usual_protocol('cifar10').reference_split == (
      'train'
  )
  assert inception_evaluation.usual_protocol('digits').reference_split == (
      'train'
  )


def test_images_are_quantised_as_they_would_be_saved():
  # (x + 1) * 127.5, clipped, rounded half to even: what PIL would store.
  x = np.array([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0], np.float32)
  got = inception_evaluation.to_uint8_rgb(x.reshape(1, 1, 6, 1))
  assert got.dtype == np.uint8 and got.shape == (1, 1, 6, 3)
  np.testing.assert_array_equal(got[0, 0, :, 0], [0, 0, 128, 191, 255, 255])
  np.testing.assert_array_equal(got[..., 0], got[..., 2])  # Gray to RGB.
  data = np.arange(12, dtype=np.uint8).reshape(1, 2, 2, 3)
  np.testing.assert_array_equal(inception_evaluation.to_uint8_rgb(data), data)
  for bad, message in [
      (np.zeros((2, 8, 8)), r'shape \(2, 8, 8\)'),
      (np.zeros((2, 8, 8, 2)), 'expected'),
      (np.zeros((1, 4, 4, 3), np.int32), 'dtype int32'),
  ]:
    with pytest.raises(ValueError, match=message):
      inception_evaluation.to_uint8_rgb(bad)


def _digits_config(data_dir, **eval_fields):
  config = default.get_config()
  config.dataset, config.data.dir = 'digits', data_dir
  config.model.name = 'dcgan'
  config.eval.num_samples = 100
  for field, value in eval_fields.items():
    setattr(config.eval, field, value)
  return config


@pytest.fixture
def no_weights_anywhere(tmp_path, monkeypatch):
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'empty_cache'))
  monkeypatch.delenv(inception_weights.ENV_PATH, raising=False)
  monkeypatch.setenv(
      inception_weights.ENV_URL, (tmp_path / 'gone.pth').as_uri()
  )


def test_auto_chooses_the_classifier_on_a_cpu_and_says_why(
    digits_dir, no_weights_anywhere
):
  metrics, note, fell_back = evaluators.image_metrics(
      _digits_config(digits_dir), digits_dir, platform='cpu'
  )
  assert isinstance(metrics, image_evaluation.ImageEvaluator)
  assert not fell_back and "eval.features='auto'" in note
  assert '15 min' in note
  metrics, note, fell_back = evaluators.image_metrics(
      _digits_config(digits_dir, features='classifier'),
      digits_dir,
      platform='gpu',
  )
  assert isinstance(metrics, image_evaluation.ImageEvaluator)
  assert (note, fell_back) == ('', False)


@pytest.mark.parametrize('features', ['auto', 'inception'])
def test_weights_found_nowhere_fall_back_to_the_classifier(
    digits_dir, no_weights_anywhere, features
):
  metrics, note, fell_back = evaluators.image_metrics(
      _digits_config(digits_dir, features=features), digits_dir, platform='gpu'
  )
  assert isinstance(metrics, image_evaluation.ImageEvaluator)
  assert fell_back and '\n' not in note
  assert note.startswith(
      f'no Inception weights: put {inception_weights.WEIGHTS_FILE}'
  )
  assert note.endswith('evaluated in classifier features instead')


def test_named_weights_that_are_missing_or_wrong_are_refused(
    digits_dir, no_weights_anywhere, tmp_path, monkeypatch
):
  wrong = tmp_path / 'random.npz'
  np.savez(wrong, **random_inception_state_dict())
  cases = [
      (
          dict(weights='/nowhere.pth'),
          'eval.inception.weights: no Inception weights file at /nowhere.pth',
      ),
      (dict(weights=str(wrong)), 'is not the FID Inception weights file'),
  ]
  for inception, message in cases:
    config = _digits_config(digits_dir, features='inception')
    config.eval.inception.update(inception)
    with pytest.raises(ConfigError, match=message) as error:
      evaluators.image_metrics(config, digits_dir, platform='cpu')
    assert '\n' not in str(error.value)
  # Named through the environment: also refused, not a fallback.
  monkeypatch.setenv(inception_weights.ENV_PATH, '/nowhere.pth')
  with pytest.raises(ConfigError, match='no Inception weights file at'):
    evaluators.image_metrics(
        _digits_config(digits_dir, features='auto'), digits_dir, platform='gpu'
    )


@pytest.mark.parametrize(
    'field, value, message',
    [
        ('eval.features', 'fid', 'one of auto, classifier, inception'),
        (
            'eval.inception.num_samples',
            5,
            "0 \\(the dataset's usual protocol\\)",
        ),
        ('eval.inception.batch_size', -1, 'an integer from 0'),
        ('eval.inception.any_weights', 'yes', 'True or False'),
        ('eval.inception.weights', None, "a file path, or ''"),
    ],
)
def test_bad_evaluation_fields_are_one_line(field, value, message):
  # As a config.json of any types would hold them.
  fields = default.get_config().to_dict()
  fields.update(dataset='digits')
  fields['model']['name'] = 'dcgan'
  *sections, name = field.split('.')
  node = fields
  for section in sections:
    node = node[section]
  node[name] = value
  with pytest.raises(
      ConfigError, match=f'{field}={value!r} is not allowed: {message}'
  ):
    validate(ml_collections.ConfigDict(fields), 1)


def test_inception_features_are_refused_on_a_2d_benchmark():
  config = default.get_config()
  config.eval.features = 'inception'
  with pytest.raises(
      ConfigError,
      match="eval.features='inception' is not allowed with dataset='grid25'",
  ):
    validate(config, 1)
