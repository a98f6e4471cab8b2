"""Damaged or wrong input files (issue 44, part 4): each is one line naming
the file and what to do, with nothing written, or is checked by a digest
and made again.

* a TFDS dataset's ``dataset_info.json`` garbled, its record files damaged;
* ``--data_dir`` a file, under a file, or unreadable;
* the image metrics' cached classifier and the Inception reference
  features (gan_jax.cache_files): damaged -> set aside and made again,
  older caches without a digest -> checked as far as can be, then sealed;
* Inception weights files whose damage the reader did not expect.
"""

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys

import chex
import numpy as np
import pytest

from experiments.runner import validation
from gan_jax import cache_files, inception_evaluation
from gan_jax.config import ConfigError
from gan_jax.data import images
from gan_jax.metrics import classifier
from gan_jax.metrics import inception_weights as weights
from tests.helpers import SMALL_RUN_FLAGS, small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.run', *SMALL_RUN_FLAGS, *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )


def _one_line(result) -> str:
  """The run's only line of stderr, after checking it failed with no
  other output."""
  assert result.returncode != 0
  lines = result.stderr.splitlines()
  assert len(lines) == 1, result.stderr[-3000:]
  return lines[0]


@pytest.fixture(scope='module')
def built_digits(tmp_path_factory):
  """A data dir with the embedded digits built (~2 s), to be copied."""
  data_dir = tmp_path_factory.mktemp('built')
  images.load_split('digits', 'test', str(data_dir))
  return data_dir


def _copy(built_digits, tmp_path):
  data_dir = tmp_path / 'tfds'
  shutil.copytree(built_digits / 'digits', data_dir / 'digits')
  return data_dir, data_dir / 'digits' / '1.0.0'


# --- TFDS files ---------------------------------------------------------------


def test_a_garbled_dataset_info_is_one_line_through_the_runner(
    built_digits, tmp_path
):
  data_dir, version_dir = _copy(built_digits, tmp_path)
  info = version_dir / 'dataset_info.json'
  info.write_text('{"name": "digits", garbage')
  workdir = tmp_path / 'run'
  result = _run(
      '--dataset=digits', f'--data_dir={data_dir}', f'--workdir={workdir}'
  )
  line = _one_line(result)
  assert line.startswith('error: --dataset=digits: ')
  assert f'its {info} is damaged (Failed to load JSON' in line
  assert f'delete {data_dir / "digits"} and run again' in line
  assert not workdir.exists()
  assert info.read_text() == '{"name": "digits", garbage'  # Left as it was.


@pytest.mark.parametrize(
    'damage,expected',
    [
        ('', 'dataset_info.json is damaged'),
        ('null', 'dataset_info.json is damaged'),
        ('[]', 'dataset_info.json is damaged'),
        ('{"name": 5}', 'dataset_info.json is damaged'),
        # Valid, but without its file format: TFDS takes it for TFRecord.
        ('{"name": "digits", "version": "1.0.0"}', 'format tfrecord, as '),
    ],
)
def test_dataset_info_damage_is_one_line_naming_the_file(
    built_digits, tmp_path, damage, expected
):
  data_dir, version_dir = _copy(built_digits, tmp_path)
  (version_dir / 'dataset_info.json').write_text(damage)
  with pytest.raises(images.DatasetNotPrepared) as error:
    images.load_split('digits', 'test', str(data_dir))
  message = str(error.value)
  assert '\n' not in message and expected in message
  assert str(version_dir / 'dataset_info.json') in message
  assert f'delete {data_dir / "digits"}' in message


def test_a_public_dataset_with_garbled_info_says_delete_and_prepare(tmp_path):
  import tensorflow_datasets as tfds

  version = str(tfds.builder_cls('mnist').VERSION)
  info = tmp_path / 'mnist' / version / 'dataset_info.json'
  info.parent.mkdir(parents=True)
  info.write_text('{"x": ')
  with pytest.raises(images.DatasetNotPrepared) as error:
    images.load_split('mnist', 'train', str(tmp_path))
  message = str(error.value)
  assert '\n' not in message and f'its {info} is damaged' in message
  assert f'delete {tmp_path / "mnist"} and prepare it again with: ' in message
  assert 'tfds build mnist --file_format=array_record' in message


