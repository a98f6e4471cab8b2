"""Files the library caches beside the data -- the image metrics'
classifier (gan_jax.metrics.classifier) and the Inception reference
features (gan_jax.inception_evaluation): written whole or not at all,
sealed with their SHA-256, checked before use, set aside when damaged.

Why a digest: a flipped byte inside the classifier's weights still parses
and would silently move every image metric, and a damaged ``.npy`` of
reference features would move FID. Such a cache is derived data (the same
inputs give it again), so a damaged one is renamed aside -- never deleted:
it is in the user's data dir -- and made again.

The digest file is in ``sha256sum``'s format (``<hex>  <name>``, names
relative to its directory), so ``sha256sum -c FILE.sha256`` checks it by
hand too.
"""

import hashlib
import os
import sys
import uuid
from typing import Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

T = TypeVar('T')

DIGEST_SUFFIX = '.sha256'
DAMAGED_SUFFIX = '.damaged-'


def to_stderr(line: str) -> None:
  """Where a cache's warnings go unless the caller passes an ``announce``
  of its own: the library has no logger."""
  print(line, file=sys.stderr)


class NotSealed(Exception):
  """A cache without a digest file: written by an older version."""


def write_atomically(path: str, payload: bytes) -> None:
  """``payload`` to ``path``, whole or not at all: a temporary file of this
  writer's own, then a rename. Own, because the hosts of a multi-host job
  sharing a data dir all make the cache on first use and write it."""
  tmp = f'{path}.{uuid.uuid4().hex}.tmp'
  try:
    with open(tmp, 'wb') as f:
      f.write(payload)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):  # The write or the rename failed.
      os.remove(tmp)


def sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    while chunk := f.read(1 << 20):
      digest.update(chunk)
  return digest.hexdigest()


def seal(paths: Sequence[str], digest_file: str) -> None:
  """Records each file's SHA-256 in ``digest_file``, written last: the
  files are complete before a digest vouches for them."""
  lines = ''.join(f'{sha256(p)}  {os.path.basename(p)}\n' for p in paths)
  write_atomically(digest_file, lines.encode())


def _recorded(digest_file: str) -> Dict[str, str]:
  """{name: hex digest} of a digest file; ValueError if garbled."""
  with open(digest_file, 'rb') as f:
    text = f.read().decode('ascii')  # UnicodeDecodeError is a ValueError.
  recorded = {}
  for line in text.splitlines():
    digest, sep, name = line.partition('  ')
    if not sep or len(digest) != 64 or not name:
      raise ValueError(f'{digest_file} is garbled')
    int(digest, 16)  # ValueError unless hexadecimal.
    recorded[name] = digest
  return recorded


def mismatch(paths: Sequence[str], digest_file: str) -> Optional[str]:
  """None if every file matches the digest ``digest_file`` records for it,
  else why not (a few words). NotSealed if there is no digest file; an
  OSError (e.g. permission denied) says nothing about the bytes and is
  raised as it is."""
  if not os.path.exists(digest_file):
    raise NotSealed(digest_file)
  try:
    recorded = _recorded(digest_file)
  except ValueError:
    return f'its digest file {digest_file} is garbled'
  for path in paths:
    name = os.path.basename(path)
    if name not in recorded:
      return f'{digest_file} records no digest of {name}'
    if sha256(path) != recorded[name]:
      return f'its SHA-256 differs from the one {digest_file} records'
  return None


def set_aside(paths: Sequence[str]) -> List[str]:
  """Renames the files that exist to ``NAME.damaged-<n>``, one ``n`` for
  all, the first free; returns the new names. A file that vanished
  meanwhile (another host set it aside first) is skipped."""
  n = 1
  while any(os.path.exists(f'{p}{DAMAGED_SUFFIX}{n}') for p in paths):
    n += 1
  moved = []
  for path in paths:
    try:
      os.replace(path, f'{path}{DAMAGED_SUFFIX}{n}')
    except FileNotFoundError:
      continue
    moved.append(f'{path}{DAMAGED_SUFFIX}{n}')
  return moved


# What reading damaged bytes raises: msgpack's unpackb (ValueErrors:
# ExtraData, FormatError, StackError, incomplete input), flax's for a tree
# of other keys (ValueError, KeyError), numpy's for a bad header or a
# buffer of the wrong size (ValueError), json's (ValueError) and a field of
# the wrong type (TypeError). A reader's own checks raise ValueError.
DAMAGED = (ValueError, KeyError, TypeError, IndexError, EOFError)


def _one_line(error: BaseException) -> str:
  text = str(error).strip()
  return (text.splitlines()[0][:200] if text else '') or type(error).__name__


def load(
    files: Sequence[str],
    read: Callable[[bool], T],
    what: str,
    announce: Callable[[str], None],
) -> Tuple[Optional[T], bool]:
  """(``read(sealed)``, or None where the cache is absent or unusable;
  whether a new cache may be written in its place). ``files[0]`` names
  the cache in messages, ``what`` says what it holds (``the cached digits
  classifier``); the digest file is ``files[0]``'s name without its
  extension, plus ``.sha256``.

  * every file there and matching its digest: ``read(True)``;
  * no digest file (an older version's cache): ``read(False)`` -- which
    checks what it can -- then sealed, with a ``note:``;
  * a digest that differs, or ``read`` raising one of DAMAGED: the files
    are set aside and a ``warning:`` names them; None, True (make it
    again);
  * an OSError (e.g. permission denied), which says nothing about the
    bytes: a ``warning:``, nothing moves; None, False.
  """
  digest_file = digest_file_of(files[0])
  if not all(os.path.exists(f) for f in files):
    return None, True
  sealed = True
  try:
    try:
      problem = mismatch(files, digest_file)
    except NotSealed:
      sealed, problem = False, None
    if problem is None:
      value = read(sealed)
  except OSError as error:
    announce(
        f'warning: cannot read {what} {files[0]} ({_one_line(error)}); '
        'making it again for this run only'
    )
    return None, False
  except DAMAGED as error:
    problem = _one_line(error)
  if problem is not None:
    moved = set_aside([*files, digest_file])
    aside = f'; moved aside to {moved[0]}' if moved else ''
    announce(
        f'warning: {what} {files[0]} is damaged ({problem}){aside}; '
        'making it again'
    )
    return None, True
  if not sealed:
    try:
      seal(files, digest_file)
      announce(
          f'note: {what} {files[0]} had no digest (written by an older '
          f'version); recorded it in {digest_file}'
      )
    except OSError:  # A read-only data dir: checked again next time.
      pass
  return value, True


def save(
    payloads: Sequence[Tuple[str, bytes]],
    what: str,
    announce: Callable[[str], None],
) -> None:
  """Writes the cache's files, each whole (an interrupted run leaves no
  half file), and seals them; a failure to write (e.g. a read-only data
  dir of prepared data) is a ``warning:``, not an error: the value is in
  memory and the cache is made again next time."""
  paths = [path for path, _ in payloads]
  try:
    os.makedirs(os.path.dirname(paths[0]), exist_ok=True)
    for path, payload in payloads:
      write_atomically(path, payload)
    seal(paths, digest_file_of(paths[0]))
  except OSError as error:
    announce(
        f'warning: cannot write {what} in {os.path.dirname(paths[0])} '
        f'({_one_line(error)}); it is made again on every run'
    )


def digest_file_of(path: str) -> str:
  return os.path.splitext(path)[0] + DIGEST_SUFFIX
