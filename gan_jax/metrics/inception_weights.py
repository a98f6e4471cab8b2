"""The FID Inception weights: where they are looked for, checked and read,
without PyTorch.

The standard file is pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``
(the TTUR graph's weights as a PyTorch state dict; torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth`` holds the same tensors). As
with torch.hub, the 8 hex digits in its name begin the file's SHA-256,
which is checked on load.

Lookup (:func:`find_weights`): a path given by the caller (the config),
else ``$GAN_JAX_INCEPTION_WEIGHTS``, else the cache directory
(``$GAN_JAX_CACHE``, else ``~/.cache/gan_jax``), else a download into it
where a network exists (from ``$GAN_JAX_INCEPTION_URL`` if set: a mirror). Absent and offline: :class:`WeightsNotFound`, one
line saying where to put the file and where to get it.

The reader (:func:`read_state_dict`) takes PyTorch's zip format (torch >=
1.6), its older pickle-stream format (as the 2019 file was written), or a
NumPy ``.npz`` of the same names; it unpickles tensors as NumPy arrays
through an unpickler that knows only tensors, storages and ordered dicts.
"""

import collections
import io
import os
import pickle
import struct
import urllib.request
import zipfile
import zlib
from typing import Dict, Optional

import jax
import numpy as np

from gan_jax.cache_files import sha256

WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
WEIGHTS_URL = (
    'https://github.com/mseitzer/pytorch-fid/releases/download/'
    'fid_weights/' + WEIGHTS_FILE
)
SHA256_PREFIX = '6726825d'
ENV_PATH = 'GAN_JAX_INCEPTION_WEIGHTS'
ENV_URL = 'GAN_JAX_INCEPTION_URL'  # A mirror, where GitHub is not reached.

_STORAGE_DTYPES = {
    'FloatStorage': np.float32,
    'DoubleStorage': np.float64,
    'HalfStorage': np.float16,
    'LongStorage': np.int64,
    'IntStorage': np.int32,
    'ShortStorage': np.int16,
    'CharStorage': np.int8,
    'ByteStorage': np.uint8,
    'BoolStorage': np.bool_,
}


class WeightsNotFound(FileNotFoundError):
  """No weights file where they are looked for; the message says where to
  put one and how to get it."""


class BadWeights(ValueError):
  """A weights file that cannot be read, or not the expected one."""


def cache_dir() -> str:
  return os.environ.get('GAN_JAX_CACHE') or os.path.join(
      os.path.expanduser('~'), '.cache', 'gan_jax'
  )


def fetch(url: str, path: str) -> bool:
  """Downloads ``url`` to ``path`` whole or not at all (a partial file of
  this process's own, renamed when complete); False when offline or the
  directory is not writable (the caller says what to do in one line)."""
  partial = f'{path}.part{os.getpid()}'
  try:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with (
        urllib.request.urlopen(url, timeout=30) as response,
        open(partial, 'wb') as out,
    ):
      while chunk := response.read(1 << 20):
        out.write(chunk)
    os.replace(partial, path)
    return True
  except OSError:
    if os.path.exists(partial):
      os.remove(partial)
    return False


def check_shapes(variables, expected) -> None:
  """ValueError naming the first entry of ``variables`` whose name or shape
  differs from the tree ``expected`` (of arrays or ShapeDtypeStructs)."""
  want = jax.tree_util.tree_flatten_with_path(expected)[0]
  got = dict(
      (jax.tree_util.keystr(p), np.shape(v))
      for p, v in jax.tree_util.tree_flatten_with_path(variables)[0]
  )
  for path, leaf in want:
    key = jax.tree_util.keystr(path)
    if key not in got:
      raise ValueError(f'the weights have no {key}')
    if tuple(got.pop(key)) != tuple(leaf.shape):
      raise ValueError(f"the weights' {key} is not of shape {leaf.shape}")
  if got:
    raise ValueError(f'the weights have an unexpected {next(iter(got))}')


def find_weights(path: Optional[str] = None, download: bool = True) -> str:
  """The weights file's path, by the lookup order above."""
  path = path or os.environ.get(ENV_PATH)
  if path:
    if not os.path.isfile(path):
      raise WeightsNotFound(f'no Inception weights file at {path}')
    return path
  cached = os.path.join(cache_dir(), WEIGHTS_FILE)
  if os.path.isfile(cached):
    return cached
  if download and fetch(os.environ.get(ENV_URL) or WEIGHTS_URL, cached):
    return cached
  raise WeightsNotFound(
      f'no Inception weights: put {WEIGHTS_FILE} (from {WEIGHTS_URL}) in '
      f'{cache_dir()}, or name the file with ${ENV_PATH}'
  )


def check_digest(path: str, prefix: Optional[str] = SHA256_PREFIX) -> str:
  """The file's SHA-256; raises BadWeights unless it begins with
  ``prefix`` (None: any file, e.g. weights of one's own)."""
  digest = sha256(path)
  if prefix and not digest.startswith(prefix):
    raise BadWeights(
        f'{path} is not the FID Inception weights file: its '
        f'SHA-256 begins {digest[:8]}, expected {prefix} '
        f'({WEIGHTS_FILE}; experiments.evaluate --any_weights '
        'accepts another file)'
    )
  return digest


# --- Reading PyTorch files without PyTorch -----------------------------------


