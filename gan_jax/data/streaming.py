"""Batches of a dataset too large for device memory, read ahead on the host.

``PrefetchStream.get(step, num_steps)`` returns the uint8 images and labels
of train steps ``step .. step + num_steps - 1`` as arrays of shape
[num_steps, n_critic, B, H, W, C] and [num_steps, n_critic, B], and starts
reading the next chunk at once on background threads, so the device never
waits on the host while it trains. The training loop scans over the chunk
(``sample_batch`` indexes it with the loop counter).

Step ``s`` always gets the same records (indices drawn from a generator
seeded with (seed, s)), so a resumed run reads what the uninterrupted one
would have read, and the choice does not depend on the chunking. On many
hosts, each reads only its own ``columns`` of every step's batch.
"""

import concurrent.futures
from typing import Callable, Optional, Sequence, Tuple

import numpy as np

Reader = Callable[[Sequence[int]], Tuple[np.ndarray, np.ndarray]]


def step_indices(
    seed: int, step: int, num_records: int, shape: Tuple[int, int]
) -> np.ndarray:
  """The record indices of train step ``step``: [n_critic, B], uniform with
  replacement, like the on-device sampler."""
  return np.random.default_rng([seed, step]).integers(0, num_records, shape)


class PrefetchStream:
  """Chunks of training batches read ahead (see the module docstring)."""

  def __init__(
      self,
      read: Reader,
      num_records: int,
      batch_shape: Tuple[int, int],
      seed: int,
      threads: int = 8,
      columns: slice = slice(None),
  ):
    """``columns``: the part of each step's batch (axis 1 of [n_critic, B])
    that this host reads; the chunks it returns hold only those."""
    self._read = read
    self._num_records = num_records
    n_critic, batch = batch_shape
    self._batch_shape = (n_critic, batch)
    self._columns = columns
    self._seed = seed
    # Decoding (PNG, resizing) releases the GIL for most of its work.
    self._pool = concurrent.futures.ThreadPoolExecutor(threads)
    self._ahead: Optional[Tuple[Tuple[int, int], concurrent.futures.Future]]
    self._ahead = None

  def _read_step(self, step: int) -> Tuple[np.ndarray, np.ndarray]:
    index = step_indices(
        self._seed, step, self._num_records, self._batch_shape
    )[:, self._columns]
    images, labels = self._read(index.ravel().tolist())
    return (
        images.reshape(*index.shape, *images.shape[1:]),
        labels.reshape(index.shape),
    )

  def _read_chunk(self, step: int, num_steps: int):
    parts = list(self._pool.map(self._read_step, range(step, step + num_steps)))
    return (
        np.stack([images for images, _ in parts]),
        np.stack([labels for _, labels in parts]),
    )

  def get(self, step: int, num_steps: int) -> Tuple[np.ndarray, np.ndarray]:
    """The chunk for steps [step, step + num_steps); reads the next chunk
    of the same length in the background."""
    key = (step, num_steps)
    if self._ahead is not None and self._ahead[0] == key:
      chunk = self._ahead[1].result()
    else:
      chunk = self._read_chunk(step, num_steps)
    following = (step + num_steps, num_steps)
    # The reading thread itself fans out over the pool; a separate thread
    # keeps it from waiting on its own workers.
    self._ahead = (following, _background(self._read_chunk, *following))
    return chunk

  def close(self) -> None:
    if self._ahead is not None:
      self._ahead[1].cancel()
    self._pool.shutdown(wait=False, cancel_futures=True)


def _background(fn, *args) -> concurrent.futures.Future:
  executor = concurrent.futures.ThreadPoolExecutor(1)
  future = executor.submit(fn, *args)
  executor.shutdown(wait=False)
  return future
