"""Orbax checkpoints of the whole GANState (or any pytree of arrays, such
as a sweep group's stacked states), and what keeps them trustworthy.

* A crash, ``kill -9`` included, never leaves a checkpoint that looks
  finished: orbax writes each step into a temporary directory and renames it
  when complete; a restart ignores the leftovers.
* Damage that orbax cannot see (a flipped or truncated byte in a finished
  step's files) is caught by a SHA-256 of the state's bytes, written beside
  the checkpoints (``checkpoint_digests.json``) when the step is saved and
  checked when it is restored -- with several processes too
  (:mod:`experiments.storage.state_digests`): process 0 writes the digest of a
  state every host holds whole; for a state split over hosts, each host
  writes the digests of the pieces it holds
  (``checkpoint_digests.process<i>.json``), checks them on restore, and the
  hosts agree on the verdict.
* A step whose bytes are damaged (its digest differs, or its files cannot
  be read or parsed) is moved to ``damaged_checkpoints/`` (kept, for
  inspection) and the step before it is used, with a warning naming the
  files; if none can be restored that is one error. A transient failure
  (permissions, memory, too many open files) is one error and moves
  nothing: the same command succeeds once it is fixed.
* A checkpoint written before the state gained a field (a plug-in's
  hyperparameter or state slot) restores into today's state: what it holds
  is restored, the new fields start as in a fresh run, and a note names
  them (:func:`graft`). A leaf whose shape or dtype changed is a changed
  config, not damage: one error, and nothing moves.
* A save that fails (disk full, directory gone) is one error naming the
  directory and the reason; the steps saved before stay intact. Saves are
  synchronous (see Checkpointer), and what orbax's threads print while one
  fails is held back (``failed_writes.held_stderr``); when the OS named the
  failure, stderr stays muted afterwards too (``failed_writes``).
"""

import errno
import gc
import json
import logging
import os
import re
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import jax
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from experiments.storage import state_digests, writers
from gan_jax.cache_files import sha256 as file_sha256
from experiments.storage.failed_writes import (
    failure_reason,
    held_stderr,
    os_error_reason,
)


class _WithoutOrbaxLogs(logging.Filter):
  """Drops orbax's own log lines (absl's logger): what they report -- a
  step's metadata that does not parse, a temporary directory a ``kill -9``
  left and orbax removes -- this module says once in a line of its own, or
  needs no saying. A run's stderr is then its own."""

  def filter(self, record: logging.LogRecord) -> bool:
    return f'{os.sep}orbax{os.sep}' not in record.pathname


logging.getLogger('absl').addFilter(_WithoutOrbaxLogs())

DIGESTS = 'checkpoint_digests.json'
PIECE_DIGESTS = 'checkpoint_digests.process{}.json'
FILE_DIGESTS = 'checkpoint_files.json'  # Step -> file -> SHA-256.
DAMAGED = 'damaged_checkpoints'


class CheckpointError(RuntimeError):
  """A checkpoint cannot be written or none can be read; one line."""


class NoRoom(CheckpointError):
  """The workdir cannot hold the run's checkpoints (found before writing)."""


class StructureMismatch(CheckpointError):
  """A checkpoint's state cannot be fitted into this config's: a leaf of
  another shape or dtype, or a container where an array was saved."""


# --- Restoring into a state that has grown ------------------------------------


def _key_name(key: Any) -> Any:
  """What a pytree key is called in orbax's saved tree: a field's or a
  dict's name, or a sequence's index."""
  for attribute in ('name', 'key', 'idx'):
    if hasattr(key, attribute):
      return getattr(key, attribute)
  raise TypeError(f'unknown pytree key {key!r}')


def _is_saved_array(node: Any) -> bool:
  return hasattr(node, 'shape') and hasattr(node, 'dtype')


def _as_restorable(saved: Any, sharding: Any) -> Any:
  """Abstract arrays for a saved subtree that the state no longer has:
  restored (the digest covers it) and then dropped."""
  if _is_saved_array(saved):
    return jax.ShapeDtypeStruct(
        tuple(saved.shape), saved.dtype, sharding=sharding
    )
  if isinstance(saved, dict):
    return {k: _as_restorable(v, sharding) for k, v in saved.items()}
  if isinstance(saved, (list, tuple)):
    return [_as_restorable(v, sharding) for v in saved]
  return saved