def _rebuild_tensor(storage, offset, size, stride, *unused):
  """What torch._utils._rebuild_tensor_v2 makes, as a NumPy array."""
  del unused
  itemsize = storage.dtype.itemsize
  return np.lib.stride_tricks.as_strided(
      storage[offset:],
      shape=tuple(size),
      strides=tuple(s * itemsize for s in stride),
  ).copy()


class _StorageType:

  def __init__(self, name: str):
    if name not in _STORAGE_DTYPES:
      raise pickle.UnpicklingError(f'unsupported storage {name}')
    self.dtype = np.dtype(_STORAGE_DTYPES[name]).newbyteorder('<')


class _Unpickler(pickle.Unpickler):
  """Tensors, storages and ordered dicts; nothing else is constructed."""

  def __init__(self, file, load_storage, rebuild=_rebuild_tensor):
    super().__init__(file)
    self._load_storage = load_storage
    self._rebuild = rebuild

  def find_class(self, module, name):
    if (module, name) in (
        ('torch._utils', '_rebuild_tensor_v2'),
        ('torch._utils', '_rebuild_tensor'),
    ):
      return self._rebuild
    if module == 'torch' and name.endswith('Storage'):
      return _StorageType(name)
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    raise pickle.UnpicklingError(f'unexpected {module}.{name} in a state dict')

  def persistent_load(self, pid):
    # ('storage', storage type, key, location, numel[, view metadata])
    return self._load_storage(pid[1], str(pid[2]), int(pid[4]))


def _read_zip(path: str) -> Dict[str, np.ndarray]:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    (pickled,) = [
        n for n in names if n.endswith('/data.pkl') or n == 'data.pkl'
    ]
    root = pickled[: -len('data.pkl')]

    def load_storage(kind, key, numel):
      data = archive.read(f'{root}data/{key}')
      return np.frombuffer(data, kind.dtype, count=numel)

    return _Unpickler(io.BytesIO(archive.read(pickled)), load_storage).load()


def _read_legacy(path: str) -> Dict[str, np.ndarray]:
  """torch.save's pickle-stream format: magic number, protocol, system
  info, the object (storages as persistent ids), the storage keys, then
  each storage as an int64 element count and its bytes."""
  with open(path, 'rb') as f:
    for _ in range(3):
      pickle.load(f)  # Magic number, protocol version, system info.
    kinds = {}

    def load_storage(kind, key, numel):  # The bytes come after the object.
      kinds[key] = (kind, numel)
      return key

    def rebuild(key, *view):  # Made once the storages are read.
      return (key, view)

    state = _Unpickler(f, load_storage, rebuild).load()
    storages = {}
    for key in pickle.load(f):
      kind, numel = kinds[key]
      (count,) = struct.unpack('<q', f.read(8))
      if count != numel:  # Checked first: a damaged count may be 2**60.
        raise BadWeights(
            f'cannot read the Inception weights {path}: storage {key} '
            f'holds {count} elements, its tensor {numel}'
        )
      data = f.read(count * kind.dtype.itemsize)
      if len(data) != count * kind.dtype.itemsize:
        raise BadWeights(f'{path} is truncated')
      storages[key] = np.frombuffer(data, kind.dtype)
  return collections.OrderedDict(
      (name, _rebuild_tensor(storages[key], *view))
      for name, (key, view) in state.items()
  )


def read_state_dict(
    path: str, what: str = 'Inception weights'
) -> Dict[str, np.ndarray]:
  """A state dict of NumPy arrays from ``path`` (.pth in either PyTorch
  format, or .npz); BadWeights, one line naming ``what``, if it cannot be
  read."""
  try:
    if path.endswith('.npz'):
      with np.load(path) as data:
        return {name: data[name] for name in data.files}
    if zipfile.is_zipfile(path):
      return _read_zip(path)
    return _read_legacy(path)
  except BadWeights:
    raise
  except (
      OSError,
      ValueError,
      KeyError,
      IndexError,
      TypeError,
      EOFError,
      struct.error,
      pickle.UnpicklingError,
      zipfile.BadZipFile,
      zlib.error,  # A damaged compressed member.
      NotImplementedError,  # zipfile: a damaged compression method.
      RuntimeError,  # zipfile: a member that reads as encrypted.
      # The unpickler allocates what a length in the file says: damaged,
      # it may ask for exabytes.
      MemoryError,
  ) as error:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise BadWeights(f'cannot read the {what} {path}: {reason}') from None


def load_variables(path: str, sha256_prefix: Optional[str] = SHA256_PREFIX):
  """The network's variables from a weights file, its digest checked
  (``sha256_prefix`` None: not checked) and every entry's name and shape
  too. Returns (variables, the file's SHA-256)."""
  from gan_jax.metrics import inception  # pylint: disable=g-import-not-at-top

  try:
    digest = check_digest(path, sha256_prefix)
  except OSError as error:  # E.g. permission denied: one line too.
    raise BadWeights(
        f'cannot read the Inception weights {path}: '
        f'{error.strerror or type(error).__name__}'
    ) from None
  try:
    variables = inception.variables_from_state_dict(read_state_dict(path))
    inception.check_variables(variables)
  except BadWeights:  # A ValueError that names the file already.
    raise
  except ValueError as error:
    raise BadWeights(f'{path}: {error}') from None
  return variables, digest
