"""Your own images: ``folder:PATH`` and ``tfds:NAME[:SPLIT]`` datasets
(gan_jax.data.own_images), their cache, their refusals, and the runs that
train on them (the last, slow)."""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from experiments.configs import default
from experiments.configs.datasets import dataset_defaults
from experiments.runner import config_layers
from gan_jax import config as gan_config
from gan_jax.data import images as image_data, is_image_dataset, own_images

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _save(path, pixels, fmt=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(pixels).save(path, fmt)


def _make_folder(root, count=12, classes=('cats', 'dogs'), seed=0):
  """``count`` colour images of several sizes, a third JPEG, spread over
  ``classes`` subdirectories."""
  rng = np.random.default_rng(seed)
  for i in range(count):
    h, w = rng.integers(10, 40, size=2)
    pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ext = 'jpg' if i % 3 == 0 else 'png'
    _save(
        os.path.join(root, classes[i % len(classes)], f'{i:03d}.{ext}'), pixels
    )
  return root


def _settings(tmp_path, **kwargs):
  return own_images.Settings(data_dir=str(tmp_path / 'data'), **kwargs)


def _read_all(source):
  reader = image_data.RecordReader('x', source.train_split, None, source)
  return reader.read(range(len(reader)))


def test_names_resolve_and_make_safe_file_names():
  assert is_image_dataset('folder:/a/b') and is_image_dataset('tfds:x:test')
  assert not is_image_dataset('folder:') and not is_image_dataset('grid25')
  assert own_images.short_name('folder:/data/my pics/') == 'folder-my_pics'
  assert own_images.short_name('tfds:svhn_cropped:test') == (
      'tfds-svhn_cropped-test'
  )
  config = default.get_config()
  config.dataset, config.variant = 'folder:/data/faces', 'hinge'
  assert config_layers.default_workdir(config) == os.path.join(
      'runs', 'hinge_folder-faces_seed0'
  )
  # The defaults of the named dataset closest in side.
  assert dataset_defaults('folder:x', 8)['train.steps'] == 10_000
  assert 'model.squash_output' not in dataset_defaults('folder:x', 8)
  assert dataset_defaults('folder:x', 32) == dataset_defaults('cifar10')
  assert dataset_defaults('tfds:x', 64) == dataset_defaults('celeb_a')


def test_a_folder_is_decoded_once_reused_and_decoded_again_on_change(
    tmp_path, monkeypatch
):
  root = _make_folder(str(tmp_path / 'pics'))
  settings = _settings(tmp_path, image_size=16)
  source = own_images.folder_source(f'folder:{root}', settings)
  assert source.shape == (16, 16, 3) and source.train_size == 12
  images, labels = _read_all(source)
  assert images.shape == (12, 16, 16, 3) and images.dtype == np.uint8
  assert set(labels.tolist()) == {0}  # Unconditional: every label 0.
  cache = os.path.join(str(tmp_path / 'data'), own_images.CACHE_DIR)
  (key,) = os.listdir(cache)
  assert sorted(os.listdir(os.path.join(cache, key))) == [
      'images.npy',
      'images.sha256',
      'labels.npy',
      'meta.json',
  ]

  def no_decoding(*args):
    raise AssertionError('decoded again')

  with monkeypatch.context() as patch:  # Reused: nothing decoded.
    patch.setattr(own_images, '_decode', no_decoding)
    again = own_images.folder_source(f'folder:{root}', settings)
    np.testing.assert_array_equal(_read_all(again)[0], images)

  # A new file: a new fingerprint, decoded again into the same place.
  _save(os.path.join(root, 'cats', 'new.png'), np.zeros((9, 9, 3), np.uint8))
  changed = own_images.folder_source(f'folder:{root}', settings)
  assert changed.fingerprint != source.fingerprint
  assert _read_all(changed)[0].shape == (13, 16, 16, 3)
  assert os.listdir(cache) == [key]
  with open(os.path.join(cache, key, 'meta.json')) as f:
    assert json.load(f)['fingerprint'] == changed.fingerprint


def test_subdirectories_are_classes_when_conditional(tmp_path):
  root = _make_folder(str(tmp_path / 'pics'), classes=('b_dogs', 'a_cats'))
  settings = _settings(tmp_path, image_size=8, conditional=True)
  source = own_images.folder_source(f'folder:{root}', settings)
  assert source.num_classes == 2
  folder = own_images.scan_folder(f'folder:{root}', True)
  assert folder.classes == ('a_cats', 'b_dogs')  # Sorted names: 0, 1.
  images, labels = _read_all(source)
  expected = [0 if f.startswith('a_cats') else 1 for f in folder.files]
  assert labels.tolist() == expected


def test_the_centre_crop_and_the_resize_method(tmp_path):
  pixels = np.zeros((20, 40, 3), np.uint8)
  pixels[:, 10:30] = 200  # The centre square: all 200.
  _save(str(tmp_path / 'pics' / 'wide.png'), pixels)
  for method in own_images.RESIZE_METHODS:
    settings = _settings(tmp_path, image_size=10, resize=method)
    source = own_images.folder_source(f'folder:{tmp_path}/pics', settings)
    images, _ = _read_all(source)
    assert np.all(images == 200), method


def test_alpha_is_composited_over_white_and_palettes_read(tmp_path):
  rgba = np.zeros((8, 8, 4), np.uint8)  # Fully transparent black.
  _save(str(tmp_path / 'pics' / 'clear.png'), rgba)
  palette = Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).convert(
      'P', palette=Image.Palette.ADAPTIVE, colors=4
  )
  palette.save(str(tmp_path / 'pics' / 'palette.png'))
  source = own_images.folder_source(
      f'folder:{tmp_path}/pics', _settings(tmp_path, image_size=8)
  )
  images, _ = _read_all(source)
  assert source.shape == (8, 8, 3)
  assert np.all(images[0] == 255) and np.all(images[1] == 90)


