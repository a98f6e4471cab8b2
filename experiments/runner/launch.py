"""Start-up of a training process: its CPU devices and, in a multi-host job,
joining the other processes through JAX's own distributed runtime.

``start()`` runs first in ``experiments.run`` and ``experiments.sweep``,
before any JAX computation. A multi-host job is joined when
``--coordinator_address`` (or ``$JAX_COORDINATOR_ADDRESS``) is given, or with
``--distributed``, which lets ``jax.distributed.initialize`` read the job
from the cluster's environment (Cloud TPU pod slices, SLURM, Open MPI,
Kubernetes). Every process runs the same command; process 0 hosts the
coordinator.

Failures end in one line and exit code 1, not a hang: a coordinator that
is not reached, or processes that do not all connect, within
``--distributed_timeout`` seconds (JAX itself would abort the process with a
C++ stack trace, so a watchdog thread exits first); processes that disagree
on ``--num_processes``.
"""

import ipaddress
import os
import sys
import threading
from typing import Optional

from absl import flags

_COORDINATOR = flags.DEFINE_string(
    'coordinator_address',
    None,
    'host:port of process 0 in a multi-host '
    'job, the same for every process (default $JAX_COORDINATOR_ADDRESS).',
)
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes',
    None,
    'Processes in the multi-host job (default '
    '$JAX_NUM_PROCESSES, or detected with --distributed).',
)
_PROCESS_ID = flags.DEFINE_integer(
    'process_id',
    None,
    'This process, 0 .. num_processes - 1 (default '
    '$JAX_PROCESS_ID, or detected with --distributed).',
)
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed',
    False,
    'Join a multi-host job described by the cluster '
    'environment (TPU pod slice, SLURM, Open MPI, Kubernetes).',
)
_TIMEOUT = flags.DEFINE_integer(
    'distributed_timeout',
    300,
    'Seconds for every process of a multi-host '
    'job to connect to the coordinator.',
)
_CPU_DEVICES = flags.DEFINE_integer(
    'cpu_devices',
    0,
    "On a CPU, use this many XLA devices (0: the tool's "
    'default: 1 for experiments.run, one per core for experiments.sweep). '
    'No effect on accelerators.',
)


class LaunchError(ValueError):
  """A start-up option that cannot work; the message is one line."""


def _env_int(name: str) -> Optional[int]:
  text = os.environ.get(name)
  if text is None:
    return None
  try:
    return int(text)
  except ValueError:
    raise LaunchError(f'${name}={text!r}: give an integer') from None


def _bind_address(address: str) -> Optional[str]:
  """Where the coordinator listens: all interfaces (JAX's default) unless
  it is on a loopback address, which then stays on loopback."""
  if 'JAX_COORDINATOR_BIND_ADDRESS' in os.environ:
    return None  # JAX reads it.
  host = address.rsplit(':', 1)[0].strip('[]')
  try:
    loopback = ipaddress.ip_address(host).is_loopback
  except ValueError:  # A name.
    loopback = host == 'localhost'
  return address if loopback else None


def _check_address(address: str) -> None:
  host, sep, port = address.rpartition(':')
  if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
    raise LaunchError(
        f'--coordinator_address={address!r}: give host:port, '
        'e.g. 10.0.0.1:1234'
    )


def start(default_cpu_devices: int = 0) -> None:
  """Sets the CPU device count, then joins the multi-host job if one is
  asked for. Raises LaunchError for bad options; exits the process with one
  line (code 1) when the job cannot be joined in time."""
  import jax  # Late: flags and their errors stay fast.

  if _CPU_DEVICES.value < 0:
    raise LaunchError(
        f'--cpu_devices={_CPU_DEVICES.value}: give 0 (the '
        'default) or a positive number'
    )
  cpu_devices = _CPU_DEVICES.value or default_cpu_devices
  if cpu_devices:
    jax.config.update('jax_num_cpu_devices', cpu_devices)

  address = _COORDINATOR.value or os.environ.get('JAX_COORDINATOR_ADDRESS')
  num_processes = _NUM_PROCESSES.value
  if num_processes is None:
    num_processes = _env_int('JAX_NUM_PROCESSES')
  process_id = _PROCESS_ID.value
  if process_id is None:
    process_id = _env_int('JAX_PROCESS_ID')
  if not (address or _DISTRIBUTED.value):
    if num_processes is not None or process_id is not None:
      raise LaunchError(
          '--num_processes and --process_id need '
          '--coordinator_address (or --distributed)'
      )
    return
  if address:
    _check_address(address)
    if num_processes is None or process_id is None:
      raise LaunchError(
          f'--coordinator_address={address}: also give '
          '--num_processes and --process_id (or use '
          '--distributed on a cluster that provides them)'
      )
  if num_processes is not None and num_processes < 1:
    raise LaunchError(
        f'--num_processes={num_processes}: give a positive number'
    )
  if (
      process_id is not None
      and num_processes is not None
      and not (0 <= process_id < num_processes)
  ):
    raise LaunchError(
        f'--process_id={process_id}: give 0 .. '
        f'{num_processes - 1} (--num_processes='
        f'{num_processes})'
    )
  if _TIMEOUT.value < 1:
    raise LaunchError(
        f'--distributed_timeout={_TIMEOUT.value}: give a '
        'positive number of seconds'
    )
  # CPU collectives across processes (no effect on accelerators).
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  _join(address, num_processes, process_id, _TIMEOUT.value)


def _exit(message: str) -> None:
  sys.stderr.write(f'error: {message}\n')
  sys.stderr.flush()
  os._exit(1)  # Also from a thread; nothing has been written yet.


def _join(address, num_processes, process_id, timeout: int) -> None:
  import jax

  joined = threading.Event()
  where = address or "the cluster environment's coordinator"

  def watchdog():
    if not joined.wait(timeout):
      _exit(
          f'--coordinator_address={where}: not every process connected '
          f'within {timeout} s (--distributed_timeout); check that all '
          f'{num_processes or "the"} processes run, with the same '
          '--coordinator_address and --num_processes, and that process '
          '0 is reachable'
      )

  threading.Thread(target=watchdog, daemon=True).start()
  # JAX's own deadline later than the watchdog's: JAX aborts the process.
  try:
    jax.distributed.initialize(
        address,
        num_processes,
        process_id,
        initialization_timeout=timeout + 60,
        coordinator_bind_address=address and _bind_address(address),
    )
  except (ValueError, RuntimeError) as error:  # E.g. no cluster detected.
    first_line = str(error).strip().splitlines()[0]
    _exit(
        f'--distributed: cannot join the job ({first_line}); outside a '
        'detected cluster give --coordinator_address, --num_processes '
        'and --process_id'
    )
  joined.set()
  _agree_on_process_count(num_processes)


def _agree_on_process_count(requested: Optional[int]) -> None:
  """Every process sees every other's --num_processes, so a mismatch stops
  all of them with the same line instead of leaving some waiting."""
  import jax
  import numpy as np
  from jax.experimental import multihost_utils

  count = jax.process_count()
  views = multihost_utils.process_allgather(
      np.asarray(requested or count, np.int32)
  )
  if any(int(view) != count for view in np.ravel(views)):
    _exit(
        f'--num_processes: the processes asked for '
        f'{sorted(set(int(v) for v in np.ravel(views)))} but {count} '
        'joined the coordinator; give every process the same, true count'
    )
