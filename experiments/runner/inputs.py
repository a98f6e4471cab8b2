"""Where each train step's real batch comes from.

An :class:`Input` gives the training loop two things: ``data(step,
num_steps)``, the pytree passed to the jitted loop for steps [step, step +
num_steps), and ``sample_batch(key, data, i)``, which runs inside the loop
(see gan_jax.steps.train_loop). Three kinds:

* 2-D benchmarks: sampled on device from the key; no data at all.
* Image datasets that fit in ``data.in_memory_limit_mb``: the uint8 train
  split goes to the device once and batches are gathered inside the step.
* Larger ones (CelebA): batches are read ahead on host threads
  (gan_jax.data.streaming) and copied to the device a chunk at a time, while
  the previous chunk trains.

Scaling to [-1, 1] and the optional random horizontal flip happen on device.
A :class:`Layout` says whether the step sees the global batch (jit) or its
device's part (shard_map, pmap).
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax import config as gan_config
from gan_jax import parallel
from gan_jax.data import images as image_data
from gan_jax.data import streaming
from gan_jax.data.on_device import DeviceImages
from gan_jax.data.toy2d import Toy2D


@dataclasses.dataclass
class Input:
  data: Callable[[int, int], Any]
  sample_batch: Callable[[jax.Array, Any, jax.Array], Any]
  description: str
  close: Callable[[], None] = lambda: None
  # How ``data(...)`` is laid out over the mesh (shard_map's in_spec).
  data_spec: P = P()


@dataclasses.dataclass(frozen=True)
class Layout:
  """Where the step's batch [n_critic, B, ...] lives.

  ``route`` 'jit': the step sees the global batch, constrained to be split
  over the mesh's 'data' axis (or replicated with ``shard_batch=False``, as
  inside a sweep's vmapped step). 'shard_map' / 'pmap': the step runs per
  device; random draws are made for the global batch and each device keeps
  its part, so the data do not depend on the device count.
  """

  mesh: Mesh
  route: str = 'jit'
  shard_batch: bool = True

  @property
  def per_device(self) -> bool:
    return self.route != 'jit'

  def part(self, drawn: jax.Array) -> jax.Array:
    """A draw for the global batch [n_critic, B, ...] -> this step's part."""
    return parallel.take_part(drawn, axis=1) if self.per_device else drawn

  def constrain(self, x: jax.Array) -> jax.Array:
    if self.per_device:
      return x
    spec = P(None, parallel.DATA_AXIS) if self.shard_batch else P()
    return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

  @property
  def replicated(self) -> NamedSharding:
    return NamedSharding(self.mesh, P())


def toy_input(dataset: Toy2D, batch_shape, layout: Layout) -> Input:
  def sample_batch(key, data, i):
    del data, i
    points = layout.part(dataset.sample(key, batch_shape))
    return layout.constrain(dataset.to_network(points))

  return Input(
      lambda step, num_steps: None,
      sample_batch,
      f'{dataset.name}, sampled on device',
  )


def resize(x: jax.Array, size: int) -> jax.Array:
  """Images [..., H, W, C] to [..., size, size, C] (antialiased bilinear);
  unchanged when size is 0 or already theirs."""
  if not size or x.shape[-3:-1] == (size, size):
    return x
  return jax.image.resize(
      x, (*x.shape[:-3], size, size, x.shape[-1]), 'linear', antialias=True
  )


def _size_mb(reader, source) -> float:
  return len(reader) * np.prod(source.shape) / 2**20


def is_streamed(config) -> bool:
  """Whether the train split is too large for device memory and streams
  (raises DatasetNotPrepared when it cannot be read)."""
  source = image_data.image_source(config.dataset, config)
  reader = image_data.RecordReader(
      config.dataset, source.train_split, config.data.dir or None, source
  )
  return _size_mb(reader, source) > config.data.in_memory_limit_mb


def _local_columns(sharding: NamedSharding, global_shape) -> slice:
  """The part of axis 2 of a [steps, n_critic, B, ...] chunk that this
  host's devices hold (everything on one host)."""
  indices = sharding.devices_indices_map(global_shape)
  parts = [indices[device] for device in sharding.addressable_devices]
  starts = [p[2].start or 0 for p in parts]
  stops = [global_shape[2] if p[2].stop is None else p[2].stop for p in parts]
  return slice(min(starts), max(stops))