def graft(like: Any, saved: Any, sharding: Any, path: str = '') -> Any:
  """``like`` (abstract arrays) reshaped into what a checkpoint holds
  (``saved``: orbax's tree of array metadata): the same node types where
  both have a node, the saved dict keys, None where nothing was saved. So
  the target restores exactly the saved arrays, with the paths and order
  they were saved in (their digests match). Raises StructureMismatch for a
  leaf of another shape or dtype."""
  if _is_saved_array(saved):
    if isinstance(like, jax.ShapeDtypeStruct):
      if like.shape != tuple(saved.shape) or like.dtype != saved.dtype:
        raise StructureMismatch(
            f'{path or "the state"} is {saved.dtype}{list(saved.shape)} in '
            f'the checkpoint and {like.dtype}{list(like.shape)} in this '
            "config's state"
        )
      return like
    if like is None:
      return _as_restorable(saved, sharding)
    raise StructureMismatch(
        f'{path} is an array in the checkpoint and a {type(like).__name__} '
        "in this config's state"
    )
  if saved is None or (isinstance(saved, (dict, list)) and not saved):
    return None  # Nothing saved below: this config's leaves start fresh.
  if like is None:
    return _as_restorable(saved, sharding)
  if isinstance(like, jax.ShapeDtypeStruct):
    raise StructureMismatch(
        f"{path} is an array in this config's state and a container in "
        'the checkpoint'
    )
  if isinstance(like, dict):
    if not isinstance(saved, dict):
      raise StructureMismatch(f'{path} is a dict here, not in the checkpoint')
    return {
        k: (
            graft(like[k], v, sharding, f'{path}[{k!r}]')
            if k in like
            else _as_restorable(v, sharding)
        )
        for k, v in saved.items()
    }
  children, treedef = jax.tree_util.tree_flatten_with_path(
      like, is_leaf=lambda node: node is not like
  )
  names = [_key_name(keys[0]) for keys, _ in children]
  if isinstance(saved, dict):
    extra = set(saved) - {str(n) for n in names}
    found = {n: saved.get(str(n)) for n in names}
  elif isinstance(saved, (list, tuple)):
    extra = set(range(len(names), len(saved)))
    found = {n: saved[n] if n < len(saved) else None for n in names}
  else:
    raise StructureMismatch(f'{path}: {saved!r} cannot be read as a node')
  if extra:
    raise StructureMismatch(
        f'{path or "the state"} has {sorted(map(str, extra))} in the '
        "checkpoint, which this config's state has no place for"
    )
  return jax.tree_util.tree_unflatten(
      treedef,
      [
          graft(child, found[name], sharding, f'{path}.{name}')
          for name, (_, child) in zip(names, children)
      ],
  )


def _names(path: Sequence[Any]) -> Tuple[Any, ...]:
  return tuple(_key_name(key) for key in path)


def saved_form(saved: Any, grafted: Any) -> Any:
  """The restore target in orbax's saved form (plain dicts and lists,
  exactly the saved tree), each array with the grafted target's sharding
  at the same place."""
  targets = {
      _names(path): leaf
      for path, leaf in jax.tree_util.tree_leaves_with_path(grafted)
  }
  return jax.tree_util.tree_map_with_path(
      lambda path, _: targets[_names(path)],
      saved,
      is_leaf=_is_saved_array,
  )


def typed_form(grafted: Any, restored: Any) -> Any:
  """The restored arrays (in the saved form) placed into the grafted
  target's node types: the state as it was saved."""
  values = {
      _names(path): leaf
      for path, leaf in jax.tree_util.tree_leaves_with_path(restored)
  }
  return jax.tree_util.tree_map_with_path(
      lambda path, _: values[_names(path)], grafted
  )


