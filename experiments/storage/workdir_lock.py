"""One live process per working directory.

Two runs writing one workdir interleave their checkpoints and lose each
other's metrics without an error. So each command line holds a lock on its
workdir while it runs: ``<workdir>/.lock``, an ``flock`` on that file,
which the kernel drops when the holder exits however it exits (kill -9 and
power loss included), plus who holds it (pid, host, command, since when)
written inside for the message another process gets.

* A live holder: the second process is refused with one line naming it
  (:class:`WorkdirBusy`).
* A lock file whose holder is gone: taken over, with a note naming the
  process that left it.
* A multi-host job takes one lock, on process 0 (the process that writes
  the files); the others learn the verdict from it (experiments.run).

On a shared file system the lock is as good as its ``flock``: NFS (v4, or
v3 with lockd) and most cluster file systems carry it between hosts.
"""

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from typing import Callable, Iterator, Optional

import jax
import numpy as np
from jax.experimental import multihost_utils

from experiments.storage import failed_writes

LOCK_FILE = '.lock'


class WorkdirBusy(RuntimeError):
  """Another live process holds the workdir; one line naming it."""


def _describe(holder: dict) -> str:
  since = holder.get('since')
  when = (
      time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(since))
      if isinstance(since, (int, float))
      else 'an unknown time'
  )
  return (
      f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} "
      f"({holder.get('command', '?')}) since {when}"
  )


def _read_holder(fd: int) -> dict:
  os.lseek(fd, 0, os.SEEK_SET)
  text = b''
  while chunk := os.read(fd, 1 << 16):
    text += chunk
  try:
    holder = json.loads(text.decode(errors='replace'))
  except ValueError:
    return {}
  return holder if isinstance(holder, dict) else {}


def _this_command() -> str:
  """This process's command line as it was typed (``python -m NAME ...``
  for a module run with -m)."""
  spec = getattr(sys.modules.get('__main__'), '__spec__', None)
  start = (
      ['python', '-m', spec.name]
      if spec and spec.name
      else ['python', sys.argv[0]]
  )
  return ' '.join(start + sys.argv[1:])


class WorkdirLock:
  """Holds ``workdir``'s lock from :meth:`acquire` until :meth:`release`
  (or the process ends). Use as a context manager.

  ``workdir`` is created if missing; a workdir this lock created and that
  is empty when the lock is released is removed again, so a run refused
  later (bad data, no room) leaves nothing behind.
  """

  def __init__(
      self,
      workdir: str,
      command: Optional[str] = None,
      note: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
  ):
    self._workdir = workdir
    self._path = os.path.join(workdir, LOCK_FILE)
    self._command = command or _this_command()
    self._note = note
    self._fd: Optional[int] = None
    self._created_dir = False

  def acquire(self) -> 'WorkdirLock':
    if not os.path.isdir(self._workdir):
      os.makedirs(self._workdir, exist_ok=True)
      self._created_dir = True
    while True:
      fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except OSError as error:
        holder = _read_holder(fd)
        os.close(fd)
        if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
          raise
        self._release_dir()
        raise WorkdirBusy(
            f'--workdir={self._workdir} is in use by {_describe(holder)}; '
            'wait for it to end, or give another --workdir'
        ) from None
      # The file may have been unlinked by a releasing holder between our
      # open and our lock: then we hold a lock nobody else can see. Again.
      try:
        same = os.path.samestat(os.fstat(fd), os.stat(self._path))
      except FileNotFoundError:
        same = False
      if same:
        break
      os.close(fd)
    previous = _read_holder(fd)
    if previous:
      self._note(
          f'note: --workdir={self._workdir}: taking over the lock '
          f'left by {_describe(previous)}, which is no longer running'
      )
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(
        fd,
        json.dumps(
            {
                'pid': os.getpid(),
                'host': socket.gethostname(),
                'command': self._command,
                'since': time.time(),
            }
        ).encode(),
    )
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is None:
      return
    try:
      os.unlink(self._path)  # Before unlocking: no one locks a dead file.
    except FileNotFoundError:
      pass
    os.close(self._fd)  # Drops the flock.
    self._fd = None
    self._release_dir()

  def _release_dir(self) -> None:
    if self._created_dir:
      try:
        os.rmdir(self._workdir)  # Only if empty.
      except OSError:
        pass
      self._created_dir = False

  def __enter__(self) -> 'WorkdirLock':
    return self.acquire()

  def __exit__(self, *exc) -> None:
    self.release()


@contextlib.contextmanager
def hold_for_job(workdir: str) -> Iterator[Optional[WorkdirLock]]:
  """Holds the lock of a command line's workdir while inside, taken once
  per job: by process 0, every process learning whether it could (a
  collective with several processes: enter it at the same point on every
  one). Exits with one line if another process holds it. Yields the lock
  (None on other processes, and where the workdir cannot be written: the
  run refuses that itself, before it writes anything). Released on leaving,
  and by failed_writes.exit_after_failed_write, which skips ``finally``."""
  lock, busy = None, None
  if jax.process_index() == 0:
    try:
      lock = WorkdirLock(workdir).acquire()
    except WorkdirBusy as error:
      busy = str(error)
    except OSError:
      lock = None  # Not writable: checkpoints.check_room says so.
  if jax.process_count() > 1:
    refused = int(
        multihost_utils.broadcast_one_to_all(np.int32(busy is not None))
    )
    if refused and busy is None:
      busy = (
          f'--workdir={workdir} is in use by another process (process '
          '0 names it)'
      )
  if busy:
    sys.exit(f'error: {busy}')
  if lock:
    failed_writes.before_exit(lock.release)
  try:
    yield lock
  finally:
    if lock:
      lock.release()
