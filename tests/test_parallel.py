"""Data parallelism: every route of gan_jax.parallel, on 8 fake CPU devices,
against one device running the same global batch (the runner's own loop and
input code)."""

import functools

import chex
import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from experiments.runner import inputs
from gan_jax import config as gan_config, parallel
from gan_jax import state as gan_state, steps as gan_steps
from tests.helpers import small_config, train_on_devices

NUM_DEVICES = 8
NUM_STEPS = 20

# SGD, not Adam: some gradients are zero or nearly so (dead ReLUs; with batch
# norm, G's output bias, since a batch-normalised D ignores a shift of every
# fake), and Adam's first steps turn their float noise into full-size steps of
# random sign. SGD compares the averaged gradients themselves.
_SGD = {
    'optim.g.name': 'sgd',
    'optim.d.name': 'sgd',
    'optim.g.lr': 0.05,
    'optim.d.lr': 0.05,
}
CONFIGS = {
    'wgan_gp': ('wgan_gp', _SGD),
    'batch_norm': (
        'non_saturating',
        {'model.g_norm': 'batch', 'model.d_norm': 'batch', **_SGD},
    ),
    # Packs of 2 (2 packs per device), the gradient penalty per pack, and
    # G's look-ahead through a penalised D update averaged over devices.
    'packed_unrolled': (
        'wgan_gp',
        {'model.pack': 2, 'objective.unroll_steps': 1, **_SGD},
    ),
}


def _config(name):
  variant, overrides = CONFIGS[name]
  config = small_config(variant, train__batch_size=32)
  config.update_from_flattened_dict(overrides)
  return config


def _train(config, route, num_devices):
  return train_on_devices(config, route, num_devices, NUM_STEPS)


@functools.lru_cache(maxsize=None)
def _single_device(name):
  return _train(_config(name), 'jit', 1)


def _assert_close(a, b, rtol, atol):
  jax.tree.map(
      lambda x, y: np.testing.assert_allclose(
          np.asarray(x), np.asarray(y), rtol=rtol, atol=atol
      ),
      a,
      b,
  )


SLOW_ROUTES = (
    ('packed_unrolled', 'jit'),
    ('packed_unrolled', 'pmap'),
    ('packed_unrolled', 'shard_map'),
    ('batch_norm', 'jit'),
)


@pytest.mark.parametrize(
    'name, route',
    [
        # The slowest to the slow set (packed_unrolled: all three; the
        # unrolled step is checked on one device in test_steps.py).
        pytest.param(name, route, marks=pytest.mark.slow)
        if (name, route) in SLOW_ROUTES
        else (name, route)
        for name in sorted(CONFIGS)
        for route in parallel.ROUTES
    ],
)
def test_route_matches_one_device(name, route):
  assert jax.device_count() >= NUM_DEVICES, 'conftest sets 8 CPU devices'
  expected = _single_device(name)
  got = _train(_config(name), route, NUM_DEVICES)
  (one_state, one_metrics), (last_state, last_metrics) = got
  # One step: float rounding of reductions in another order.
  _assert_close(one_state, expected[0][0], rtol=1e-5, atol=1e-6)
  _assert_close(one_metrics, expected[0][1], rtol=1e-4, atol=1e-5)
  # Twenty steps: the rounding grows a little through the updates.
  _assert_close(last_state, expected[1][0], rtol=1e-3, atol=1e-4)
  _assert_close(last_metrics, expected[1][1], rtol=1e-3, atol=1e-4)
  assert int(last_state.step) == NUM_STEPS


def test_loop_does_not_retrace_or_transfer_and_keeps_the_state_replicated():
  config = _config('wgan_gp')
  mesh = parallel.data_mesh(NUM_DEVICES)
  spec, hparams, dataset = gan_config.build(config, parallel.DATA_AXIS)
  steps = gan_steps.make_steps(spec, parallel.DATA_AXIS)
  layout = inputs.Layout(mesh, 'shard_map')
  train_input = inputs.make_input(config, dataset, (5, 32), layout)

  @chex.assert_max_traces(n=1)
  def traced_loop(state, rng, data):
    return steps.train_loop(state, rng, data, train_input.sample_batch, 1)

  loop = parallel.parallel_loop(traced_loop, 'shard_map', mesh)
  state = jax.device_put(
      gan_state.init_state(spec, jax.random.PRNGKey(0), hparams),
      layout.replicated,
  )
  rng = jax.device_put(jax.random.PRNGKey(1), layout.replicated)
  # No transfer between steps: everything the loop needs is on the mesh.
  with jax.transfer_guard('disallow'):
    for _ in range(3):
      state, _ = loop(state, rng, None)
  for leaf in jax.tree.leaves(state):
    assert leaf.sharding.is_fully_replicated
    assert len(leaf.sharding.device_set) == NUM_DEVICES


def test_image_batches_are_split_like_the_global_batch(digits_dir):
  """An image batch (indices, labels, random flips) drawn per device is the
  device's slice of the batch that one device draws."""
  config = small_config(
      'non_saturating',
      dataset='digits',
      data__dir=digits_dir,
      data__random_flip=True,
      model__conditional=True,
      train__batch_size=16,
  )
  source = gan_config.build(config)[2]
  mesh = parallel.data_mesh(NUM_DEVICES)
  key = jax.random.PRNGKey(3)

  def batch(route):
    layout = inputs.Layout(mesh, route)
    train_input = inputs.make_input(config, source, (2, 16), layout)
    sample = functools.partial(train_input.sample_batch, i=0)
    data = train_input.data(0, 1)
    if route == 'jit':
      return jax.jit(sample)(key, data)
    return jax.jit(
        jax.shard_map(
            sample,
            mesh=mesh,
            in_specs=(P(), P()),
            out_specs=P(None, parallel.DATA_AXIS),
            check_vma=False,
        )
    )(key, data)

  (x, labels), (x_parts, label_parts) = batch('jit'), batch('shard_map')
  chex.assert_shape(x, (2, 16, 8, 8, 1))
  np.testing.assert_array_equal(np.asarray(labels), np.asarray(label_parts))
  np.testing.assert_array_equal(np.asarray(x), np.asarray(x_parts))


def test_pmap_refuses_a_sharded_data_layout():
  with pytest.raises(ValueError, match='pmap'):
    parallel.parallel_loop(
        lambda s, r, d: (s, {}),
        'pmap',
        parallel.data_mesh(2),
        P(None, None, 'data'),
    )


def test_unknown_route_lists_the_valid_ones():
  with pytest.raises(ValueError, match='jit, shard_map, pmap'):
    parallel.axis_name('pjit')


@pytest.mark.slow
def test_the_runner_trains_by_the_pmap_route(tmp_path):
  """The runner's compiled-loop path (lower, compile, call) on pmap, as
  on jit and shard_map; the same metrics as the jit route to rounding."""
  from experiments.runner.train import train_and_evaluate

  finals = {}
  for route in ('jit', 'pmap'):
    config = small_config(train__parallel=route, train__num_devices=2)
    summary = train_and_evaluate(config, str(tmp_path / route), False)
    assert summary['status'] == 'completed', route
    finals[route] = summary['final_eval']
  for metric, value in finals['jit'].items():
    np.testing.assert_allclose(finals['pmap'][metric], value, rtol=0.05)