class Subset:
  """``count`` records of ``reader``, the same ones in every run (chosen
  with a fixed seed, whatever the run's), read like a reader."""

  def __init__(self, reader, count: int):
    self._reader = reader
    rng = np.random.default_rng(0)
    self.indices = np.sort(rng.choice(len(reader), count, replace=False))

  def __len__(self) -> int:
    return len(self.indices)

  def read(self, indices):
    return self._reader.read(self.indices[np.asarray(indices, int)].tolist())


def image_input(config, batch_shape, layout: Layout) -> Input:
  """The in-memory or the streamed input of an image dataset (see the
  module docstring); ``data.subset`` of its images when that is set."""
  name, data_dir = config.dataset, config.data.dir or None
  source = image_data.image_source(name, config)
  reader: Any = image_data.RecordReader(
      name, source.train_split, data_dir, source
  )
  subset = config.data.get('subset', 0)
  if subset and subset < len(reader):
    reader = Subset(reader, subset)
  conditional, random_flip = config.model.conditional, config.data.random_flip
  size = config.data.image_size
  size_mb = _size_mb(reader, source)

  def finish(images_uint8, labels, flip_key):
    """uint8 batch -> network input (and labels for a conditional GAN)."""
    x = resize(DeviceImages.to_network(images_uint8), size)
    if random_flip:
      flip = layout.part(jax.random.bernoulli(flip_key, 0.5, batch_shape))
      x = jnp.where(flip[..., None, None, None], x[..., ::-1, :], x)
    x = layout.constrain(x)
    return (x, labels) if conditional else x

  if size_mb <= config.data.in_memory_limit_mb:
    images, labels = reader.read(range(len(reader)))
    on_device = DeviceImages.from_host(images, labels, layout.replicated)

    def sample_in_memory(key, data, i):
      del i
      pick_key, flip_key = jax.random.split(key)
      index = layout.part(data.random_indices(pick_key, batch_shape))
      picked_images, picked_labels = data.take(index)
      return finish(picked_images, picked_labels, flip_key)

    return Input(
        lambda step, num_steps: on_device,
        sample_in_memory,
        f'{name}/{source.train_split}: {len(reader)} images '
        f'({size_mb:.0f} MiB) in device memory',
    )

  if layout.route == 'pmap':
    raise gan_config.ConfigError(
        f"train.parallel='pmap' is not allowed with {name}, which streams "
        f'({size_mb:.0f} MiB > data.in_memory_limit_mb='
        f'{config.data.in_memory_limit_mb}): use jit or shard_map'
    )
  chunk_spec = P(None, None, parallel.DATA_AXIS if layout.shard_batch else None)
  chunk_sharding = NamedSharding(layout.mesh, chunk_spec)
  columns = _local_columns(chunk_sharding, (1, *batch_shape))
  stream = streaming.PrefetchStream(
      reader.read, len(reader), batch_shape, seed=config.seed, columns=columns
  )

  def data(step, num_steps):
    # Each host reads its own columns; together they make the global chunk.
    images, labels = stream.get(step, num_steps)
    shape = (num_steps, *batch_shape)
    return DeviceImages(
        *(
            jax.make_array_from_process_local_data(
                chunk_sharding, local, shape + local.shape[3:]
            )
            for local in (images, labels)
        )
    )

  def sample_streamed(key, data, i):
    # Under shard_map ``data`` is this device's part already.
    return finish(data.images[i], data.labels[i], key)

  return Input(
      data,
      sample_streamed,
      f'{name}/{source.train_split}: {len(reader)} images '
      f'({size_mb:.0f} MiB), streamed',
      stream.close,
      chunk_spec,
  )


def make_input(config, dataset, batch_shape, layout: Layout) -> Input:
  if isinstance(dataset, Toy2D):
    return toy_input(dataset, batch_shape, layout)
  return image_input(config, batch_shape, layout)
