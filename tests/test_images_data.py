"""Image datasets: the embedded builders (real data) and the public datasets'
code path (tfds.testing.mock_data)."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds

from gan_jax.data import embedded, images, on_device, streaming


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp('tfds'))


def test_digits_builds_once_with_a_held_out_split(data_dir):
  train_images, train_labels = images.load_split('digits', 'train', data_dir)
  test_images, test_labels = images.load_split('digits', 'test', data_dir)
  assert train_images.shape == (1437, 8, 8, 1)
  assert test_images.shape == (360, 8, 8, 1)
  assert train_images.dtype == np.uint8
  assert train_images.min() == 0 and train_images.max() == 255
  for labels in (train_labels, test_labels):
    assert set(labels.tolist()) == set(range(10))
  # The same images as scikit-learn's, every fifth held out.
  from sklearn.datasets import load_digits

  expected = np.round(load_digits().images[::5] * 255 / 16)
  order = lambda a: a[np.lexsort(a.reshape(len(a), -1).T)]
  np.testing.assert_array_equal(order(test_images[..., 0]), order(expected))

  version_dir = os.path.join(data_dir, 'digits', '1.0.0')
  stamp = os.path.getmtime(version_dir)
  images.load_split('digits', 'train', data_dir)  # Prepared: not rebuilt.
  assert os.path.getmtime(version_dir) == stamp


def test_stacked_digits_has_1000_modes_from_independent_channels():
  train_images, train_labels = embedded.digit_splits()['train']
  rng = np.random.default_rng(0)
  stacked, modes = embedded.stack_digits(
      train_images, train_labels, 60_000, rng
  )
  assert stacked.shape == (60_000, 8, 8, 3) and stacked.dtype == np.uint8
  assert len(np.unique(modes)) == 1000
  # Each channel is a real digit whose label is that decimal place.
  lookup = {
      image.tobytes(): int(label)
      for image, label in zip(train_images, train_labels)
  }
  for image, mode in zip(stacked[:50], modes[:50]):
    digits = [lookup[image[..., c].tobytes()] for c in range(3)]
    assert mode == 100 * digits[0] + 10 * digits[1] + digits[2]


@pytest.mark.parametrize(
    'name,shape',
    [
        ('mnist', (28, 28, 1)),
        ('fashion_mnist', (28, 28, 1)),
        ('cifar10', (32, 32, 3)),
    ],
)
def test_public_datasets_read_through_data_source(name, shape, tmp_path):
  with tfds.testing.mock_data(num_examples=6):
    x, labels = images.load_split(name, 'train', str(tmp_path))
  assert x.shape == (6, *shape) and x.dtype == np.uint8
  assert labels.shape == (6,)
  assert images.IMAGE_SOURCES[name].shape == shape


def test_unprepared_public_dataset_says_how_to_prepare_it(tmp_path):
  with pytest.raises(images.DatasetNotPrepared) as error:
    images.load_split('mnist', 'train', str(tmp_path / 'data'))
  message = str(error.value)
  assert '\n' not in message
  assert 'tfds build mnist --file_format=array_record' in message
  assert 'pip install tensorflow' in message
  assert not (tmp_path / 'data').exists()  # Nothing half-written.


def test_device_images_gather_batches_inside_jit():
  train_images, train_labels = embedded.digit_splits()['train']
  data = on_device.DeviceImages.from_host(train_images[..., None], train_labels)
  assert data.shape == (8, 8, 1)

  @jax.jit
  def batch(data, key):
    images, labels = data.sample_with_labels(key, (2, 5))
    return data.to_network(images), labels

  x, labels = batch(data, jax.random.PRNGKey(0))
  chex.assert_shape(x, (2, 5, 8, 8, 1))
  assert x.dtype == jnp.float32 and -1.0 <= x.min() and x.max() <= 1.0
  # Each image is a real one, with its own label.
  pixels = np.asarray(data.from_network(x)).round().astype(np.uint8)
  lookup = {
      image.tobytes(): int(label)
      for image, label in zip(train_images, train_labels)
  }
  for image, label in zip(pixels.reshape(10, 8, 8), np.ravel(labels)):
    assert lookup[image.tobytes()] == label
  # The data is an argument, not a constant baked into the program.
  program = batch.lower(data, jax.random.PRNGKey(0)).as_text()
  main = next(
      line for line in program.splitlines() if 'func.func public @main' in line
  )
  assert 'tensor<1437x8x8x1xui8>' in main  # A parameter of the program.
  assert len(program) < 100_000  # Not 92 KB of pixels as a hex constant.


def test_celeb_a_is_cropped_to_64x64_with_attribute_labels(tmp_path):
  with tfds.testing.mock_data(num_examples=4):
    x, labels = images.load_split('celeb_a', 'train', str(tmp_path))
  assert x.shape == (4, 64, 64, 3) and x.dtype == np.uint8
  assert set(labels.tolist()) <= set(range(8))


def test_celeb_a_label_packs_three_attributes():
  record = {
      'image': np.zeros((218, 178, 3), np.uint8),
      'attributes': {'Male': True, 'Smiling': False, 'Young': True},
  }
  image, label = images.IMAGE_SOURCES['celeb_a'].decode(record)
  assert image.shape == (64, 64, 3)
  assert label == 0b101  # Male, not Smiling, Young.


def test_damaged_dataset_files_give_one_line(tmp_path):
  data_dir = str(tmp_path)
  images.load_split('digits', 'test', data_dir)
  version_dir = tmp_path / 'digits' / '1.0.0'
  for path in version_dir.glob('*test.array_record*'):
    path.write_bytes(path.read_bytes()[:100])  # Truncated.
  with pytest.raises(images.DatasetNotPrepared) as error:
    images.load_split('digits', 'test', data_dir)
  message = str(error.value)
  assert '\n' not in message and 'damaged or incomplete' in message
  assert 'delete' in message


def test_stream_gives_each_step_the_same_records_however_chunked():
  store = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1)

  def read(indices):
    indices = np.asarray(indices)
    return store[indices], indices.astype(np.int32)

  one = streaming.PrefetchStream(read, 100, (2, 3), seed=7)
  four = streaming.PrefetchStream(read, 100, (2, 3), seed=7)
  try:
    by_one = [one.get(step, 1) for step in range(4)]
    images_4, labels_4 = four.get(0, 4)
    assert images_4.shape == (4, 2, 3, 1, 1, 1) and labels_4.shape == (4, 2, 3)
    for step, (images_1, labels_1) in enumerate(by_one):
      np.testing.assert_array_equal(images_1[0], images_4[step])
      np.testing.assert_array_equal(labels_1[0], labels_4[step])
    # The prefetched next chunk is the one asked for next.
    np.testing.assert_array_equal(
        four.get(4, 4)[1][0], streaming.step_indices(7, 4, 100, (2, 3))
    )
  finally:
    one.close()
    four.close()


def test_data_dir_defaults_to_tfds_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path))
  assert images.default_data_dir() == str(tmp_path)
  images.load_split('digits', 'test')  # Built where TFDS_DATA_DIR says.
  assert (tmp_path / 'digits' / '1.0.0').is_dir()
  monkeypatch.delenv('TFDS_DATA_DIR')
  assert images.default_data_dir().endswith('tensorflow_datasets')
