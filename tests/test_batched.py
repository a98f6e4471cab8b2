"""Runs stacked on a leading axis and vmapped: same numbers as one by one,
and a diverging member isolated."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import batched, optim
from gan_jax import config as gan_config
from gan_jax import state as gan_state, steps as gan_steps
from tests.helpers import small_config

NUM_STEPS = 3

# Differ in seed and in numbers the state holds: learning rates, betas,
# the penalty weight.
RUNS = [
    dict(seed=0),
    dict(seed=1, optim__d__lr=3e-4, objective__penalty_weight=0.5),
    dict(seed=2, optim__g__lr=5e-5, optim__g__b1=0.0),
]


def _sample(dataset, config):
  shape = (config.objective.n_critic, config.train.batch_size)

  def sample_batch(key, data, i):
    del data, i
    return dataset.to_network(dataset.sample(key, shape))

  return sample_batch


def _runs(overrides):
  configs = [small_config('wgan_gp', **o) for o in overrides]
  built = [gan_config.build(c) for c in configs]
  states = [
      gan_state.init_state(spec, jax.random.PRNGKey(c.seed), hparams)
      for c, (spec, hparams, _) in zip(configs, built)
  ]
  rngs = [jax.random.PRNGKey(100 + c.seed) for c in configs]
  return configs, built, states, rngs


def _one_by_one(configs, built, states, rngs):
  results = []
  for config, (spec, _, dataset), state, rng in zip(
      configs, built, states, rngs
  ):
    loop = jax.jit(
        functools.partial(
            gan_steps.make_steps(spec).train_loop,
            sample_batch=_sample(dataset, config),
            num_steps=NUM_STEPS,
        )
    )
    results.append(loop(state, rng, None)[0])
  return results


def test_a_vmapped_group_matches_the_runs_one_by_one():
  configs, built, states, rngs = _runs(RUNS)
  expected = _one_by_one(configs, built, states, rngs)
  spec, _, dataset = built[0]  # One spec serves the whole group.
  loop = batched.make_group_loop(
      gan_steps.make_steps(spec).train_loop,
      _sample(dataset, configs[0]),
      NUM_STEPS,
  )
  group, metrics, alive = loop(
      batched.stack(states), jnp.stack(rngs), None, jnp.ones(len(RUNS), bool)
  )
  assert alive.tolist() == [True] * len(RUNS)
  chex.assert_shape(metrics['d_loss'], (len(RUNS), NUM_STEPS))
  for index, single in enumerate(expected):
    chex.assert_trees_all_close(
        batched.unstack(group, index), single, rtol=2e-5, atol=2e-6
    )
  # Each run kept its own learning rate in its optimizer state.
  lrs = optim.learning_rate_of(group.d.opt_state)
  np.testing.assert_allclose(lrs, [1e-4, 3e-4, 1e-4], rtol=1e-6)


def test_a_diverging_run_is_frozen_and_the_others_go_on():
  overrides = [
      RUNS[0],
      dict(seed=1, optim__d__lr=1e30, optim__g__lr=1e30),
      RUNS[2],
  ]
  configs, built, states, rngs = _runs(overrides)
  expected = _one_by_one(configs, built, states, rngs)
  spec, _, dataset = built[0]
  loop = batched.make_group_loop(
      gan_steps.make_steps(spec).train_loop,
      _sample(dataset, configs[0]),
      NUM_STEPS,
  )
  start = batched.stack(states)
  initial = batched.unstack(start, 1)
  group, _, alive = loop(start, jnp.stack(rngs), None, jnp.ones(3, bool))
  assert alive.tolist() == [True, False, True]
  # The diverged run keeps its last finite state (here: the initial one).
  chex.assert_trees_all_equal(batched.unstack(group, 1), initial)
  for index in (0, 2):
    chex.assert_trees_all_close(
        batched.unstack(group, index), expected[index], rtol=2e-5, atol=2e-6
    )
  # Once frozen, it stays frozen.
  again, _, alive = loop(group, jnp.stack(rngs), None, alive)
  assert alive.tolist() == [True, False, True]
  chex.assert_trees_all_equal(batched.unstack(again, 1), initial)


def test_init_group_is_the_runs_initialised_one_by_one():
  # Different seeds, learning rates, betas and penalty weights: each run's
  # numbers come from its own config, in one vmapped initialisation.
  overrides = RUNS + [
      dict(seed=3, optim__g__b1=0.9, objective__penalty_weight=1.0)
  ]
  configs, built, states, _ = _runs(overrides)
  group = batched.init_group(
      [spec for spec, _, _ in built],
      jnp.stack([jax.random.PRNGKey(c.seed) for c in configs]),
      [hparams for _, hparams, _ in built],
  )
  chex.assert_trees_all_close(
      group, batched.stack(states), rtol=1e-6, atol=1e-7
  )
  np.testing.assert_allclose(
      optim.learning_rate_of(group.d.opt_state),
      [1e-4, 3e-4, 1e-4, 1e-4],
      rtol=1e-6,
  )
