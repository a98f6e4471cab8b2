"""Shared test setup: the CPU with 8 fake devices, set before JAX starts,
and one persistent XLA compilation cache for the whole suite.

The tests compile the same small programs again and again -- in each
pytest-xdist worker and in every `experiments.run` they start as a
subprocess (about half of such a subprocess's time). JAX's persistent cache
(keyed by the program, the XLA flags, the devices and the JAX version) lets
them compile each once; it changes no result. tests/test_determinism.py
turns it off for its processes, so that compilation itself is compared too.
"""

import fcntl
import os
import tempfile

# The suite runs on the CPU on any machine. With a GPU jaxlib installed, JAX
# would otherwise default to the GPU -- where the multi-device tests have
# one device, not 8 -- and every pytest-xdist worker would preallocate 75%
# of its memory (out of memory from the second worker on).
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# Must happen before any JAX computation initialises the CPU backend.
os.environ['XLA_FLAGS'] = (
    os.environ.get('XLA_FLAGS', '')
    + ' --xla_force_host_platform_device_count=8'
)
# Before JAX is imported (it reads these once); subprocesses inherit them.
os.environ.setdefault(
    'JAX_COMPILATION_CACHE_DIR',
    os.path.join(
        tempfile.gettempdir(), f'gan_jax_test_xla_cache_{os.getuid()}'
    ),
)
os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '0'

import jax  # noqa: E402

jax.config.update('jax_num_cpu_devices', 8)

import pytest  # noqa: E402


@pytest.fixture(scope='session')
def digits_dir(tmp_path_factory):
  """A TFDS data dir with the embedded digits built and their metrics
  classifier trained (default settings, ~20-30 s on a 2-core CPU), shared by
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


@pytest.fixture(autouse=True)
def _stderr_unmuted():
  """A test whose save the OS refused leaves fd 2 muted (as a run about to
  exit wants: experiments.storage.failed_writes); the next test gets it
  back."""
  yield
  from experiments.storage import failed_writes

  failed_writes.unmute_stderr()