@pytest.mark.parametrize('where', [0.1, 0.5])
def test_flipped_bytes_in_a_record_file_are_one_line(
    built_digits, tmp_path, where
):
  # The record files' chunks carry hashes (Riegeli): a flipped byte is
  # found, or falls in the padding of a 64 KiB block and changes nothing.
  data_dir, version_dir = _copy(built_digits, tmp_path)
  (path,) = version_dir.glob('*test.array_record*')
  data = bytearray(path.read_bytes())
  data[int(len(data) * where)] ^= 0xFF
  path.write_bytes(bytes(data))
  with pytest.raises(images.DatasetNotPrepared) as error:
    images.load_split('digits', 'test', str(data_dir))
  assert '\n' not in str(error.value)
  assert 'damaged or incomplete (Corrupted Riegeli' in str(error.value)


# --- The data dir ---------------------------------------------------------------


@pytest.mark.parametrize('under', [False, True])
def test_a_data_dir_that_is_a_file_is_refused_first(tmp_path, under):
  afile = tmp_path / 'afile'
  afile.write_text('not a directory')
  data_dir = afile / 'sub' if under else afile
  workdir = tmp_path / 'run'
  result = _run(
      '--dataset=digits', f'--data_dir={data_dir}', f'--workdir={workdir}'
  )
  line = _one_line(result)
  problem = f'is under {afile}, a file,' if under else 'is a file,'
  assert line.startswith(
      f"error: data.dir='{data_dir}' (--data_dir) {problem} not a directory"
  )
  assert result.stdout == ''  # No "Downloading and preparing ..." first.
  assert not workdir.exists()
  assert afile.read_text() == 'not a directory'


def test_an_unreadable_data_dir_is_one_line(tmp_path, monkeypatch):
  data_dir = tmp_path / 'locked'
  data_dir.mkdir()
  data_dir.chmod(0)
  if os.geteuid() == 0:  # Root reads it anyway: as another user would not.
    real_access = os.access
    monkeypatch.setattr(
        os,
        'access',
        lambda path, mode: str(path) != str(data_dir)
        and real_access(path, mode),
    )
  try:
    config = small_config('non_saturating', dataset='digits')
    config.data.dir = str(data_dir)
    with pytest.raises(ConfigError, match='cannot be read') as error:
      validation.validate(config)
    assert str(error.value).startswith(f"data.dir='{data_dir}' (--data_dir)")
    # The TFDS default dir ($TFDS_DATA_DIR) is checked where it is read.
    with pytest.raises(images.DatasetNotPrepared, match='cannot be read'):
      images.RecordReader('digits', 'test', str(data_dir))
  finally:
    data_dir.chmod(0o755)


# --- The cached classifier ------------------------------------------------------

TOY_SETTINGS = classifier.TrainSettings(steps=2, batch_size=16)


@pytest.fixture(scope='module')
def toy_data():
  rng = np.random.default_rng(0)
  return (
      rng.integers(0, 256, (64, 8, 8, 1), np.uint8),
      rng.integers(0, 2, 64),
  )


def _toy(data_dir, toy_data, lines):
  return classifier.load_or_train(
      'toy', str(data_dir), 2, toy_data, toy_data, TOY_SETTINGS, lines.append
  )


def _flip(path, where=0.5):
  data = bytearray(open(path, 'rb').read())
  data[int(len(data) * where)] ^= 0x40  # Inside a weight: still parses.
  open(path, 'wb').write(bytes(data))


@pytest.mark.slow  # Moved for the default suite's 6 minutes.
def test_the_classifier_cache_is_sealed_and_a_damaged_one_set_aside(
    tmp_path, toy_data
):
  lines = []
  first = _toy(tmp_path, toy_data, lines)
  path = classifier.cache_path(str(tmp_path), 'toy', TOY_SETTINGS)
  weights_file = path + '.msgpack'
  assert lines == [] and os.path.isfile(path + '.sha256')
  assert (
      cache_files.mismatch([weights_file, path + '.json'], path + '.sha256')
      is None
  )
  for n in (1, 2):  # Each damage aside under a name of its own.
    _flip(weights_file)
    again = _toy(tmp_path, toy_data, lines)
    assert lines[-1] == (
        f'warning: the cached toy classifier {weights_file} is damaged (its '
        f'SHA-256 differs from the one {path}.sha256 records); moved aside '
        f'to {weights_file}.damaged-{n}; making it again'
    )
    for suffix in ('.msgpack', '.json', '.sha256'):
      assert os.path.isfile(f'{path}{suffix}.damaged-{n}')
    chex.assert_trees_all_equal(again.params, first.params)  # Same seed.
  assert len(lines) == 2
  loaded = _toy(tmp_path, toy_data, lines)  # The new cache: sealed, sound.
  assert len(lines) == 2
  chex.assert_trees_all_equal(loaded.params, first.params)


