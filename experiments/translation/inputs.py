"""Where each translation step's (x, y) batch comes from.

Image pairs: both domains' uint8 train images go to the device once
(gan_jax.data.on_device) and each step draws x and y independently, so
the batches are unpaired. On device: scaling to [-1, 1], the resize to
``data.load_size`` (or ``data.image_size``), a random ``image_size`` crop
and the optional horizontal flip, as the paper's 286 -> 256 crops. 2-D
pairs are sampled on device. Under per-device routes every draw is made for
the global batch and each device keeps its part (gan_jax.parallel).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from experiments.runner.inputs import Input, resize
from gan_jax import parallel
from gan_jax.data import pairs
from gan_jax.data.on_device import DeviceImages


def _part(route: str, drawn: jax.Array) -> jax.Array:
  return drawn if route == 'jit' else parallel.take_part(drawn)


def _constrain(route: str, mesh, x: jax.Array) -> jax.Array:
  """Under 'jit', the batch split over the mesh's data axis; a mesh without
  one (a sweep group's, whose runs are vmapped) keeps it whole."""
  if route != 'jit' or parallel.DATA_AXIS not in mesh.axis_names:
    return x
  return jax.lax.with_sharding_constraint(
      x, NamedSharding(mesh, P(parallel.DATA_AXIS))
  )


def random_crops(
    images: jax.Array, size: int, key: jax.Array, route: str = 'jit'
) -> jax.Array:
  """A random ``size`` x ``size`` window of each image [B, H, W, C]."""
  batch, height, width = images.shape[:3]
  if (height, width) == (size, size):
    return images
  global_batch = (
      batch if route == 'jit' else batch * jax.lax.psum(1, parallel.DATA_AXIS)
  )
  corners = _part(
      route,
      jnp.stack(
          [
              jax.random.randint(k, (global_batch,), 0, limit + 1)
              for k, limit in zip(
                  jax.random.split(key), (height - size, width - size)
              )
          ],
          -1,
      ),
  )
  crop = lambda image, corner: jax.lax.dynamic_slice(
      image, (corner[0], corner[1], 0), (size, size, image.shape[-1])
  )
  return jax.vmap(crop)(images, corners)


def image_input(config, domains: pairs.ImageDomains, mesh, route: str) -> Input:
  batch = config.train.batch_size
  size, load = config.data.image_size, config.data.load_size
  flip_images = config.data.random_flip
  replicated = NamedSharding(mesh, P())
  data = tuple(
      DeviceImages.from_host(
          images, np.zeros(len(images), np.int32), replicated
      )
      for images in (domains.x_train, domains.y_train)
  )

  def one_domain(images: DeviceImages, key):
    pick, crop_key, flip_key = jax.random.split(key, 3)
    index = _part(route, images.random_indices(pick, (batch,)))
    x = resize(DeviceImages.to_network(images.take(index)[0]), load or size)
    if load:
      x = random_crops(x, size, crop_key, route)
    if flip_images:
      flip = _part(route, jax.random.bernoulli(flip_key, 0.5, (batch,)))
      x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
    return _constrain(route, mesh, x)

  def sample_batch(key, data, i):
    del i
    x_key, y_key = jax.random.split(key)
    return one_domain(data[0], x_key), one_domain(data[1], y_key)

  mb = sum(d.images.size for d in data) / 2**20
  return Input(
      lambda step, num_steps: data,
      sample_batch,
      f'{config.pair}: {len(domains.x_train)} X and '
      f'{len(domains.y_train)} Y train images ({mb:.0f} MiB) '
      'in device memory, drawn independently',
  )


def point_input(config, pair: pairs.Pair, mesh, route: str) -> Input:
  source, batch = pair.points, config.train.batch_size
  if source is None:
    raise ValueError(f'pair {pair.name!r} is not a pair of 2-D points')

  def sample_batch(key, data, i):
    del data, i
    x_key, y_key = jax.random.split(key)
    x = _part(route, source.sample(x_key, (batch,)))
    y = pairs.shear(_part(route, source.sample(y_key, (batch,))))
    return tuple(_constrain(route, mesh, source.to_network(p)) for p in (x, y))

  return Input(
      lambda step, num_steps: None,
      sample_batch,
      f'{config.pair}, sampled on device',
  )
