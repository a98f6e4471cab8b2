"""A failed write said in one line: the OS's reason for it, and what
libraries print meanwhile held back (the checkpointer and the CLIs use
these; see the README's Reliability table)."""

import contextlib
import os
import re
import sys
import threading
from typing import Iterator, List, Optional


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
  return os_error_reason(error) or (lines[0][:200] if lines
                                    else repr(error))


def writing_failed(workdir: str, error: OSError) -> str:
  """One line for a failed write of logs or pictures under ``workdir``."""
  where = f' ({error.filename})' if getattr(error, 'filename', None) else ''
  return (f'writing under {workdir} failed: {failure_reason(error)}{where}; '
          'its last complete checkpoint is kept: make room and run the same '
          'command to resume')


class HeldText:
  """What :func:`held_stderr` held, once its block has ended."""
  text: str = ''


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
  os.dup2(write_end, 2)
  os.close(write_end)
  try:
    yield held
  finally:
    sys.stderr.flush()
    os.dup2(original, 2)  # The pipe's last write end closes: EOF.
    os.close(original)
    reader.join()
    os.close(read_end)
    held.text = b''.join(chunks).decode(errors='replace')