def _validate(tmp_path, dataset, conditional=False, **data):
  config = {
      'dataset': dataset,
      'data': {'dir': str(tmp_path / 'data'), **data},
      'model': {'name': 'dcgan', 'conditional': conditional},
  }
  gan_config.validate(config)


def _refusal(tmp_path, dataset, **data) -> str:
  with pytest.raises(gan_config.ConfigError) as caught:
    _validate(tmp_path, dataset, **data)
  message = str(caught.value)
  assert '\n' not in message
  return message


def test_bad_folders_are_refused_in_one_line(tmp_path):
  missing = tmp_path / 'missing'
  assert 'does not exist' in _refusal(tmp_path, f'folder:{missing}')
  (tmp_path / 'file.png').write_bytes(b'x')
  assert 'is not a directory' in _refusal(
      tmp_path, f'folder:{tmp_path}/file.png'
  )
  (tmp_path / 'empty' / 'sub').mkdir(parents=True)
  (tmp_path / 'empty' / 'notes.txt').write_text('no images')
  assert 'holds no images' in _refusal(tmp_path, f'folder:{tmp_path}/empty')

  mixed = tmp_path / 'mixed'
  _save(str(mixed / 'grey.png'), np.zeros((8, 8), np.uint8))
  _save(str(mixed / 'colour.png'), np.zeros((8, 8, 3), np.uint8))
  message = _refusal(tmp_path, f'folder:{mixed}')
  assert '1 grey image (grey.png)' in message
  assert '1 colour one (colour.png)' in message
  assert (
      'add --config.data.folder_channels=1 (grey) or '
      '--config.data.folder_channels=3 (colour)'
  ) in message
  _validate(tmp_path, f'folder:{mixed}', folder_channels='1', image_size=8)

  one = tmp_path / 'one'
  _save(str(one / 'cats' / 'a.png'), np.zeros((8, 8, 3), np.uint8))
  assert 'needs at least 2' in _refusal(
      tmp_path, f'folder:{one}', conditional=True
  )
  _save(str(one / 'dogs' / 'b.png'), np.zeros((8, 8, 3), np.uint8))
  _save(str(one / 'loose.png'), np.zeros((8, 8, 3), np.uint8))
  assert 'outside class subdirectories (loose.png)' in _refusal(
      tmp_path, f'folder:{one}', conditional=True
  )
  assert 'data.folder_resize' in _refusal(
      tmp_path, f'folder:{one}', folder_resize='nearest'
  )
  assert not (tmp_path / 'data').exists()  # Nothing written.