def fill(like: Any, restored: Any) -> Tuple[Any, List[str]]:
  """``like`` with every leaf the restored tree has at the same path taken
  from it; the paths taken from ``like`` instead (new since the
  checkpoint)."""
  saved = {
      jax.tree_util.keystr(path): leaf
      for path, leaf in jax.tree_util.tree_leaves_with_path(restored)
  }
  leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
  merged, fresh = [], []
  for path, leaf in leaves:
    name = jax.tree_util.keystr(path)
    if name in saved:
      merged.append(saved[name])
    else:
      merged.append(leaf)
      fresh.append(name)
  return jax.tree_util.tree_unflatten(treedef, merged), fresh


def _a_sharding(like: Any) -> Any:
  """A sharding for the saved leaves the state no longer has: replicated
  over the state's mesh, or the first device."""
  for leaf in jax.tree.leaves(like):
    sharding = getattr(leaf, 'sharding', None)
    if isinstance(sharding, jax.sharding.NamedSharding):
      return jax.sharding.NamedSharding(
          sharding.mesh, jax.sharding.PartitionSpec()
      )
  return jax.sharding.SingleDeviceSharding(jax.devices()[0])


class DigestMismatch(ValueError):
  """A restored state's bytes differ from the digest its step was saved
  with: damage that orbax's own checks let through."""


# How damaged bytes show when orbax reads a finished step: its metadata
# files (JSON) cut short, garbled or gone; tensorstore's statuses for data
# files cut short, garbled or missing from their database. Only these set a
# step aside; any other failure (permissions, memory, file handles, a bug)
# says nothing about the bytes, so it is one error and nothing moves.
_DAMAGE_STATUSES = ('DATA_LOSS', 'OUT_OF_RANGE', 'NOT_FOUND')
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)


def _chain(error: BaseException) -> List[BaseException]:
  """``error`` and what it was raised from: orbax wraps tensorstore's
  errors (which carry the status) in a bare Exception."""
  chain: List[BaseException] = []
  link: Optional[BaseException] = error
  while link is not None and len(chain) < 8:
    chain.append(link)
    link = link.__cause__ or link.__context__
  return chain


def _says_damage(error: BaseException) -> bool:
  if isinstance(error, (DigestMismatch, json.JSONDecodeError)):
    return True
  if isinstance(error, UnicodeDecodeError):  # A JSON file's bytes garbled.
    return True
  if isinstance(error, OSError):
    return error.errno in _MISSING
  text = str(error)
  return isinstance(error, ValueError) and (
      any(text.startswith(f'{status}:') for status in _DAMAGE_STATUSES)
      or (text.startswith('FAILED_PRECONDITION:') and 'Error reading' in text)
  )


def is_damage(error: BaseException) -> bool:
  """Whether a failed restore says that the step's bytes are damaged (the
  error or one it was raised from)."""
  return any(_says_damage(e) for e in _chain(error))


def _reason(error: BaseException) -> str:
  """A failed restore's first line -- tensorstore's, with its status, where
  orbax wrapped one -- without the object reprs and the spec that
  tensorstore's messages carry (``<bound method ...>``, a page of JSON)."""
  chain = _chain(error)
  error = next((e for e in chain if re.match(r'[A-Z_]+: ', str(e))), chain[0])
  text = str(error).splitlines()[0] if str(error) else repr(error)
  text = re.split(r' \[(?:tensorstore_spec|source locations)=', text)[0]
  text = re.split(
      r'\s*(?:See full TensorStore details: )?<bound method ', text
  )[0]
  text = re.sub(r'\s*<[^<>]* at 0x[0-9a-f]+>', '', text)
  return text.strip()[:400]


def state_bytes(tree: Any) -> int:
  return sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


def check_room(workdir: str, state: Any, keep: int) -> None:
  """Raises NoRoom unless ``workdir`` can be created and written and its
  file system has room for ``keep`` checkpoints of ``state``, one being
  written and 16 MiB of logs. Writes nothing that stays."""
  workdir = os.path.abspath(workdir)
  existing = workdir
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise NoRoom(f'--workdir={workdir}: {existing} is a file, not a directory')
  if not os.access(existing, os.W_OK | os.X_OK):
    raise NoRoom(f'--workdir={workdir}: {existing} is not writable')
  needed = (keep + 1) * state_bytes(state) + (16 << 20) if keep else 16 << 20
  free = shutil.disk_usage(existing).free
  if free < needed:
    raise NoRoom(
        f'--workdir={workdir}: {free / 2**20:.1f} MiB free, the '
        f'run needs about {needed / 2**20:.1f} MiB ('
        + (
            f'{keep} checkpoints of {state_bytes(state) / 2**20:.1f} MiB, '
            'one being written, logs)'
            if keep
            else 'its logs)'
        )
    )


