"""Small configs shared by the tests (tiny networks compile fast), and
random Inception weights in the reference layout."""

import collections
import contextlib
import functools
import math
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

from experiments.configs import default
from gan_jax.metrics import inception
from gan_jax.variants import get_variant

# experiments.run's flags for a tiny run (4 steps, one evaluation).
SMALL_RUN_FLAGS = [
    '--config.model.width=16',
    '--config.model.depth=2',
    '--config.train.batch_size=16',
    '--config.train.steps=4',
    '--config.train.log_every=2',
    '--config.train.eval_every=4',
    '--config.train.checkpoint_every=4',
    '--config.eval.num_samples=100',
    '--progress=false',
]


def small_config(variant: str = 'non_saturating', **overrides):
  """The default config with ``variant`` applied, shrunk for tests.

  ``overrides`` are flattened field paths with '__' for '.', e.g.
  ``model__d_norm='batch'``.
  """
  config = default.get_config()
  config.variant = variant
  config.update_from_flattened_dict(dict(get_variant(variant).overrides))
  config.update_from_flattened_dict(
      {
          'model.width': 16,
          'model.depth': 2,
          'train.batch_size': 16,
          'train.steps': 8,
          'train.log_every': 2,
          'train.eval_every': 4,
          'train.checkpoint_every': 4,
          'eval.num_samples': 200,
          'train.num_devices': 1,
      }
  )
  config.update_from_flattened_dict(
      {k.replace('__', '.'): v for k, v in overrides.items()}
  )
  return config


def one_step(config, seed=0, steps=1):
  """(state, metrics) after ``steps`` jitted train steps of ``config`` on
  one device (2-D samples, or uniform noise in place of images), the
  same batches and keys for any config of the same shapes."""
  from gan_jax import config as gan_config
  from gan_jax import state as gan_state, steps as gan_steps
  from gan_jax.data import Toy2D

  spec, hparams, dataset = gan_config.build(config)
  state = gan_state.init_state(spec, jax.random.PRNGKey(seed), hparams)
  shape = (config.objective.n_critic, config.train.batch_size)
  train_step = jax.jit(gan_steps.make_steps(spec).train_step)
  metrics = {}
  for i in range(steps):
    key = jax.random.PRNGKey(1 + i)
    if isinstance(dataset, Toy2D):
      batch = dataset.to_network(dataset.sample(key, shape))
    else:
      batch = jax.random.uniform(
          key, (*shape, *spec.data_shape), minval=-1.0, maxval=1.0
      )
      if spec.num_classes:
        batch = (batch, jax.random.randint(key, shape, 0, spec.num_classes))
    state, metrics = train_step(state, batch, jax.random.PRNGKey(2))
  return state, metrics


def assert_same_on_devices(
    config, route: str, num_devices: int, num_steps: int, rtol: float = 1e-5
):
  """``config`` takes the same steps (state and metrics, to ``rtol``) on
  ``num_devices`` devices by ``route`` as on one device by jit."""
  import chex

  (one, one_metrics), _ = train_on_devices(config, 'jit', 1, num_steps)
  (many, many_metrics), _ = train_on_devices(
      config, route, num_devices, num_steps
  )
  chex.assert_trees_all_close(one, many, rtol=rtol, atol=rtol / 10)
  chex.assert_trees_all_close(
      one_metrics, many_metrics, rtol=rtol * 10, atol=rtol
  )


def train_on_devices(config, route: str, num_devices: int, num_steps: int):
  """The state and metrics after the first and after the last of
  ``num_steps`` train steps on ``num_devices`` devices by ``route``, from
  the runner's pieces (gan_jax.parallel, experiments.runner.inputs)."""
  from experiments.runner import inputs
  from gan_jax import config as gan_config, parallel
  from gan_jax import state as gan_state, steps as gan_steps

  mesh = parallel.data_mesh(num_devices)
  layout = inputs.Layout(mesh, route)
  spec, hparams, dataset = gan_config.build(config, parallel.axis_name(route))
  steps = gan_steps.make_steps(spec, parallel.axis_name(route))
  train_input = inputs.make_input(
      config,
      dataset,
      (config.objective.n_critic, config.train.batch_size),
      layout,
  )
  loop = parallel.parallel_loop(
      functools.partial(
          steps.train_loop, sample_batch=train_input.sample_batch, num_steps=1
      ),
      route,
      mesh,
      train_input.data_spec,
  )
  state = jax.device_put(
      gan_state.init_state(spec, jax.random.PRNGKey(0), hparams),
      layout.replicated,
  )
  rng = jax.random.PRNGKey(1)
  history = []
  for step in range(num_steps):
    state, metrics = loop(state, rng, train_input.data(step, 1))
    if step in (0, num_steps - 1):
      history.append(jax.device_get((state, metrics)))
  return history


def random_inception_state_dict(seed: int = 0):
  """Random FID Inception weights in the reference layout, scaled so that
  activations stay of order one through the ~95 layers (He-scaled
  convolutions, batch norm statistics and affine terms away from the
  identity)."""
  rng = np.random.default_rng(seed)
  shapes = inception.state_dict_from_variables(
      jax.tree.map(
          lambda x: np.zeros(x.shape, np.float32),
          inception.abstract_variables(),
      )
  )
  state = collections.OrderedDict()
  for name, like in sorted(shapes.items()):
    shape = like.shape
    if name.endswith('conv.weight'):
      value = rng.normal(0, math.sqrt(2 / np.prod(shape[1:])), shape)
    elif name.endswith('running_mean') or name.endswith('bn.bias'):
      value = rng.normal(0, 0.1, shape)
    elif name.endswith('running_var') or name.endswith('bn.weight'):
      value = rng.uniform(0.5, 1.5, shape)
    elif name == 'fc.weight':
      value = rng.normal(0, 1 / math.sqrt(shape[1]), shape)
    else:  # fc.bias
      value = rng.normal(0, 1, shape)
    state[name] = value.astype(np.float32)
  return state


class SignalAfter:
  """A preemption.StopRequest that 'receives' SIGTERM at its
  ``calls``-th look (looked at after each dispatch, and agreed on once per
  log interval)."""

  def __init__(self, calls: int):
    self._left = calls

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    pass

  def signal_name(self):
    self._left -= 1
    return 'SIGTERM' if self._left < 0 else None

  agreed = signal_name


@contextlib.contextmanager
def tmpfs(mount_point, size: str):
  """A tmpfs of ``size`` ('40m') mounted at ``mount_point`` while inside:
  a real disk to fill. Needs root and mount: skips the test elsewhere."""
  mount_point.mkdir()
  mounted = subprocess.run(
      ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mount_point)],
      capture_output=True,
  )
  if mounted.returncode != 0:
    pytest.skip('cannot mount a tmpfs here (needs root)')
  try:
    yield mount_point
  finally:
    subprocess.run(['umount', str(mount_point)], check=True)


def import_torchvision():
  """torchvision where it is installed, or None. Its PyPI build registers
  C operators that need CUDA libraries at import beside the CPU build of
  torch; an empty ``torchvision._meta_registrations`` stands in for that
  module (the references the tests use, pytorch-fid's Inception blocks and
  the image utilities transformers imports, use none of those operators).
  Every test module imports it through here, so the first import, whichever
  test runs first in a worker, is the same for all of them."""
  if 'torchvision' not in sys.modules:
    sys.modules.setdefault(
        'torchvision._meta_registrations',
        types.ModuleType('torchvision._meta_registrations'),
    )
  try:
    import torchvision  # pylint: disable=g-import-not-at-top

    return torchvision
  except Exception:  # pylint: disable=broad-except
    return None