def test_folder_channels_are_the_strings_flags_and_sweeps_give(
    tmp_path, monkeypatch
):
  from experiments.sweeps import spec as sweep_spec

  mixed = tmp_path / 'mixed'
  _save(str(mixed / 'grey.png'), np.full((8, 8), 40, np.uint8))
  _save(str(mixed / 'colour.png'), np.full((8, 8, 3), 40, np.uint8))
  for value in ('1', '3'):
    _validate(tmp_path, f'folder:{mixed}', folder_channels=value)
  for value in (1, 3, 'rgb'):
    message = _refusal(tmp_path, f'folder:{mixed}', folder_channels=value)
    assert "is not allowed: 'auto', '1' or '3'" in message, message
  # As --config.data.folder_channels=3 sets it (a string, on the field).
  config = config_layers.resolve_config(
      default.get_config(),
      'non_saturating',
      {'data.folder_channels': '3', 'data.dir': str(tmp_path / 'data')},
      f'folder:{mixed}',
  )
  assert config.data.folder_channels == '3'
  assert image_data.image_source(config.dataset, config).shape[-1] == 3
  # As sweep --set=data.folder_channels=1 gives it, from a relative path.
  monkeypatch.chdir(tmp_path)
  spec = sweep_spec.normalize(
      {
          'variants': ['hinge'],
          'dataset': 'folder:./mixed/',
          'set': {'data.folder_channels': '1', 'data.dir': 'data'},
      }
  )
  assert spec['dataset'] == f'folder:{mixed}'
  (run,) = sweep_spec.expand(spec)
  assert run.config.data.folder_channels == '1'


def test_16_bit_grey_pngs_are_scaled_not_clipped(tmp_path):
  pixels = np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024  # 0..64512
  path = str(tmp_path / 'pics' / 'deep.png')
  os.makedirs(os.path.dirname(path))
  Image.fromarray(pixels).save(path)
  with Image.open(path) as opened:
    assert opened.mode in ('I', 'I;16')  # 16 bits on disk and in PIL.
  for channels in ('auto', '3'):
    settings = _settings(tmp_path, image_size=8, channels=channels)
    source = own_images.folder_source(f'folder:{tmp_path}/pics', settings)
    images, _ = _read_all(source)
    expected = (pixels >> 8).astype(np.uint8)
    for c in range(images.shape[-1]):
      np.testing.assert_array_equal(images[0, ..., c], expected)


def test_file_labels_change_with_everything_that_shapes_the_images(tmp_path):
  from gan_jax.metrics import classifier

  root = _make_folder(str(tmp_path / 'pics'), count=4)
  name = f'folder:{root}'
  data = {'dir': str(tmp_path / 'data')}

  def label(**fields):
    image_data.image_source(name, {'data': {**data, **fields}})
    return image_data.file_label(name)  # As the last resolved.

  small = label(image_size=16)
  assert small.startswith('folder-pics-') and '/' not in small
  assert label(image_size=16) == small  # The same settings: the same.
  others = {
      label(image_size=64),
      label(image_size=16, folder_resize='box'),
      label(image_size=16, folder_channels='1'),
  }
  assert small not in others and len(others) == 3
  label(image_size=16)
  path = classifier.cache_path(data['dir'], name, classifier.TrainSettings())
  assert os.path.dirname(path) == os.path.join(
      data['dir'], 'gan_jax_classifiers'
  )
  assert os.path.basename(path).startswith(small + '_v')
  assert ':' not in os.path.basename(path)
  # A changed file: another label.
  _save(os.path.join(root, 'cats', 'new.png'), np.zeros((9, 9, 3), np.uint8))
  own_images._RESOLVED.clear()  # Scanned once per process and settings.
  assert label(image_size=16) != small


def test_a_relative_folder_is_recorded_by_its_absolute_path(
    tmp_path, monkeypatch
):
  root = _make_folder(str(tmp_path / 'pics'), count=4)
  (tmp_path / 'elsewhere').mkdir()
  monkeypatch.chdir(tmp_path / 'elsewhere')
  overrides = {'data.image_size': 8, 'data.dir': str(tmp_path / 'data')}
  config = config_layers.resolve_config(
      default.get_config(), 'hinge', overrides, 'folder:../pics/'
  )
  assert config.dataset == f'folder:{root}'
  assert config_layers.default_workdir(config).endswith('folder-pics_seed0')
  given = config_layers.resolve_config(
      default.get_config(),
      'hinge',
      {**overrides, 'dataset': f'folder:{root}'},
  )
  assert given.to_dict() == config.to_dict()


