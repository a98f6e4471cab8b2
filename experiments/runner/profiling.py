"""A run's profile and its start line: what was chosen for this backend,
and how much memory the compiled loop needs.

``train.profile_steps`` = N traces the dispatches that cover N train steps
from the end of the run's first interval (the first compiles, so it would
show compilation rather than steps) with ``jax.profiler`` into
WORKDIR/profile: an XPlane file for TensorBoard's profile plugin
(``pip install tensorboard tensorboard-plugin-profile; tensorboard
--logdir WORKDIR/profile``) and ``perfetto_trace.json.gz`` for
https://ui.perfetto.dev (open the file there).
"""

import os
from typing import Optional

import jax

from gan_jax import config as gan_config


class StepProfiler:
  """Starts a trace at the first dispatch from ``first_step`` on and stops
  it, the device work done, once ``count`` steps are covered."""

  def __init__(self, directory: str, first_step: int, count: int):
    self.directory, self._first, self._count = directory, first_step, count
    self._state = 'waiting' if count else 'done'

  def before(self, step: int) -> None:
    if self._state == 'waiting' and step >= self._first:
      os.makedirs(self.directory, exist_ok=True)
      jax.profiler.start_trace(self.directory, create_perfetto_trace=True)
      self._state, self._first = 'tracing', step

  def after(self, outputs, end_step: int) -> None:
    if self._state == 'tracing' and end_step >= self._first + self._count:
      jax.block_until_ready(outputs)  # The traced steps' device work.
      self.close()

  def close(self) -> None:
    if self._state == 'tracing':
      jax.profiler.stop_trace()
    self._state = 'done'


def compiled_bytes(compiled) -> Optional[int]:
  """XLA's buffer plan for one call of a compiled function: arguments,
  outputs and temporaries, less what donation aliases (None where the
  backend does not say)."""
  try:
    plan = compiled.memory_analysis()
    return int(
        plan.argument_size_in_bytes
        + plan.output_size_in_bytes
        + plan.temp_size_in_bytes
        - plan.alias_size_in_bytes
    )
  except (AttributeError, NotImplementedError, TypeError):
    return None


def start_line(
    config, devices: str, route: str, per_dispatch: int, compiled
) -> str:
  """The run's start line: devices, route, formulation, compute dtype,
  steps per dispatch and the compiled loop's memory."""
  chosen = gan_config.formulation(config)
  how = ' (auto)' if config.train.formulation == 'auto' else ''
  memory = compiled_bytes(compiled)
  return (
      f'{devices}, {route}: {chosen} formulation{how}, '
      f'{config.train.compute_dtype} products, {per_dispatch} steps per '
      'dispatch; the compiled loop needs '
      + (
          'an unreported amount of memory'
          if memory is None
          else f'{memory / 2**20:.1f} MiB (XLA: arguments, outputs and '
          'temporaries, donated state counted once)'
      )
  )
