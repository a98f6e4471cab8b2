"""What the machine can do, and whether it stayed quiet while measured.

The benchmarks report speed as ratios taken in one run, but a shared
machine (a cloud VM whose host is busy) can slow down for minutes at a
time, and a ratio taken across such a change is not to be trusted. Two
signs of it: the repeats of one measurement spreading widely, and the peak
of a large matrix product differing before and after.
"""

import statistics
import time

# Repeats (or peaks) that differ by more than this fraction of their median:
# something else was using the machine. On a quiet one they agree within a
# few percent.
NOISY_SPREAD = 0.10


def matmul_size() -> int:
  """The peak's product: 2048 saturates a CPU, a GPU needs larger."""
  import jax

  return 2048 if jax.devices()[0].platform == 'cpu' else 8192


def matmul_peak_gflops(repeats: int = 5) -> float:
  """GFLOP/s of a large float32 matrix product (the median of
  ``repeats``), in JAX's default matmul precision."""
  import jax

  size = matmul_size()
  a = jax.random.normal(jax.random.PRNGKey(0), (size, size))
  product = jax.jit(lambda a: a @ a)
  jax.block_until_ready(product(a))
  seconds = []
  for _ in range(repeats):
    started = time.perf_counter()
    for _ in range(5):
      out = product(a)
    jax.block_until_ready(out)
    seconds.append((time.perf_counter() - started) / 5)
  return 2.0 * size**3 / statistics.median(seconds) / 1e9


def spread(values) -> float:
  """(largest - smallest) / median."""
  return (max(values) - min(values)) / statistics.median(values)
