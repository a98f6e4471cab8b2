r"""S seeds of one GAN: one vmapped group against S runs one after another.

  python -m benchmarks.batched_runs --variant=wgan_gp --seeds=10 --steps=500

Both sides train the same S configurations (seed s: params from
PRNGKey(s)) on grid25 for ``--steps`` G steps with the default config, in
chunks of ``log_every`` steps per dispatch as the runner does, and include
their compilation: the sequential side compiles once per run, as separate
``experiments.run`` processes would. Prints wall times, their ratio and the
machine. Evaluation and checkpoints are left out of both.
"""

import functools
import platform
import time

import jax
import jax.numpy as jnp
from absl import app, flags

from experiments.configs import default
from gan_jax import batched, config as gan_config
from gan_jax import state as gan_state, steps as gan_steps
from gan_jax.variants import get_variant

_VARIANT = flags.DEFINE_string('variant', 'wgan_gp', 'Variant to train.')
_SEEDS = flags.DEFINE_integer('seeds', 10, 'Runs (seeds 0..S-1).')
_STEPS = flags.DEFINE_integer('steps', 500, 'G steps per run.')


def _config(seed: int):
  config = default.get_config()
  config.update_from_flattened_dict(dict(get_variant(_VARIANT.value).overrides))
  config.seed = seed
  config.train.steps = _STEPS.value
  return config


def _sampler(dataset, config):
  shape = (config.objective.n_critic, config.train.batch_size)
  return lambda key, data, i: dataset.to_network(dataset.sample(key, shape))


def _chunks(total: int, size: int):
  done = 0
  while done < total:
    yield min(size, total - done)
    done += size


def sequential(seeds: int) -> float:
  started = time.time()
  for seed in range(seeds):
    config = _config(seed)
    spec, hparams, dataset = gan_config.build(config)  # A fresh spec: a
    steps = gan_steps.make_steps(spec)                  # fresh compile.
    state = gan_state.init_state(spec, jax.random.PRNGKey(seed), hparams)
    rng = jax.random.PRNGKey(1000 + seed)

    @functools.lru_cache(maxsize=None)
    def loop(n, steps=steps, dataset=dataset, config=config):
      return jax.jit(functools.partial(steps.train_loop,
                                       sample_batch=_sampler(dataset, config),
                                       num_steps=n), donate_argnums=0)

    for n in _chunks(config.train.steps, config.train.log_every):
      state, metrics = loop(n)(state, rng, None)
      jax.device_get(metrics['d_loss'][-1])  # The runner's per-chunk sync.
  return time.time() - started


def grouped(seeds: int) -> float:
  started = time.time()
  configs = [_config(seed) for seed in range(seeds)]
  built = [gan_config.build(c) for c in configs]
  spec, _, dataset = built[0]
  steps = gan_steps.make_steps(spec)
  states = batched.stack([
      gan_state.init_state(s, jax.random.PRNGKey(c.seed), h)
      for c, (s, h, _) in zip(configs, built)])
  rngs = jnp.stack([jax.random.PRNGKey(1000 + c.seed) for c in configs])
  alive = jnp.ones(seeds, bool)
  loops = {}
  for n in _chunks(configs[0].train.steps, configs[0].train.log_every):
    if n not in loops:
      loops[n] = batched.make_group_loop(steps, _sampler(dataset, configs[0]),
                                         n)
    states, metrics, alive = loops[n](states, rngs, None, alive)
    jax.device_get(metrics['d_loss'][:, -1])
  return time.time() - started


def main(argv):
  del argv
  seeds = _SEEDS.value
  one_by_one = sequential(seeds)
  together = grouped(seeds)
  print(f'{_VARIANT.value}, grid25, {seeds} seeds x {_STEPS.value} steps, '
        f'{jax.devices()[0].platform} ({jax.device_count()} devices, '
        f'{platform.processor() or platform.machine()}), jax '
        f'{jax.__version__}')
  print(f'  one after another: {one_by_one:7.1f} s')
  print(f'  one vmapped group: {together:7.1f} s')
  print(f'  ratio: {one_by_one / together:.2f}x')


if __name__ == '__main__':
  app.run(main)
