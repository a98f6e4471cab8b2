"""Shared test setup: 8 fake CPU devices, set before JAX starts."""

import fcntl
import os

# Must happen before any JAX computation initialises the CPU backend.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8')

import jax  # noqa: E402

jax.config.update('jax_num_cpu_devices', 8)

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def digits_dir(tmp_path_factory):
  """A TFDS data dir with the embedded digits built and their metrics
  classifier trained (default settings, ~40 s on a 2-core CPU), shared by
  every test that needs them -- and by every pytest-xdist worker: the first
  builds it under a lock, the others wait and reuse it."""
  from gan_jax import image_evaluation
  shared = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    shared = shared.parent  # This session's directory, common to workers.
  data_dir = shared / 'tfds_digits'
  with open(shared / 'tfds_digits.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    image_evaluation.build_feature_extractor('digits', str(data_dir))
  return str(data_dir)