def _is_hex(value: Any) -> bool:
  return (
      isinstance(value, str) and re.fullmatch('[0-9a-f]{64}', value) is not None
  )


def _well_formed(entries: Any) -> bool:
  """Whether a digests file holds what one is written with: step -> a
  SHA-256 (the state's), or step -> name -> a SHA-256 (a file's, a
  piece's)."""
  return isinstance(entries, dict) and all(
      step.isdigit()
      and (
          _is_hex(value)
          or (
              isinstance(value, dict)
              and all(
                  isinstance(k, str) and _is_hex(v) for k, v in value.items()
              )
          )
      )
      for step, value in entries.items()
  )


def _read_json(
    path: str, warn: Callable[[str], None] = lambda line: None
) -> Dict[str, Any]:
  """A digests file's entries; {} if there is none yet. One that cannot be
  read is moved aside (``NAME.unreadable``, then ``.unreadable.1``, ...)
  with a ``warn``-ing, and {} returned: the steps it covered are restored
  with orbax's own checks only, and the next save starts it anew."""
  try:
    with open(path) as f:
      entries = json.load(f)
    if not _well_formed(entries):
      raise ValueError('not digests of steps')
    return entries
  except FileNotFoundError:
    return {}
  except (OSError, ValueError) as error:
    if jax.process_index() != 0:  # Process 0 moves it, once.
      return {}
    kept, copy = path + '.unreadable', 0
    while os.path.exists(kept):
      copy += 1
      kept = f'{path}.unreadable.{copy}'
    try:
      os.replace(path, kept)
    except OSError:
      return {}  # Cannot move it (read-only): the next save says so.
    warn(
        f'warning: {path} cannot be read ({_reason(error)[:100]}); moved to '
        f'{kept}: the checkpoints it covered are restored unchecked'
    )
    return {}


def _check_digests(
    restored: Any,
    expected: Optional[str],
    expected_pieces: Optional[Dict[str, str]],
) -> None:
  """Raises ValueError if a restored state differs from the digests its
  step was saved with (None: saved without them, nothing to check)."""
  values = state_digests.host_values(restored) if expected else None
  # Every host reads the same bytes, so all decide alike.
  if values is not None and state_digests.digest(values) != expected:
    raise DigestMismatch(
        'its contents differ from the digest written when it '
        f'was saved ({DIGESTS})'
    )
  # Each host checks the pieces it holds that were saved as such (in
  # another layout, the ones that coincide); all decide alike.
  if expected_pieces and state_digests.any_host(
      any(
          expected_pieces.get(key, value) != value
          for key, value in state_digests.piece_digests(restored).items()
      )
  ):
    raise DigestMismatch(
        'its contents differ from the digests written when it '
        f'was saved ({PIECE_DIGESTS.format("<i>")})'
    )


def _settle(printed: Any) -> None:
  """After a failed restore: waits (3 s at most) until orbax's pending
  reads of the other arrays have failed too, while what they print is
  held -- coroutines that say so when collected ("Exception ignored in"),
  tensorstore's callbacks into orbax's closed event loop ("Event loop is
  closed", hundreds of lines, late) -- rather than between the run's
  lines."""
  before, quiet = -1, 0
  for _ in range(30):
    gc.collect()
    time.sleep(0.1)
    now = printed.held_so_far()
    quiet = quiet + 1 if now == before else 0
    if quiet == 3:  # Nothing new for 0.3 s.
      return
    before = now