def test_a_sweep_over_a_changed_folder_is_refused(tmp_path):
  from experiments.sweeps import driver, spec as sweep_spec

  root = _make_folder(str(tmp_path / 'pics'), count=4)
  spec = sweep_spec.normalize(
      {
          'variants': ['hinge'],
          'dataset': f'folder:{root}',
          'set': {'data.image_size': 8, 'data.dir': str(tmp_path / 'data')},
      }
  )
  (run,) = sweep_spec.expand(spec)
  workdir = tmp_path / 'sweep'
  run_dir = workdir / 'runs' / run.name
  run_dir.mkdir(parents=True)
  (run_dir / 'config.json').write_text(json.dumps(run.config.to_dict()))
  driver.check_data(str(workdir), [run])  # Unchanged.
  _save(os.path.join(root, 'cats', 'extra.png'), np.zeros((8, 8, 3), np.uint8))
  own_images._RESOLVED.clear()
  (changed,) = sweep_spec.expand(spec)
  with pytest.raises(sweep_spec.SweepError, match='data.fingerprint') as e:
    driver.check_data(str(workdir), [changed])
  assert '\n' not in str(e.value)
  assert (run_dir / 'config.json').exists()


def test_damaged_files_are_refused_and_nothing_is_cached(tmp_path):
  root = _make_folder(str(tmp_path / 'pics'), count=6)
  # Headers intact, pixels cut off: found when the images are decoded.
  for name in ('dogs/001.png', 'cats/002.png'):
    path = os.path.join(root, name)
    with open(path, 'rb') as f:
      data = f.read()
    with open(path, 'wb') as f:
      f.write(data[: len(data) // 2])
  source = own_images.folder_source(
      f'folder:{root}', _settings(tmp_path, image_size=8, channels=3)
  )
  with pytest.raises(own_images.FolderError) as caught:
    _read_all(source)
  message = str(caught.value)
  assert '2 files cannot be read as images' in message
  assert 'cats/002.png' in message and 'dogs/001.png' in message
  assert not (tmp_path / 'data' / own_images.CACHE_DIR).exists()
  # Not an image at all: refused from its header, before any decoding.
  (tmp_path / 'pics' / 'cats' / 'junk.jpg').write_bytes(b'not an image')
  with pytest.raises(own_images.FolderError, match='1 file cannot .*junk.jpg'):
    own_images.folder_source(f'folder:{root}', _settings(tmp_path))


def test_resuming_after_the_folder_changed_is_refused(tmp_path):
  root = _make_folder(str(tmp_path / 'pics'), count=4)
  overrides = {'data.image_size': 8, 'data.dir': str(tmp_path / 'data')}

  def make():
    own_images._RESOLVED.clear()
    return config_layers.resolve_config(
        default.get_config(), 'non_saturating', overrides, f'folder:{root}'
    )

  config = make()
  assert config.data.fingerprint
  assert config.train.steps == 10_000  # The digits' defaults at side 8.
  workdir = tmp_path / 'run'
  workdir.mkdir()
  (workdir / 'config.json').write_text(json.dumps(config.to_dict()))
  config_layers.check_resume(str(workdir), make(), False)  # Unchanged.
  _save(os.path.join(root, 'cats', 'extra.png'), np.zeros((8, 8, 3), np.uint8))
  with pytest.raises(gan_config.ConfigError, match='data.fingerprint'):
    config_layers.check_resume(str(workdir), make(), False)
  assert (workdir / 'config.json').exists()


def _tiny_tfds(data_dir):
  """A 12x12 RGB TFDS dataset with labels, prepared as ArrayRecord."""
  import tensorflow_datasets as tfds

  class OwnImagesTiny(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          features=tfds.features.FeaturesDict(
              {
                  'id': tfds.features.Scalar(np.int64),
                  'picture': tfds.features.Tensor(
                      shape=(12, 12, 3), dtype=np.uint8
                  ),
                  'kind': tfds.features.ClassLabel(num_classes=3),
              }
          ),
      )

    def _split_generators(self, dl_manager):
      del dl_manager
      return {
          s: self._generate_examples(n) for s, n in (('train', 9), ('test', 3))
      }

    def _generate_examples(self, count):
      for i in range(count):
        yield i, {
            'id': i,
            'picture': np.full((12, 12, 3), 10 * i, np.uint8),
            'kind': i % 3,
        }

  tfds.disable_progress_bar()
  OwnImagesTiny(
      data_dir=data_dir, file_format='array_record'
  ).download_and_prepare()
  return 'own_images_tiny'


def test_a_prepared_tfds_dataset_resolves_by_its_features(tmp_path, caplog):
  data_dir = str(tmp_path / 'data')
  name = _tiny_tfds(data_dir)
  # Not prepared in another data dir: one line, no TFDS warnings before it.
  empty = tmp_path / 'empty'
  empty.mkdir()
  with caplog.at_level(logging.WARNING):
    with pytest.raises(own_images.FolderError, match='is not prepared'):
      image_data.image_source(f'tfds:{name}', {'data': {'dir': str(empty)}})
  assert not caplog.records, [r.getMessage() for r in caplog.records]
  config = {'data': {'dir': data_dir}}
  source = image_data.image_source(f'tfds:{name}', config)
  assert source.shape == (12, 12, 3) and source.num_classes == 3
  assert source.train_size == 9
  images, labels = _read_all(source)
  assert labels.tolist() == [i % 3 for i in range(9)] or sorted(
      labels.tolist()
  ) == sorted(i % 3 for i in range(9))
  small = image_data.image_source(
      f'tfds:{name}:test', {'data': {'dir': data_dir, 'image_size': 8}}
  )
  assert small.shape == (8, 8, 3) and small.train_split == 'test'
  images, _ = _read_all(small)
  assert images.shape == (3, 8, 8, 3)
  for bad, words in (
      (f'tfds:{name}:valid', "no split 'valid'"),
      ('tfds:own_images_absent', 'cannot be opened'),
  ):
    with pytest.raises(own_images.FolderError, match=words):
      image_data.image_source(bad, config)
  with pytest.raises(own_images.FolderError, match='data.label_key'):
    image_data.image_source(
        f'tfds:{name}', {'data': {'dir': data_dir, 'label_key': 'id'}}
    )


# --- Runs (slow) -------------------------------------------------------------


def _command(*args, cwd, refused=False):
  done = subprocess.run(
      [sys.executable, *args],
      capture_output=True,
      text=True,
      cwd=cwd,
      env={**os.environ, 'PYTHONPATH': REPO},
  )
  assert (done.returncode != 0) == refused, done.stderr[-3000:]
  return done


SHORT = (
    '--config.train.steps=20',
    '--config.train.log_every=10',
    '--config.train.eval_every=20',
    '--config.train.checkpoint_every=20',
    '--config.eval.num_samples=20',
    '--config.eval.mode_samples=0',
)


@pytest.mark.slow
def test_a_folder_of_pngs_and_jpegs_with_classes_trains_and_sweeps(tmp_path):
  root = _make_folder(str(tmp_path / 'pics'), count=300)
  data = f'--data_dir={tmp_path}/data'
  _command(
      '-m',
      'experiments.run',
      f'--dataset=folder:{root}',
      data,
      '--config.data.image_size=16',
      '--config.model.conditional=true',
      '--progress=false',
      *SHORT,
      cwd=tmp_path,
  )
  run = tmp_path / 'runs' / 'non_saturating_folder-pics_seed0'
  with open(run / 'summary.json') as f:
    summary = json.load(f)
  assert summary['status'] == 'completed'
  assert summary['config']['data']['fingerprint']
  sweep = (
      '-m',
      'experiments.sweep',
      '--variants=non_saturating,hinge',
      f'--dataset=folder:{os.path.relpath(root, tmp_path)}',  # Relative.
      '--set=data.image_size=16',
      f'--set=data.dir={tmp_path}/data',
      '--progress=false',
      *(f'--set={a[len("--config."):]}' for a in SHORT),
  )
  _command(*sweep, cwd=tmp_path)
  swept = tmp_path / 'sweeps' / 'folder-pics_non_saturating-hinge'
  assert (swept / 'results.md').exists()
  with open(swept / 'sweep.json') as f:
    assert json.load(f)['dataset'] == f'folder:{root}'
  # Run again after the folder changed: refused in one line, nothing lost.
  _save(os.path.join(root, 'cats', 'new.png'), np.zeros((9, 9, 3), np.uint8))
  done = _command(*sweep, cwd=tmp_path, refused=True)
  (line,) = done.stderr.strip().splitlines()
  assert 'data.fingerprint' in line, line
  assert (swept / 'results.md').exists()


@pytest.mark.slow
def test_the_digits_written_as_pngs_train(tmp_path):
  from gan_jax.data import embedded

  images, labels = embedded.digit_splits()['train']
  for i, (image, label) in enumerate(zip(images, labels)):
    _save(str(tmp_path / 'digits' / str(label) / f'{i:04d}.png'), image)
  _command(
      '-m',
      'experiments.run',
      f'--dataset=folder:{tmp_path}/digits',
      f'--data_dir={tmp_path}/data',
      '--config.data.image_size=8',
      '--config.model.width=32',
      '--progress=false',
      *SHORT,
      cwd=tmp_path,
  )
  with open(
      tmp_path / 'runs' / 'non_saturating_folder-digits_seed0' / 'summary.json'
  ) as f:
    assert json.load(f)['status'] == 'completed'
