"""flax's nn.ConvTranspose against gan_jax's ConvTranspose4x4 (same math,
another kernel gradient), in DCGAN's 28x28 generator at batch 64.

  python -m benchmarks.conv_transpose [--repeats=7]

Times one forward and backward pass (gradients of the params and of z),
jitted, after a warm-up; prints the median and the spread of the repeats,
and a JSON line. Needs only jax and flax, so it runs on a bare accelerator
machine too.
"""

import argparse
import functools
import json
import platform
import statistics
import sys
import time
from typing import Any, Dict, cast

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan_jax.models import conv_transpose, dcgan

BATCH, LATENT, SHAPE, WIDTH = 64, 100, (28, 28, 1), 64


def _generator_loss(plain: bool):
  # The same generator, with flax's own transposed convolution if plain.
  layer = (
      functools.partial(nn.ConvTranspose, kernel_size=(4, 4), strides=(2, 2))
      if plain
      else conv_transpose.ConvTranspose4x4
  )
  model = dcgan.DCGANGenerator(SHAPE, WIDTH, 'batch', conv_transpose=layer)
  z = jax.random.normal(jax.random.PRNGKey(0), (BATCH, LATENT))
  variables = model.init(jax.random.PRNGKey(1), z)

  def loss(params, z):
    images, _ = model.apply(
        {'params': params, 'batch_stats': variables['batch_stats']},
        z,
        mutable=['batch_stats'],
    )
    return jnp.mean(images**2)

  step = jax.jit(jax.grad(loss, argnums=(0, 1)))
  return step, variables['params'], z


def _layer(plain: bool):
  x = jax.random.normal(jax.random.PRNGKey(0), (BATCH, 7, 7, 2 * WIDTH))
  module = (
      nn.ConvTranspose(WIDTH, (4, 4), strides=(2, 2))
      if plain
      else conv_transpose.ConvTranspose4x4(WIDTH)
  )
  params = module.init(jax.random.PRNGKey(1), x)

  def loss(p, x):
    # Nothing mutable: flax returns the output alone (its annotation also
    # allows for the (output, variables) pair of a mutable apply).
    out = cast(jax.Array, module.apply(p, x))
    return jnp.mean(out**2)

  step = jax.jit(jax.grad(loss, argnums=(0, 1)))
  return step, params, x


def _time(step, *args, repeats: int, calls: int = 5):
  compile_started = time.perf_counter()
  jax.block_until_ready(step(*args))
  first = time.perf_counter() - compile_started
  times = []
  for _ in range(repeats):
    started = time.perf_counter()
    for _ in range(calls):
      out = step(*args)
    jax.block_until_ready(out)
    times.append((time.perf_counter() - started) / calls * 1e3)
  return {
      'median_ms': statistics.median(times),
      'min_ms': min(times),
      'max_ms': max(times),
      'first_call_s': first,
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=7)
  args = parser.parse_args()
  if args.repeats < 1:
    sys.exit(f'error: --repeats={args.repeats}: give a count >= 1')
  device = jax.devices()[0]
  results: Dict[str, Any] = {
      'device': f'{device.platform}: {device.device_kind}',
      'host': platform.processor() or platform.machine(),
      'jax': jax.__version__,
  }
  for name, build in (('generator', _generator_loss), ('layer', _layer)):
    for plain in (True, False):  # Interleaved: one after the other.
      key = f"{name}_{'flax' if plain else 'gan_jax'}"
      results[key] = _time(*build(plain), repeats=args.repeats)
      print(
          f"{key:>18}: {results[key]['median_ms']:8.2f} ms "
          f"({results[key]['min_ms']:.2f} - {results[key]['max_ms']:.2f})"
      )
  for name in ('generator', 'layer'):
    flax_ms = results[name + '_flax']['median_ms']
    print(
        f'{name} speed-up: '
        f"{flax_ms / results[name + '_gan_jax']['median_ms']:.2f}x"
    )
  print(json.dumps(results))


if __name__ == '__main__':
  main()
