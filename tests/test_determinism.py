"""Same seed, same config, same device count: bit-identical results, in two
separate processes, for every variant."""

import json
import os
import subprocess
import sys

import pytest

from gan_jax.variants import VARIANTS_2D

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Trains every variant for 3 steps of the train loop on one device and prints
# a SHA-256 of the final state and the metrics.
PROBE = r"""
import json, sys
import jax
jax.config.update('jax_num_cpu_devices', 1)
from experiments.storage import state_digests
from experiments.runner.loop import run_keys
from gan_jax import config as gan_config, state as gan_state, steps as gan_steps
from tests.helpers import small_config

digests = {}
for variant in sys.argv[1:]:
  config = small_config(variant, train__steps=3)
  spec, hparams, dataset = gan_config.build(config)
  init_rng, train_rng, _ = run_keys(config.seed)
  state = gan_state.init_state(spec, init_rng, hparams)
  steps = gan_steps.make_steps(spec)
  shape = (config.objective.n_critic, config.train.batch_size)
  state, metrics = jax.jit(lambda s, r: steps.train_loop(
      s, r, None, lambda key, data, i: dataset.sample(key, shape), 3))(
          state, train_rng)
  digests[variant] = state_digests.digest((state, metrics))
print(json.dumps(digests))
"""


# ~2.5 s of compilation per variant and process: all with -m slow, as
# tests/test_faults.py's bit-identical resumes (non_saturating).
@pytest.mark.parametrize(
    'variants',
    [
        pytest.param(('wgan_gp',), marks=pytest.mark.slow),
        pytest.param(
            tuple(
                v
                for v in VARIANTS_2D
                if v != 'wgan_gp' and v != 'non_saturating'
            ),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_every_variant_is_bit_identical_across_processes(variants):
  env = dict(os.environ, XLA_FLAGS='')  # One CPU device, as the probe says.
  env.pop('JAX_COMPILATION_CACHE_DIR', None)  # Each compiles on its own.
  probes = [
      subprocess.Popen(
          [sys.executable, '-c', PROBE, *variants],
          cwd=ROOT,
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.PIPE,
          text=True,
      )
      for _ in range(2)
  ]
  outputs = []
  for probe in probes:
    stdout, stderr = probe.communicate(timeout=600)
    assert probe.returncode == 0, stderr[-3000:]
    outputs.append(json.loads(stdout.strip().splitlines()[-1]))
  assert sorted(outputs[0]) == sorted(variants)
  assert outputs[0] == outputs[1]
  # The digest sees a change: different variants differ.
  assert len(set(outputs[0].values())) == len(variants)
