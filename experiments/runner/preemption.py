"""SIGTERM and Ctrl-C as a request to stop at the next step boundary.

Schedulers (SLURM, Kubernetes, TPU and spot VMs) announce a pre-emption
with SIGTERM and kill a few tens of seconds later. The train loops poll
:meth:`StopRequest.signal_name` between dispatches; when it is set they save
a checkpoint at the current step and return, and the command exits with
128 + the signal number (130 for Ctrl-C, 143 for SIGTERM), the shell's
convention, so a scheduler sees the job as interrupted and can requeue it.
Running the same command again resumes at that step.

A second Ctrl-C while the checkpoint is being written interrupts at once
(the previous checkpoint stays intact: orbax writes a step into a temporary
directory and renames it when complete).
"""

import signal
import threading
from typing import Optional

import jax
import numpy as np
from jax.experimental import multihost_utils


class Interrupted(Exception):
  """Raised by a runner after saving, to unwind to the command line."""

  def __init__(self, signal_name: str, step: int):
    super().__init__(f'interrupted by {signal_name} at step {step}')
    self.signal_name, self.step = signal_name, step

  @property
  def exit_code(self) -> int:
    return 128 + int(getattr(signal, self.signal_name))


class StopRequest:
  """Context manager: while inside, SIGTERM and SIGINT set a flag instead of
  killing the process. Signal handlers can only be installed from the main
  thread; elsewhere (a test runner's worker thread) this does nothing."""

  _SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self):
    self._received: Optional[int] = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self._received == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt  # Ctrl-C twice: stop now.
    self._received = signum

  def __enter__(self) -> 'StopRequest':
    if threading.current_thread() is threading.main_thread():
      for signum in self._SIGNALS:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous.clear()

  def signal_name(self) -> Optional[str]:
    """'SIGTERM' or 'SIGINT' once one was received here, else None."""
    if self._received is None:
      return None
    return signal.Signals(self._received).name

  def agreed(self) -> Optional[str]:
    """:meth:`signal_name` as every host sees it: with several processes a
    signal may reach only some, and all must stop at the same step, so they
    all-gather their flags (a collective: call it at the same point on every
    host, e.g. once per log interval)."""
    if jax.process_count() == 1:
      return self.signal_name()
    received = multihost_utils.process_allgather(np.int32(self._received or 0))
    signum = int(np.max(received))
    return signal.Signals(signum).name if signum else None
