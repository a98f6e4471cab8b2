"""Data parallelism: one train loop, three ways to spread it over devices.

The global batch is split over the ``'data'`` axis of a 1-D mesh; the state
(params, optimizer states, EMA, hyperparameters) is replicated. Every route
gives the result of one device running the whole global batch, to float
rounding (tests/test_parallel.py checks each against it):

* ``'jit'`` (the default): ``jax.jit`` on arrays with ``NamedSharding``s. The
  step sees the global batch and XLA inserts the all-reduces. The models
  need no ``axis_name``: batch statistics are over the global batch by
  construction. Works unchanged across hosts.
* ``'shard_map'``: ``jax.shard_map`` over the mesh. The step runs per device
  on its part of the batch and averages gradients, metrics and batch
  statistics itself with ``lax.pmean`` over ``axis_name='data'``.
* ``'pmap'``: ``jax.pmap`` with the same per-device semantics, for code that
  calls the steps that way.

Per-device routes draw every random number of the global batch (noise, data
indices, interpolation weights, flips) and keep their slice
(:func:`take_part`), so the numbers do not depend on the device count; drawing
a 2-D point or an index costs little next to a network.
"""

from typing import Any, Callable, Optional, Tuple

import jax
import numpy as np
from jax import lax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

ROUTES = ('jit', 'shard_map', 'pmap')
DATA_AXIS = 'data'

Loop = Callable[[Any, jax.Array, Any], Tuple[Any, Any]]


def data_mesh(num_devices: int = 0) -> Mesh:
  """A 1-D mesh over the first ``num_devices`` devices (0: all, every host's).

  ``jax.devices()`` lists each host's devices together, so a host's devices
  hold a contiguous part of the batch and it reads only that part.
  """
  devices = jax.devices()
  return Mesh(np.array(devices[: num_devices or len(devices)]), (DATA_AXIS,))


def axis_name(route: str) -> Optional[str]:
  """The ``axis_name`` that the models and steps take under ``route``."""
  check_route(route)
  return None if route == 'jit' else DATA_AXIS


def check_route(route: str) -> None:
  if route not in ROUTES:
    raise ValueError(
        f'unknown parallel route {route!r}; valid: {", ".join(ROUTES)}'
    )


def take_part(x: jax.Array, name: str = DATA_AXIS, axis: int = 0) -> jax.Array:
  """This device's slice of ``x`` along ``axis``, inside shard_map or pmap
  over ``name``: device i of n keeps block i of n."""
  count, index = lax.psum(1, name), lax.axis_index(name)
  size = x.shape[axis] // count
  return lax.dynamic_slice_in_dim(x, index * size, size, axis)


def parallel_loop(
    loop: Loop, route: str, mesh: Mesh, data_spec: P = P()
) -> Loop:
  """``loop(state, rng, data) -> (state, metrics)`` compiled for ``route``.

  ``state`` and ``rng`` are replicated; ``data`` (whatever the input's
  sampler reads: None, a dataset in device memory, a chunk of batches) is
  laid out by ``data_spec``. Under 'jit' the loop sees global arrays; under
  'shard_map' and 'pmap' it runs per device (its steps built with
  ``axis_name='data'``) and returns the replicated state and metrics.
  Takes and returns the state replicated on ``mesh`` whatever the route,
  so checkpoints and evaluation do not depend on it.
  """
  check_route(route)
  if route == 'jit':
    return jax.jit(loop, donate_argnums=0)
  if route == 'shard_map':
    # check_vma=False: pmap's semantics, where the steps' own pmean does the
    # averaging (see gan_jax.steps).
    return jax.jit(
        jax.shard_map(
            loop,
            mesh=mesh,
            in_specs=(P(), P(), data_spec),
            out_specs=(P(), P()),
            check_vma=False,
        ),
        donate_argnums=0,
    )
  if data_spec != P():
    raise ValueError(
        "route 'pmap' takes replicated data only (in_axes "
        'None); shard the data with the jit or shard_map route'
    )
  # pmap needs one mapped argument: the key, broadcast to every device of
  # this host (each host feeds its own devices).
  count = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
  mapped = jax.pmap(
      loop,
      axis_name=DATA_AXIS,
      in_axes=(None, 0, None),
      out_axes=(None, None),
      devices=list(mesh.devices.flat),
  )

  def keys(rng):
    # One copy of the key per device, laid out as pmap takes its mapped
    # argument: each host holds its own devices' copies.
    local = rng.addressable_data(0) if isinstance(rng, jax.Array) else rng
    return jax.make_array_from_process_local_data(
        NamedSharding(mesh, P(DATA_AXIS)),
        jax.numpy.broadcast_to(local, (count, *local.shape)),
    )

  def global_out(out):
    if jax.process_count() == 1:
      return out
    # pmap returns each host its local copy; make them one global array.
    return multihost_utils.host_local_array_to_global_array(out, mesh, P())

  def run(state, rng, data):
    return global_out(mapped(state, keys(rng), data))

  # As a jitted loop: run.lower(state, rng, data).compile() -> a callable
  # with run's arguments, compiled once (what the runner dispatches).
  def lower(state, rng, data):
    lowered = mapped.lower(state, keys(rng), data)
    return _Lowered(lowered, keys, global_out)

  run.lower = lower  # type: ignore[attr-defined]
  return run


class _Lowered:
  """A lowered pmap loop whose compiled form takes the loop's own
  arguments (one key, not one per device)."""

  def __init__(self, lowered, keys, global_out):
    self._lowered, self._keys, self._global_out = lowered, keys, global_out

  def compile(self):
    compiled = self._lowered.compile()
    keys, global_out = self._keys, self._global_out

    class Compiled:

      def __call__(self, state, rng, data):
        return global_out(compiled(state, keys(rng), data))

      def memory_analysis(self):
        return compiled.memory_analysis()

    return Compiled()
