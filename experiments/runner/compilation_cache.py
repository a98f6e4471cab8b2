"""JAX's persistent compilation cache, on by default for the commands.

Every run compiles the same programs as the run before it (the 2-D toy's
train loop, the evaluation programs, DCGAN's step). With the cache, a
second run reads them from disk instead (docs/performance.md has the
times). ``--compilation_cache=DIR`` moves it, ``--compilation_cache=none``
turns it off; without the flag, ``$JAX_COMPILATION_CACHE_DIR`` where set
(JAX's own variable), else ``<cache>/xla`` under gan_jax's cache directory
(``$GAN_JAX_CACHE``, else ``~/.cache/gan_jax``). JAX writes each entry
atomically, so several processes (a sweep's hosts, runs side by side) can
share one directory. Entries are keyed by the program, the XLA flags, the
devices and the JAX version: a cached program is the program that would
have been compiled, and results do not change.
"""

import os
from typing import Optional

import jax
from absl import flags

from gan_jax.metrics.inception_weights import cache_dir

COMPILATION_CACHE = flags.DEFINE_string(
    'compilation_cache',
    None,
    'Directory of the persistent compilation '
    'cache, or "none" to turn it off (default: $JAX_COMPILATION_CACHE_DIR, '
    'else ~/.cache/gan_jax/xla).',
)

# Programs that compile faster than this are not worth a file each (JAX's
# default is 1 s; the runners' evaluation programs take 0.2-1 s each).
MIN_COMPILE_SECONDS = 0.2
_MIN_COMPILE_TIME = 'jax_persistent_cache_min_compile_time_secs'


def default_directory() -> str:
  return os.path.join(cache_dir(), 'xla')


def configure(value: Optional[str] = None) -> Optional[str]:
  """Turns the cache on in ``value`` (default: the flag's, then the rules
  of the module docstring), or off for 'none'; returns the directory, or
  None when off. Call before the first compilation."""
  if value is None and flags.FLAGS.is_parsed():
    value = COMPILATION_CACHE.value
  if value is None:
    value = os.environ.get('JAX_COMPILATION_CACHE_DIR') or default_directory()
  if value.strip().lower() == 'none':
    jax.config.update('jax_enable_compilation_cache', False)
    return None
  jax.config.update('jax_enable_compilation_cache', True)
  jax.config.update('jax_compilation_cache_dir', value)
  # Read by name: JAX adds its options as attributes at run time, where
  # type checkers do not see them.
  jax.config.update(
      _MIN_COMPILE_TIME,
      min(MIN_COMPILE_SECONDS, getattr(jax.config, _MIN_COMPILE_TIME)),
  )
  return value