@pytest.mark.slow  # trains the digits classifier (~8 s).
def test_an_older_unsealed_classifier_cache_is_checked_then_sealed(
    tmp_path, toy_data
):
  lines = []
  first = _toy(tmp_path, toy_data, lines)
  path = classifier.cache_path(str(tmp_path), 'toy', TOY_SETTINGS)
  os.remove(path + '.sha256')  # As the code before digests wrote it.
  loaded = _toy(tmp_path, toy_data, lines)
  assert lines == [
      f'note: the cached toy classifier {path}.msgpack had no digest '
      f'(written by an older version); recorded it in {path}.sha256'
  ]
  chex.assert_trees_all_equal(loaded.params, first.params)
  assert os.path.isfile(path + '.sha256')
  # Unsealed, a cache that no longer scores what it records is damaged.
  os.remove(path + '.sha256')
  info = json.load(open(path + '.json'))
  info['held_out_accuracy'] = 1.0 - first.accuracy
  open(path + '.json', 'w').write(json.dumps(info))
  _toy(tmp_path, toy_data, lines)
  assert lines[-1].startswith(
      f'warning: the cached toy classifier {path}.msgpack is damaged '
      '(held-out accuracy'
  )
  assert os.path.isfile(path + '.json.damaged-1')


@pytest.mark.parametrize(
    'damage',
    [
        lambda path: open(path + '.msgpack', 'r+b').write(b'\xff'),
        lambda path: open(path + '.json', 'w').write('{"held_out'),
        lambda path: open(path + '.json', 'w').write('{"x": 1}'),
        lambda path: open(path + '.sha256', 'w').write('garbage\n'),
    ],
    ids=['msgpack_header', 'json_garbled', 'json_field', 'digest_garbled'],
)
def test_an_unparsable_classifier_cache_is_set_aside(
    tmp_path, toy_data, damage
):
  lines = []
  _toy(tmp_path, toy_data, lines)
  path = classifier.cache_path(str(tmp_path), 'toy', TOY_SETTINGS)
  damage(path)
  if 'garbage' not in open(path + '.sha256').read():
    os.remove(path + '.sha256')  # Unsealed: the parser must see it.
  _toy(tmp_path, toy_data, lines)
  (line,) = lines
  assert line.startswith(
      f'warning: the cached toy classifier {path}.msgpack is damaged ('
  )
  assert line.endswith(
      f'moved aside to {path}.msgpack.damaged-1; making it again'
  )


def test_a_classifier_cache_that_cannot_be_written_is_a_warning(
    tmp_path, toy_data
):
  (tmp_path / 'gan_jax_classifiers').write_text('a file in the way')
  lines = []
  got = _toy(tmp_path, toy_data, lines)
  assert got.params is not None
  (line,) = lines
  assert line.startswith(
      'warning: cannot write the cached toy classifier in '
      f'{tmp_path / "gan_jax_classifiers"} ('
  )
  assert line.endswith('it is made again on every run')


@pytest.mark.slow  # A whole run (~10 s): the warning is all it prints.
def test_a_run_with_a_damaged_classifier_cache_warns_and_completes(
    built_digits, tmp_path
):
  data_dir, _ = _copy(built_digits, tmp_path)
  flags = ['--dataset=digits', f'--data_dir={data_dir}']
  steps = '--config.eval.classifier_steps=5'
  first = _run(*flags, steps, f'--workdir={tmp_path / "first"}')
  assert first.returncode == 0, first.stderr[-3000:]
  settings = classifier.TrainSettings(steps=5)
  path = classifier.cache_path(str(data_dir), 'digits', settings)
  _flip(path + '.msgpack', 0.0001)  # Before: ~45 lines of traceback.
  second = _run(*flags, steps, f'--workdir={tmp_path / "second"}')
  assert second.returncode == 0, second.stderr[-3000:]
  lines = second.stderr.splitlines()
  assert lines == [
      f'warning: the cached digits classifier {path}.msgpack is damaged '
      f'(its SHA-256 differs from the one {path}.sha256 records); moved '
      f'aside to {path}.msgpack.damaged-1; making it again'
  ]
  runs = [
      json.loads((tmp_path / run / 'summary.json').read_text())
      for run in ('first', 'second')
  ]
  assert runs[0]['final_eval'] == runs[1]['final_eval']


