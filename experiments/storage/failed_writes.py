"""A failed write said in one line: the OS's reason for it, and what
libraries print meanwhile held back (the checkpointer and the CLIs use
these; see docs/reliability.md).

A save that the OS refused (a full disk) leaves the checkpoint library's
threads printing tracebacks for a while after it failed -- while the
checkpointer closes, and later still from tensorstore's callbacks into
orbax's closed event loop, whenever the machine is busy. So such a failure
points file descriptor 2 at /dev/null for the rest of the process
(:func:`held_stderr` with ``mute_after``) and :func:`exit_after_failed_write`
writes its one line to the real stderr, kept aside.
"""

import contextlib
import os
import re
import sys
import threading
from typing import Callable, Iterator, List, NoReturn, Optional

# The real stderr's file descriptor while fd 2 is muted, else None.
_real_stderr: Optional[int] = None
# What exit_after_failed_write does first (it skips `finally` blocks).
_before_exit: List[Callable[[], None]] = []


def os_error_reason(error: Exception) -> Optional[str]:
  """The OS's words for a failed write's error code (also when tensorstore
  wraps it in a long message), or None if it carries none."""
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  code = re.search(r"os_error_code='?(\d+)", str(error))
  return os.strerror(int(code.group(1))) if code else None


def failure_reason(error: Exception) -> str:
  """A short reason for a failed write: the OS's words, else the first
  line of the message."""
  lines = str(error).splitlines()
  return os_error_reason(error) or (lines[0][:200] if lines else repr(error))


def writing_failed(workdir: str, error: OSError) -> str:
  """One line for a failed write of logs or pictures under ``workdir``."""
  where = f' ({error.filename})' if getattr(error, 'filename', None) else ''
  return (
      f'writing under {workdir} failed: {failure_reason(error)}{where}; '
      'its last complete checkpoint is kept: make room and run the same '
      'command to resume'
  )


class HeldText:
  """What :func:`held_stderr` held, once its block has ended. Setting
  ``mute_after`` inside the block leaves fd 2 muted after it."""

  text: str = ''
  mute_after: bool = False

  def held_so_far(self) -> int:
    """How many bytes are held so far (inside the block)."""
    return 0


@contextlib.contextmanager
def held_stderr() -> Iterator[HeldText]:
  """Holds in memory what anything in this process writes to file
  descriptor 2 while inside -- Python, or C++ such as tensorstore -- and
  hands it over at the end as ``HeldText.text``; the caller decides whether
  to show it.

  Why: when a save fails (a full disk), orbax's worker threads print each
  failing write's traceback, and tensorstore's callbacks into orbax's
  closed event loop a hundred more (~500 lines measured), above the one
  line that says what happened. Checkpointer.save shows what it held
  unless the OS named the failure.
  """
  held = HeldText()
  try:
    original = os.dup(2)
  except OSError:  # No fd 2 (a daemon): nothing to hold.
    yield held
    return
  sys.stderr.flush()
  read_end, write_end = os.pipe()
  chunks: List[bytes] = []

  def drain():  # A thread, so a long message cannot fill the pipe.
    while True:
      chunk = os.read(read_end, 1 << 16)
      if not chunk:
        return
      chunks.append(chunk)

  reader = threading.Thread(target=drain, daemon=True)
  reader.start()
  held.held_so_far = lambda: sum(len(c) for c in chunks)  # type: ignore[method-assign]
  os.dup2(write_end, 2)
  os.close(write_end)
  try:
    yield held
  finally:
    sys.stderr.flush()
    if held.mute_after:
      _mute(original)  # Closes the pipe's last write end too.
    else:
      os.dup2(original, 2)  # The pipe's last write end closes: EOF.
      os.close(original)
    reader.join()
    os.close(read_end)
    held.text = b''.join(chunks).decode(errors='replace')


def _mute(real: int) -> None:
  """Points fd 2 at /dev/null, keeping ``real`` (an fd of the real stderr,
  now owned here) for :func:`exit_after_failed_write`."""
  global _real_stderr
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, 2)
  os.close(devnull)
  if _real_stderr is None:
    _real_stderr = real
  else:  # Muted already: the first real one is the real one.
    os.close(real)


def unmute_stderr() -> None:
  """Points fd 2 back at the real stderr (for a caller that goes on after
  a failed save; what the checkpoint library still prints shows again)."""
  global _real_stderr
  if _real_stderr is not None:
    sys.stderr.flush()
    os.dup2(_real_stderr, 2)
    os.close(_real_stderr)
    _real_stderr = None


def before_exit(callback: Callable[[], None]) -> None:
  """Has :func:`exit_after_failed_write` call ``callback`` (e.g. release a
  lock) before it exits."""
  _before_exit.append(callback)


def exit_after_failed_write(message: str) -> NoReturn:
  """Exits with status 1 and ``message`` as the last line printed, skipping
  the interpreter's teardown.

  For a write that failed (a full disk, a removed directory) or checkpoints
  that cannot be read: the exit hooks of the libraries that were writing --
  tensorboardX's final flush, its worker thread -- would fail again on the
  same disk and print tracebacks under the one line that says what
  happened. The runners have closed their files by then (in ``finally``),
  so skipping the teardown loses nothing that could still be written. The
  line goes to the real stderr, also when a failed save muted fd 2.
  """
  for callback in _before_exit:
    try:
      callback()
    except Exception:  # pylint: disable=broad-except
      pass  # Exiting with the one line matters more.
  sys.stdout.flush()
  sys.stderr.flush()
  os.write(
      2 if _real_stderr is None else _real_stderr,
      (message + '\n').encode(errors='replace'),
  )
  os._exit(1)  # pylint: disable=protected-access