class Checkpointer:
  """Saves and restores pytrees of arrays under ``workdir/checkpoints``."""

  def __init__(self, workdir: str, keep: int):
    self._workdir = os.path.abspath(workdir)
    self._directory = os.path.join(self._workdir, 'checkpoints')
    self._digests_path = os.path.join(self._workdir, DIGESTS)
    self._files_path = os.path.join(self._workdir, FILE_DIGESTS)
    try:
      # Synchronous saves: a save that returns is on disk, and a failing
      # one (disk full) fails here, in the caller, rather than in orbax's
      # background threads (whose errors surfaced at the next save, with
      # tracebacks from every thread). GAN states are small: a save of the
      # DCGAN state takes a fraction of a second.
      self._manager = ocp.CheckpointManager(
          self._directory,
          item_handlers=ocp.StandardCheckpointHandler(),
          options=ocp.CheckpointManagerOptions(
              max_to_keep=keep, create=True, enable_async_checkpointing=False
          ),
      )
    except OSError as error:
      raise CheckpointError(
          f'cannot open {self._directory}: {error.strerror or error}'
      ) from error

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def _piece_digests_path(self, process: int) -> str:
    return os.path.join(self._workdir, PIECE_DIGESTS.format(process))

  def _piece_digests_paths(self) -> Dict[int, str]:
    """The pieces' digest files there are, by the process that wrote each."""
    pattern = re.compile(
        re.escape(PIECE_DIGESTS).replace(r'\{\}', r'(\d+)') + '$'
    )
    found = {}
    for name in os.listdir(self._workdir):
      match = pattern.match(name)
      if match:
        found[int(match.group(1))] = os.path.join(self._workdir, name)
    return found

  def _read_piece_digests(self) -> Dict[str, Dict[str, str]]:
    """Step -> piece -> digest, merged over the processes' files."""
    merged: Dict[str, Dict[str, str]] = {}
    for path in self._piece_digests_paths().values():
      for step, pieces in _read_json(path).items():
        merged.setdefault(step, {}).update(pieces)
    return merged

  def _record(self, path: str, step: int, entry: Any) -> None:
    """Rewrites one digests file (atomically) with the kept steps only and
    ``step``'s entry set, or dropped when ``entry`` is None (a step saved
    again, now with the other kind of digest, or by fewer processes)."""
    if entry is None and not os.path.exists(path):
      return
    kept = {str(s) for s in self._manager.all_steps()}
    digests = {
        s: d
        for s, d in _read_json(path).items()
        if s in kept and s != str(step)
    }
    if entry is not None:
      digests[str(step)] = entry
    writers.write_json(path, digests)

  def _record_digests(self, step: int, state: Any) -> None:
    """Before orbax can finish the step: a finished step has its digests.
    Each file has one writer: process 0 for the whole-state digests (and
    for the files no running process owns), process i for its pieces'."""
    process = jax.process_index()
    if not state_digests.split_over_hosts(state):
      if process == 0:
        whole = state_digests.digest(state_digests.host_values(state))
        self._record(self._digests_path, step, whole)
        for path in self._piece_digests_paths().values():
          self._record(path, step, None)
      return
    self._record(
        self._piece_digests_path(process),
        step,
        state_digests.piece_digests(state),
    )
    if process == 0:
      self._record(self._digests_path, step, None)
      for other, path in self._piece_digests_paths().items():
        if other >= jax.process_count():
          self._record(path, step, None)

  def _step_files(self, step: int) -> Dict[str, str]:
    """Each file of a finished step (relative path -> SHA-256)."""
    root = os.path.join(self._directory, str(step))
    found = {}
    for directory, _, names in os.walk(root):
      for name in names:
        path = os.path.join(directory, name)
        found[os.path.relpath(path, root)] = file_sha256(path)
    return found

  def _record_files(self, step: int) -> None:
    """After a save: the SHA-256 of each file of the step, so that a
    restore finds damaged files before orbax reads them (whose failures
    print hundreds of lines from its threads, late); and every digests
    file pruned to the steps kept. One process: with several, each writes
    its own files, which another host may not see."""
    if jax.process_count() > 1:
      return
    self._record(self._files_path, step, self._step_files(step))
    kept = {str(s) for s in self._manager.all_steps()}
    for path in (self._digests_path, *self._piece_digests_paths().values()):
      entries = _read_json(path)
      if set(entries) - kept:
        writers.write_json(
            path, {k: v for k, v in entries.items() if k in kept}
        )

  def _check_files(self, step: int, recorded: Optional[Dict[str, str]]):
    """Raises DigestMismatch if a step's files differ from those it was
    saved with (None: saved without the record, nothing to check)."""
    if not recorded:
      return
    found = self._step_files(step)
    changed = sorted(n for n in recorded if found.get(n) != recorded[n])
    added = sorted(set(found) - set(recorded))
    if changed:
      name = changed[0]
      what = 'missing' if name not in found else 'changed'
    elif added:
      name, what = added[0], 'not one it was saved with'
    else:
      return
    raise DigestMismatch(
        f'its file {name} is {what} ({FILE_DIGESTS} holds those it was '
        'saved with)'
    )

  def save(self, step: int, state: Any) -> None:
    """Writes ``state`` as ``step``; raises CheckpointError if that fails
    (the earlier steps stay as they were)."""
    failed = None
    with held_stderr() as printed:
      try:
        self._record_digests(step, state)
        self._manager.save(step, args=ocp.args.StandardSave(state))
        self._record_files(step)
      except Exception as error:  # OSError, or tensorstore's ValueError.
        failed = error
        # A full disk is said in one line (CheckpointError); orbax's
        # threads go on printing its tracebacks: muted from here on
        # (failed_writes: exit_after_failed_write, unmute_stderr).
        printed.mute_after = os_error_reason(error) is not None
    if not printed.mute_after:
      # Saved, or failed for a reason the OS does not name: what the save
      # printed is worth seeing.
      sys.stderr.write(printed.text)
    if failed is not None:
      raise self._save_error(step, failed) from failed

  def _save_error(
      self, step: Optional[int], error: Exception
  ) -> CheckpointError:
    reason = failure_reason(error)
    self._manager.reload()  # What is on disk, finished.
    kept = [s for s in self._manager.all_steps() if s != step]
    which = f'of step {step} ' if step is not None else ''
    return CheckpointError(
        f'cannot write the checkpoint {which}under {self._directory}: '
        f'{reason}; '
        + (
            f'the checkpoint of step {max(kept)} is intact'
            if kept
            else 'no earlier checkpoint exists'
        )
    )

  def restore(
      self,
      like: Any,
      step: Optional[int] = None,
      warn: Callable[[str], None] = print,
      set_aside: bool = True,
      refreshed: Sequence[str] = (),
  ) -> Any:
    """Restores ``step`` (default: the newest readable one) into the
    structure of ``like``, with ``like``'s shardings.

    A step saved before the state gained fields restores what it holds and
    takes the rest from ``like`` (a fresh state), with a note naming them
    (except those under the paths ``refreshed``, as ``jax.tree_util.keystr``
    writes them, which the caller replaces anyway: the config's
    hyperparameters, ``'.hparams'``). A step whose bytes are damaged
    (:func:`is_damage`) is moved to damaged_checkpoints/ with a
    ``warn``-ing, and the one before it is tried; ``set_aside=False`` (a
    reader that must change nothing, e.g. experiments.evaluate) makes the
    first failure the error and moves nothing. Any other failure (a
    changed structure, permissions, memory) is one CheckpointError, and
    nothing moves."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    sharding = _a_sharding(like)
    steps = sorted(self._manager.all_steps(), reverse=True)
    if step is not None:
      steps = [step]
    digests = _read_json(self._digests_path, warn)
    pieces = self._read_piece_digests()
    files = _read_json(self._files_path, warn)
    damaged = []
    for candidate in steps:
      path = os.path.join(self._directory, str(candidate))
      # What orbax and tensorstore print while reading damaged files (a
      # traceback per array: ~175 lines for one step) is held back; the
      # warning below says what happened. A restore that works shows it.
      with held_stderr() as printed:
        try:
          restored, failure = (
              self._restore_step(
                  candidate, abstract, sharding, digests, pieces, files
              ),
              None,
          )
        except StructureMismatch as error:
          raise StructureMismatch(
              f'checkpoint {path} does not fit this config: {error}; resume '
              'it with the config it was saved with, or give another '
              '--workdir'
          ) from None
        except Exception as error:  # Whatever the files raised.
          restored, failure = None, error
          _settle(printed)
      if failure is None:
        sys.stderr.write(printed.text)
      elif not set_aside or not is_damage(failure):
        raise CheckpointError(
            f'checkpoint {path} cannot be restored ({_reason(failure)})'
            + (
                '; nothing was moved: run again once that is fixed (if its '
                f'files are damaged, move {path} away first)'
                if set_aside
                else ''
            )
        ) from None
      else:
        aside = self._move_aside(candidate)
        damaged.append(aside)
        warn(
            f'warning: checkpoint {path} is damaged ({_reason(failure)}); '
            f'moved to {aside}'
            + ('; trying the one before' if candidate != steps[-1] else '')
        )
        continue
      state, fresh = fill(like, restored)
      fresh = [n for n in fresh if not n.startswith(tuple(refreshed))]
      if fresh:
        more = f' and {len(fresh) - 3} more' if len(fresh) > 3 else ''
        warn(
            f'note: checkpoint {path} predates {", ".join(fresh[:3])}{more}'
            ': they start as in a fresh run'
        )
      return state
    raise CheckpointError(
        f'no checkpoint under {self._directory} can be restored (all '
        f'damaged, kept in {", ".join(damaged)}); give another --workdir to '
        'start afresh'
    )

  def _restore_step(
      self, step, abstract, sharding, digests, pieces, files
  ) -> Any:
    """One step's state as it was saved (in ``abstract``'s node types),
    checked against the digests it was saved with: its files before orbax
    reads them, the state's bytes after."""
    self._check_files(step, files.get(str(step)))
    saved = self._manager.item_metadata(step)
    saved = getattr(saved, 'tree', saved)
    grafted = graft(abstract, saved, sharding)
    restored = typed_form(
        grafted,
        self._manager.restore(
            step, args=ocp.args.StandardRestore(saved_form(saved, grafted))
        ),
    )
    _check_digests(restored, digests.get(str(step)), pieces.get(str(step)))
    return restored

  def refuse_fresh_start(self, workdir: str) -> None:
    """Raises CheckpointError when no step is left because every one was
    set aside as damaged: starting afresh there would bury the run's
    history under a new one."""
    if self._manager.latest_step() is None and self.set_aside_before():
      raise CheckpointError(
          f'--workdir={workdir} has no checkpoint left to resume from (those '
          'it had are set aside as damaged: '
          f'{", ".join(self.set_aside_before())}); give another --workdir to '
          'start afresh'
      )

  def set_aside_before(self) -> List[str]:
    """The steps of this workdir set aside as damaged by earlier restores
    (their directories under damaged_checkpoints/)."""
    target_dir = os.path.join(self._workdir, DAMAGED)
    if not os.path.isdir(target_dir):
      return []
    return sorted(os.path.join(target_dir, n) for n in os.listdir(target_dir))

  def _move_aside(self, step: int) -> str:
    """Moves a damaged step out of orbax's sight (a later save of the same
    step would collide with it) under a name no earlier set-aside step
    has (``40``, then ``40.1``, ...): nothing set aside is ever replaced.
    Returns where it went."""
    if jax.process_count() > 1:  # Every host looks before any moves.
      multihost_utils.sync_global_devices(f'set aside {step}')
    target_dir = os.path.join(self._workdir, DAMAGED)
    target = os.path.join(target_dir, str(step))
    copy = 0
    while os.path.exists(target):
      copy += 1
      target = os.path.join(target_dir, f'{step}.{copy}')
    if jax.process_index() == 0:
      os.makedirs(target_dir, exist_ok=True)
      os.rename(os.path.join(self._directory, str(step)), target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'damaged checkpoint {step}')
    self._manager.reload()
    return target

  def close(self) -> None:
    try:
      self._manager.wait_until_finished()
    except Exception as error:
      raise self._save_error(None, error) from error
    finally:
      self._manager.close()
