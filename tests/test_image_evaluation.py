"""The image metrics' feature extractor and evaluator on real digits."""

import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import image_evaluation
from gan_jax.data import embedded, images
from gan_jax.metrics import classifier


@pytest.mark.parametrize(
    'shape,stride',
    [((8, 8, 1), 1), ((8, 8, 32), 2), ((7, 9, 2), 2), ((5, 6, 3), 1)],
)
def test_conv3x3_is_flax_conv(shape, stride):
  """Same parameters from the same key, same outputs and gradients (to
  float rounding: the kernel's gradient sums in another order), also on
  odd sizes where 'SAME' pads both sides."""
  x = jnp.asarray(
      np.random.default_rng(0).normal(size=(4, *shape)), jnp.float32
  )
  ours = classifier.Conv3x3(16, stride)
  flax_conv = nn.Conv(16, (3, 3), strides=stride)
  params = ours.init(jax.random.PRNGKey(1), x)
  chex.assert_trees_all_equal(params, flax_conv.init(jax.random.PRNGKey(1), x))
  params = jax.tree.map(lambda p: p + 0.1, params)  # A nonzero bias too.
  cotangent = jnp.asarray(
      np.random.default_rng(2).normal(size=flax_conv.apply(params, x).shape),
      jnp.float32,
  )

  def outputs_and_gradients(layer):
    out, vjp = jax.vjp(lambda p, x: layer.apply(p, x), params, x)
    return out, vjp(cotangent)

  chex.assert_trees_all_close(
      outputs_and_gradients(ours),
      outputs_and_gradients(flax_conv),
      rtol=1e-5,
      atol=1e-5,
  )


def test_digits_classifier_is_accurate_and_cached(digits_dir):
  extractor = image_evaluation.build_feature_extractor('digits', digits_dir)
  assert extractor.accuracy >= 0.97  # Held-out split, reported in summaries.
  # Measured again here, not trusted from the cache file.
  test_images, test_labels = images.load_split('digits', 'test', digits_dir)
  assert classifier.accuracy(
      extractor.classifier, test_images, test_labels
  ) == pytest.approx(extractor.accuracy)


def test_stacked_modes_are_read_channel_by_channel(digits_dir):
  base = image_evaluation.build_feature_extractor('digits', digits_dir)
  stacked = base._replace(per_channel=True)
  test_images, test_labels = embedded.digit_splits()['test']
  rng = np.random.default_rng(0)
  x, modes = embedded.stack_digits(test_images, test_labels, 500, rng)
  features, probs = stacked(classifier.to_network(jnp.asarray(x)))
  assert features.shape == (500, 3 * 128) and probs.shape == (500, 1000)
  np.testing.assert_allclose(np.sum(probs, -1), 1.0, rtol=1e-5)
  # Three digits each right ~98% of the time: ~94% of modes right.
  assert np.mean(np.argmax(probs, -1) == modes) > 0.9


def test_evaluator_scores_real_data_as_real_and_noise_as_noise(digits_dir):
  extractor = image_evaluation.build_feature_extractor('digits', digits_dir)
  held_out = images.load_split('digits', 'test', digits_dir)[0]
  train = images.load_split('digits', 'train', digits_dir)[0]
  evaluator = image_evaluation.ImageEvaluator(
      extractor, held_out, train, num_samples=300, mode_samples=0
  )
  real = evaluator.real_vs_real
  assert real['modes'] == 10 and real['precision'] > 0.9
  assert real['classifier_score'] > 7

  def noise(rng, count):
    return jax.random.uniform(rng, (count, 8, 8, 1), minval=-1, maxval=1)

  results, samples = evaluator.evaluate(noise, jax.random.PRNGKey(0))
  assert samples.shape == (300, 8, 8, 1)
  assert results['fd'] > 10 * real['fd']
  # Precision is the metric outliers fool (Naeem et al.); density and
  # coverage are not.
  assert results['precision'] < real['precision'] / 2
  assert results['coverage'] < 0.1 and results['density'] < 0.1
  assert set(results) == set(real)


def test_intra_class_distance_sees_a_generator_that_ignores_its_label(
    digits_dir,
):
  """A 'generator' that returns real train digits of the asked class scores
  an intra-class distance near the real-vs-real one; one that returns any
  digit, whatever the class, scores about as well in the pooled FD but
  far worse within classes."""
  extractor = image_evaluation.build_feature_extractor('digits', digits_dir)
  held_out, held_out_labels = images.load_split('digits', 'test', digits_dir)
  train, train_labels = images.load_split('digits', 'train', digits_dir)
  evaluator = image_evaluation.ImageEvaluator(
      extractor, held_out, train, 300, 0, held_out_labels, train_labels
  )
  pixels = classifier.to_network(jnp.asarray(train))

  def pooled(rng, count):
    return pixels[jax.random.choice(rng, len(train), (count,))]

  def of_class(rng, count, label):
    where = np.flatnonzero(train_labels == label)
    return pixels[jax.random.choice(rng, where, (count,))]

  def any_class(rng, count, label):
    del label
    return pooled(rng, count)

  right, _ = evaluator.evaluate(pooled, jax.random.PRNGKey(0), of_class)
  wrong, _ = evaluator.evaluate(pooled, jax.random.PRNGKey(0), any_class)
  floor = evaluator.real_vs_real['intra_fd']
  assert right['intra_fd'] < 1.5 * floor
  assert wrong['intra_fd'] > 3 * right['intra_fd']
  assert wrong['fd'] == right['fd']  # The pooled metric cannot tell.


def test_classifier_cache_writers_use_temporary_files_of_their_own(
    tmp_path, monkeypatch
):
  # The hosts of a multi-host job sharing a data dir all train and write
  # the classifier on first use: their temporary files must not collide.
  rng = np.random.default_rng(0)
  train = (
      rng.integers(0, 256, (64, 8, 8, 1), np.uint8),
      rng.integers(0, 2, 64),
  )
  settings = classifier.TrainSettings(steps=2, batch_size=16)
  path = classifier.cache_path(str(tmp_path), 'toy', settings)
  opened = []
  real_open = open

  def recording_open(name, mode='r', *args, **kwargs):
    # Record the temporary files the writers open.
    if str(name).endswith('.tmp'):
      opened.append(str(name))
    return real_open(name, mode, *args, **kwargs)

  monkeypatch.setattr('builtins.open', recording_open)
  first = classifier.load_or_train(
      'toy', str(tmp_path), 2, train, train, settings
  )
  (
      tmp_path / 'gan_jax_classifiers' / (os.path.basename(path) + '.json')
  ).unlink()  # As if a second host had not seen the first one's files.
  classifier.load_or_train('toy', str(tmp_path), 2, train, train, settings)
  # Two writers x three files (weights, accuracy, digest), no name shared.
  assert len(set(opened)) == 6
  assert sorted(os.listdir(tmp_path / 'gan_jax_classifiers')) == sorted(
      os.path.basename(path) + s for s in ('.json', '.msgpack', '.sha256')
  )
  loaded = classifier.load_or_train(
      'toy', str(tmp_path), 2, train, train, settings
  )
  assert loaded.accuracy == pytest.approx(first.accuracy)
  # The cached params come back as trained, into the tree the net expects.
  chex.assert_trees_all_equal(loaded.params, first.params)
  x = classifier.to_network(jnp.asarray(train[0][:4]))
  chex.assert_trees_all_equal(loaded(x), first(x))
