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
"""

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding

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


def toy_input(dataset: Toy2D, batch_shape, batch_sharding) -> Input:
  def sample_batch(key, data, i):
    del data, i
    batch = dataset.to_network(dataset.sample(key, batch_shape))
    return jax.lax.with_sharding_constraint(batch, batch_sharding)

  return Input(lambda step, num_steps: None, sample_batch,
               f'{dataset.name}, sampled on device')


def resize(x: jax.Array, size: int) -> jax.Array:
  """Images [..., H, W, C] to [..., size, size, C] (antialiased bilinear);
  unchanged when size is 0 or already theirs."""
  if not size or x.shape[-3:-1] == (size, size):
    return x
  return jax.image.resize(x, (*x.shape[:-3], size, size, x.shape[-1]),
                          'linear', antialias=True)


def _finish(images_uint8, labels, key, conditional: bool, random_flip: bool,
            batch_sharding: NamedSharding, size: int):
  """uint8 batch -> network input (and labels for a conditional GAN)."""
  x = resize(DeviceImages.to_network(images_uint8), size)
  if random_flip:
    flip = jax.random.bernoulli(key, 0.5, x.shape[:-3])
    x = jnp.where(flip[..., None, None, None], x[..., ::-1, :], x)
  x = jax.lax.with_sharding_constraint(x, batch_sharding)
  return (x, labels) if conditional else x


def _size_mb(reader, source) -> float:
  return len(reader) * np.prod(source.shape) / 2**20


def is_streamed(config) -> bool:
  """Whether the train split is too large for device memory and streams
  (raises DatasetNotPrepared when it cannot be read)."""
  source = image_data.IMAGE_SOURCES[config.dataset]
  reader = image_data.RecordReader(config.dataset, source.train_split,
                                   config.data.dir or None)
  return _size_mb(reader, source) > config.data.in_memory_limit_mb


def image_input(config, batch_shape, replicated: NamedSharding,
                batch_sharding: NamedSharding) -> Input:
  """The in-memory or the streamed input of an image dataset (see the
  module docstring)."""
  name, data_dir = config.dataset, config.data.dir or None
  source = image_data.IMAGE_SOURCES[name]
  reader = image_data.RecordReader(name, source.train_split, data_dir)
  conditional, flip = config.model.conditional, config.data.random_flip
  size = config.data.image_size
  size_mb = _size_mb(reader, source)

  if size_mb <= config.data.in_memory_limit_mb:
    images, labels = reader.read(range(len(reader)))
    on_device = DeviceImages.from_host(images, labels, replicated)

    def sample_batch(key, data, i):
      del i
      pick_key, flip_key = jax.random.split(key)
      x, y = data.sample_with_labels(pick_key, batch_shape)
      return _finish(x, y, flip_key, conditional, flip, batch_sharding,
                     size)

    return Input(lambda step, num_steps: on_device, sample_batch,
                 f'{name}/{source.train_split}: {len(reader)} images '
                 f'({size_mb:.0f} MiB) in device memory')

  stream = streaming.PrefetchStream(reader.read, len(reader), batch_shape,
                                    seed=config.seed)
  chunk_sharding = NamedSharding(batch_sharding.mesh,
                                 jax.sharding.PartitionSpec(
                                     None, *batch_sharding.spec))

  def data(step, num_steps):
    images, labels = stream.get(step, num_steps)
    return DeviceImages(jax.device_put(images, chunk_sharding),
                        jax.device_put(labels, chunk_sharding))

  def sample_batch(key, data, i):
    return _finish(data.images[i], data.labels[i], key, conditional, flip,
                   batch_sharding, size)

  return Input(data, sample_batch,
               f'{name}/{source.train_split}: {len(reader)} images '
               f'({size_mb:.0f} MiB), streamed', stream.close)


def make_input(config, dataset, batch_shape, replicated, batch_sharding
               ) -> Input:
  if isinstance(dataset, Toy2D):
    return toy_input(dataset, batch_shape, batch_sharding)
  return image_input(config, batch_shape, replicated, batch_sharding)