# --- Inception reference features and weights -------------------------------


def _fake_features(
    variables, images_uint8, batch_size, advance, resize='tensorflow'
):
  """Stands in for the Inception network (~1 s per image batch on a CPU):
  the cache around it is what is tested."""
  del variables, batch_size, resize
  flat = images_uint8.reshape(len(images_uint8), -1).astype(np.float32)
  advance(len(flat))
  return {'pool3': np.resize(flat, (len(flat), 2048))}


def test_cached_reference_features_are_sealed_and_checked(
    built_digits, tmp_path, monkeypatch
):
  data_dir, _ = _copy(built_digits, tmp_path)
  monkeypatch.setattr(
      inception_evaluation, 'inception_features', _fake_features
  )
  lines = []

  def features():
    return inception_evaluation.reference_features(
        'digits',
        'test',
        20,
        str(data_dir),
        None,
        'ab' * 32,
        10,
        announce=lines.append,
    )

  first = features()
  (path,) = (data_dir / inception_evaluation.REFERENCE_CACHE).glob('*.npy')
  assert (path.parent / (path.stem + '.sha256')).is_file()
  _flip(path, 0.9)  # A float of the features: np.load reads it.
  np.testing.assert_array_equal(features(), first)
  assert lines == [
      f'warning: the cached digits/test Inception features {path} is '
      f'damaged (its SHA-256 differs from the one '
      f'{path.parent / (path.stem + ".sha256")} records); moved aside to '
      f'{path}.damaged-1; making it again'
  ]
  os.remove(path.parent / (path.stem + '.sha256'))  # An older version's.
  np.save(path, first[:5])  # Of another shape: damaged.
  np.testing.assert_array_equal(features(), first)
  assert 'float32[5, 2048]' in lines[-1] and lines[-1].startswith('warning: ')


def test_damaged_weights_the_reader_did_not_expect_are_one_line(tmp_path):
  # A legacy .pth whose pickle asks for 2**62 bytes: it was a MemoryError.
  huge = tmp_path / 'huge.pth'
  with open(huge, 'wb') as f:
    for header in (0x1950A86A20F9469CFC6C, 1001, {}):
      pickle.dump(header, f, protocol=2)
    f.write(b'\x80\x04\x8d' + struct.pack('<Q', 2**62) + b'abc')
  # An .npz whose member names a compression method that does not exist:
  # it was a NotImplementedError.
  np.savez(tmp_path / 'method.npz', a=np.zeros(3, np.float32))
  data = bytearray((tmp_path / 'method.npz').read_bytes())
  central = data.index(b'PK\x01\x02')
  data[central + 10 : central + 12] = struct.pack('<H', 99)
  (tmp_path / 'method.npz').write_bytes(bytes(data))
  for path in (huge, tmp_path / 'method.npz'):
    with pytest.raises(weights.BadWeights) as error:
      weights.load_variables(str(path), sha256_prefix=None)
    assert str(error.value).startswith(
        f'cannot read the Inception weights {path}: '
    )
    assert '\n' not in str(error.value)


def test_a_legacy_storage_count_out_of_range_is_one_line(tmp_path):
  torch = pytest.importorskip('torch')
  path = tmp_path / 'small.pth'
  torch.save(
      {'a': torch.zeros(4)}, str(path), _use_new_zipfile_serialization=False
  )
  data = bytearray(path.read_bytes())
  data[-24:-16] = struct.pack('<q', 2**60)  # The one storage's count.
  path.write_bytes(bytes(data))
  with pytest.raises(weights.BadWeights, match='holds 1152921504606846976'):
    weights.read_state_dict(str(path))
