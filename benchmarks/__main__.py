r"""How fast each variant trains, against PyTorch doing the same math.

  pip install torch==2.13.0   # the baseline; never needed for training
  python -m benchmarks [--workloads=toy,dcgan,images] [--repeats=5]

Workloads: the 2-D toy (MLP 2-512-512-512, batch 256) for every seed
variant, and DCGAN at 28x28 (batch 64) for non_saturating and wgan_gp,
against PyTorch; and ``images``, JAX alone (no PyTorch StyleGAN2 here): the
DCGAN ``non_saturating`` and ``stylegan2`` steps with their run defaults at
8x8x3 (stacked_digits) and 32x32x3 (CIFAR-10), in a second table. Each
side is warmed up (JAX compiles, PyTorch allocates), then the two are timed
in turn, ``--repeats`` times, in this one process. Reported per workload:
median milliseconds per iteration (n_critic D steps + one G step) and the
spread of the repeats (wider than 10% of the median: the table says the
row is not reliable), iterations per second, the ratio, time to the first
step (building the model and state, JAX's compilation -- also reported
alone -- and the step), GFLOP/s from the layer shapes
(benchmarks/flops.py) and as a fraction of the peak of a large matrix
product (2048x2048 on a CPU, 8192x8192 on a GPU) measured in the same run;
and memory, two ways: the peak memory of a separate process training the
workload with one side only (``--memory_probe``; on a CPU its peak resident
memory above what was resident before the first iteration, so model, data,
optimizer, activations -- and for JAX the compiler's own memory -- are
counted; on a GPU the device memory each framework's allocator peaked at),
and XLA's buffer plan for the compiled step (arguments + outputs +
temporaries - aliased), the memory the step itself needs on any device.
Writes ``--out``/benchmark.json and benchmark.md (the table, with the
machine).

On a GPU, PyTorch runs on CUDA too (a JAX on another accelerator, or a
PyTorch without CUDA, is refused: the two sides must share a device), and
both multiply in ``--precision``: float32 by default, TensorFloat-32 for
both with ``--precision=tf32``.

The JAX side is the library as the runner uses it: ``make_steps`` of the
variant's config, data drawn inside the step, ``train_loop`` scanning
``steps_per_dispatch`` steps per call (one per call for convolutions on
CPU, see docs/performance.md).
"""

import importlib.util
import json
import os
import sys

from absl import app, flags, logging

from benchmarks import step_time
from benchmarks.peak import matmul_peak_gflops
from experiments import cli
from experiments.storage.failed_writes import failure_reason

WORKLOADS = ('toy', 'dcgan', 'images')
_WORKLOADS = flags.DEFINE_list(
    'workloads', list(WORKLOADS), 'One or more of toy, dcgan, images.'
)
_REPEATS = flags.DEFINE_integer('repeats', 5, 'Timed repeats per side.')
_SECONDS = flags.DEFINE_float(
    'seconds_per_repeat', 2.0, 'About how long one timed repeat runs.'
)
_OUT = flags.DEFINE_string(
    'out', 'benchmarks/results', 'Directory for benchmark.json and .md.'
)
_PRECISION = flags.DEFINE_enum(
    'precision',
    'float32',
    ['float32', 'tf32'],
    'Matrix products and convolutions on both sides: float32, or '
    "TensorFloat-32 on GPUs that have it (JAX's GPU default; PyTorch's "
    'for convolutions only). No effect on a CPU.',
)
_MEMORY_PROBE = flags.DEFINE_string(
    'memory_probe',
    None,
    'Internal: SIDE:WORKLOAD:VARIANT (jax or torch): '
    'train it alone and print the peak memory as JSON.',
)


def main(argv):
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Keep JAX's backend notes quiet.
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}')
  if _MEMORY_PROBE.value:
    side, workload, variant = _MEMORY_PROBE.value.split(':')
    print(
        json.dumps(
            step_time.memory_probe(side, workload, variant, _PRECISION.value)
        )
    )
    return
  unknown = set(_WORKLOADS.value) - set(WORKLOADS)
  if unknown or not _WORKLOADS.value:
    sys.exit(
        f'error: --workloads={",".join(_WORKLOADS.value)}: give one '
        f'or more of {", ".join(WORKLOADS)}'
    )
  if _REPEATS.value < 1 or _SECONDS.value <= 0:
    sys.exit('error: --repeats and --seconds_per_repeat must be positive')
  if importlib.util.find_spec('torch') is None:
    sys.exit('error: the baseline needs PyTorch: pip install torch==2.13.0')
  try:
    step_time.torch_device()
  except ValueError as error:
    sys.exit(f'error: {error}')
  try:  # Before minutes of measuring, not after.
    os.makedirs(_OUT.value, exist_ok=True)
  except FileExistsError:
    sys.exit(f'error: --out={_OUT.value} is a file; give a directory')
  except OSError as error:
    sys.exit(f'error: --out={_OUT.value}: {failure_reason(error)}')
  step_time.set_precision(_PRECISION.value)
  peak = matmul_peak_gflops()
  where = step_time.machine(_PRECISION.value)
  print(where)
  print(f'matrix-product peak: {peak:.0f} GFLOP/s')
  results, image_rows = [], []
  for workload in _WORKLOADS.value:
    if workload == 'images':
      for dataset, variant in step_time.IMAGE_ROWS:
        row = step_time.image_workload(
            dataset, variant, _REPEATS.value, _SECONDS.value
        )
        image_rows.append(row)
        print(
            f"{dataset:>15} {variant:>15}: JAX {row['jax_ms']:.2f} ms",
            flush=True,
        )
      continue
    for variant in (
        step_time.TOY_VARIANTS
        if workload == 'toy'
        else step_time.DCGAN_VARIANTS
    ):
      result = step_time.benchmark_workload(
          workload,
          variant,
          _REPEATS.value,
          _SECONDS.value,
          peak,
          _PRECISION.value,
      )
      results.append(result)
      print(
          f"{workload:>5} {variant:>15}: JAX {result['jax_ms']:.2f} ms, "
          f"PyTorch {result['torch_ms']:.2f} ms, "
          f"{result['speedup']:.2f}x, {result['jax_gflops']:.0f} GFLOP/s "
          f"({100 * result['jax_peak_fraction']:.0f}% of peak)",
          flush=True,
      )
  table = step_time.markdown(results, peak, where, _PRECISION.value)
  if image_rows:
    table += '\n' + step_time.image_markdown(image_rows)
    note = step_time.noise_note(image_rows)
    table += f'\n{note}\n' if note else ''
  print(table)  # Kept on the screen even if the files cannot be written.
  try:
    step_time.write_whole(
        os.path.join(_OUT.value, 'benchmark.json'),
        json.dumps(
            {
                'machine': where,
                'matmul_peak_gflops': peak,
                'results': results,
                'images': image_rows,
                'noise_note': step_time.noise_note(results + image_rows),
            },
            indent=2,
        ),
    )
    step_time.write_whole(os.path.join(_OUT.value, 'benchmark.md'), table)
  except OSError as error:
    sys.exit(
        f'error: writing under {_OUT.value} failed: '
        f'{failure_reason(error)}; the table above is the result'
    )


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
