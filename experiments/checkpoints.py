"""Orbax checkpoints of the whole GANState (or any pytree of arrays, such
as a sweep group's stacked states).

Orbax writes each step into a temporary directory and renames it when
complete, so a crash mid-save never leaves a checkpoint that looks finished.
"""

import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """Saves and restores pytrees of arrays under ``workdir/checkpoints``."""

  def __init__(self, workdir: str, keep: int):
    self._manager = ocp.CheckpointManager(
        os.path.join(os.path.abspath(workdir), 'checkpoints'),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, step: int, state: Any) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state))

  def restore(self, like: Any, step: Optional[int] = None) -> Any:
    """Restores ``step`` (default: the latest) into the structure of ``like``,
    with ``like``'s shardings."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._manager.restore(step,
                                 args=ocp.args.StandardRestore(abstract))

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
