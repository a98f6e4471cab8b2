"""SHA-256 digests of a state's bytes, which catch the damage to a
checkpoint that orbax restores silently (a flipped byte).

A state that every host holds whole (one process, or a data-parallel run's
replicated state) has one digest of all its bytes (:func:`digest` of
:func:`host_values`). A state split over hosts (a sweep's runs spread over
the devices of several hosts) has no host that sees all its bytes: each
host takes the digests of the pieces it holds (:func:`piece_digests`), and
the hosts combine their verdicts (:func:`any_host`).
"""

import hashlib
from typing import Any, Dict, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils


def split_over_hosts(tree: Any) -> bool:
  """Whether a leaf of the pytree is split over hosts: each holds only
  part of it (a sweep's runs spread over the devices of several hosts)."""
  return any(
      isinstance(leaf, jax.Array)
      and not leaf.is_fully_addressable
      and not leaf.is_fully_replicated
      for leaf in jax.tree.leaves(tree)
  )


def host_values(tree: Any) -> Optional[Any]:
  """The values of a pytree of arrays as NumPy on this host, or None when
  a leaf is split over hosts (this host holds only part of it)."""
  if split_over_hosts(tree):
    return None
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return jax.tree.map(
      lambda leaf: np.asarray(
          leaf.addressable_data(0) if isinstance(leaf, jax.Array) else leaf
      ),
      tree,
  )


def _hash_array(sha: Any, name: str, value: np.ndarray) -> None:
  sha.update(f'{name}:{value.dtype}:{value.shape};'.encode())
  sha.update(np.ascontiguousarray(value).tobytes())


def digest(tree: Any) -> str:
  """SHA-256 of a pytree's structure, dtypes, shapes and bytes."""
  sha = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    _hash_array(sha, jax.tree_util.keystr(path), np.asarray(leaf))
  return sha.hexdigest()


def _index_text(index: tuple, shape: tuple) -> str:
  """``[0:5, 0:16]``: a shard's place in its array, every bound explicit
  (jax gives whole axes as ``slice(None)``)."""
  return (
      '['
      + ', '.join(
          '{}:{}'.format(*s.indices(n)[:2]) for s, n in zip(index, shape)
      )
      + ']'
  )


def piece_digests(tree: Any) -> Dict[str, str]:
  """SHA-256 of each piece of a pytree's arrays that this host holds,
  keyed by the leaf's path and the piece's place in it
  (``['states'].d.params['Dense_0']['bias'][0:5, 0:16]``). A piece held
  by several of this host's devices (replicated) counts once; another host
  holding the same piece gives the same key and digest."""
  pieces = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    if isinstance(leaf, jax.Array):
      shards = [(s.index, s.data) for s in leaf.addressable_shards]
    else:
      value = np.asarray(leaf)
      shards = [(tuple(slice(None) for _ in value.shape), value)]
    for index, data in shards:
      key = jax.tree_util.keystr(path) + _index_text(index, leaf.shape)
      if key not in pieces:
        sha = hashlib.sha256()
        _hash_array(sha, key, np.asarray(data))
        pieces[key] = sha.hexdigest()
  return pieces


def any_host(flag: bool) -> bool:
  """True on every host if ``flag`` is true on any."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))
