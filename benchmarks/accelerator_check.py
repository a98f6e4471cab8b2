r"""One command that measures a machine, for the README: an accelerator's
(or, with smaller sizes, a CPU's) step times, formulations and precisions.

  python -m benchmarks.accelerator_check [--out=accelerator_check.md] \
      [--small] [--seconds=1.5]

Writes one Markdown file with

1. the machine (device, host, versions);
2. JAX against PyTorch on the same device (benchmarks/step_time.py): the
   2-D toy and DCGAN at 28x28, float32 (PyTorch on CUDA where JAX is on a
   GPU; the rows are left out, said so, where this PyTorch cannot run
   there);
3. the JAX step of each CPU-tuned formulation against the standard one,
   and of each compute dtype (train.formulation, train.compute_dtype), on
   DCGAN non_saturating and wgan_gp, each dispatched as the runner
   dispatches it (one unrolled step per call in the CPU formulation);
4. a short image run per compute dtype on CIFAR-shaped data (the embedded
   stacked digits at 32x32x3) through ``python -m experiments.run``: its
   steps per second, the compiled loop's memory and the final metrics;
5. a two-run sweep split over two devices, where two exist.

On a CPU (or with ``--small``) every part is smaller, so CI runs it; the
whole check is meant to finish within 8 minutes on a GPU.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import List

from absl import app, flags

from experiments import cli

_OUT = flags.DEFINE_string(
    'out', 'accelerator_check.md', 'The Markdown file to write.'
)
_SMALL = flags.DEFINE_bool('small', None, 'Smaller sizes (default: on a CPU).')
_SECONDS = flags.DEFINE_float(
    'seconds', 1.5, 'About how long one timed repeat runs.'
)
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, "The image runs' data dir (default: TFDS's)."
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPEATS = 3


def _python(args: List[str], timeout: float) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, '-m', *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


def _versus_pytorch(small: bool, seconds: float, precision: str) -> str:
  from benchmarks import step_time
  from benchmarks.peak import matmul_peak_gflops

  try:
    step_time.torch_device()
  except (ImportError, ValueError) as error:
    return f'Left out: {error}.\n'
  rows = (
      [('toy', 'wgan_gp')]
      if small
      else [
          ('toy', 'non_saturating'),
          ('toy', 'wgan_gp'),
          ('dcgan', 'non_saturating'),
          ('dcgan', 'wgan_gp'),
      ]
  )
  peak = matmul_peak_gflops()
  results = [
      step_time.benchmark_workload(
          workload,
          variant,
          REPEATS,
          seconds,
          peak,
          precision,
          probe_memory=False,
      )
      for workload, variant in rows
  ]
  return step_time.markdown(
      results, peak, step_time.machine(precision), precision
  )


FORMULATIONS = (
    ('cpu', 'float32'),
    ('standard', 'float32'),
    ('standard', 'bfloat16'),
    ('cpu', 'bfloat16'),
)
# The most steps one timed call runs: the runner's count (a log interval
# for the standard formulation) made short enough for a repeat of about
# --seconds. Small: two, since the standard loop takes about a second a
# step on a CPU.
MOST_PER_CALL = {True: 2, False: 50}


def formulation_settings(small: bool, device_platform: str) -> List[dict]:
  """The formulation table's rows before anything is timed: variant,
  formulation, compute dtype, and the dispatch each is timed at, which is
  the runner's (benchmarks.step_time.dispatch): one unrolled step per call
  in the CPU formulation, where XLA:CPU runs convolutions in loop bodies
  several times slower (jax-ml/jax#12868); timing both formulations at one
  count would time one of them at a setting no run uses."""
  from benchmarks import step_time

  variants = ('non_saturating',) if small else ('non_saturating', 'wgan_gp')
  rows = []
  for variant in variants:
    for formulation, dtype in FORMULATIONS:
      extra = {'train.formulation': formulation, 'train.compute_dtype': dtype}
      per_call, runner, unrolled = step_time.dispatch(
          step_time._config('dcgan', variant, extra),
          device_platform,
          MOST_PER_CALL[small],
      )
      rows.append(
          dict(
              variant=variant,
              formulation=formulation,
              dtype=dtype,
              extra=extra,
              steps_per_dispatch=per_call,
              runner_steps_per_dispatch=runner,
              unrolled=unrolled,
          )
      )
  return rows


def dispatch_cell(per_call: int, runner: int, unrolled: bool) -> str:
  """The table's dispatch cell: steps per call, and the runner's count
  where the check timed fewer."""
  return (
      f'{per_call}'
      + (', unrolled' if unrolled else '')
      + ('' if per_call == runner else f" (the runner's: {runner})")
  )


def _formulations(small: bool, seconds: float) -> str:
  import jax
  from benchmarks import step_time

  lines = [
      '| DCGAN 28x28 variant | formulation | products | ms/it (range) '
      '| steps per call | compile | XLA step buffers |',
      '|---|---|---|---|---|---|---|',
  ]
  for row in formulation_settings(small, jax.devices()[0].platform):
    r = step_time.jax_step_ms(
        'dcgan',
        row['variant'],
        row['extra'],
        REPEATS,
        seconds,
        MOST_PER_CALL[small],
    )
    lines.append(
        f"| `{row['variant']}` | {row['formulation']} | {row['dtype']} | "
        f"{r['ms']:.2f} ({r['ms_min']:.2f}-{r['ms_max']:.2f}) | "
        + dispatch_cell(
            r['steps_per_dispatch'],
            r['runner_steps_per_dispatch'],
            r['unrolled'],
        )
        + f" | {r['compile_s']:.1f} s | {r['xla_step_mib']:.1f} MiB |"
    )
  return (
      '\n'.join(lines)
      + "\n\nEach formulation is timed at the runner's dispatch "
      '(experiments/runner/loop.py): the CPU formulation one unrolled step '
      'per call, the standard one a log interval per call, at most '
      f'{MOST_PER_CALL[small]} steps here.\n'
  )


def _image_runs(small: bool, workdir: str, data_dir) -> str:
  steps = 20 if small else 400
  lines = [
      '| products | status | steps | steps/s | compiled loop | FD | '
      'modes of 1000 |',
      '|---|---|---|---|---|---|---|',
  ]
  for dtype in ('float32', 'bfloat16'):
    run_dir = os.path.join(workdir, f'run_{dtype}')
    done = _python(
        [
            'experiments.run',
            '--variant=non_saturating',
            '--dataset=stacked_digits',
            f'--workdir={run_dir}',
            '--config.data.image_size=32',
            f'--config.train.steps={steps}',
            f'--config.train.log_every={steps // 2}',
            f'--config.train.eval_every={steps}',
            f'--config.train.checkpoint_every={steps}',
            '--config.eval.num_samples=500',
            '--config.eval.mode_samples=2000',
            '--config.eval.features=classifier',
            f'--config.train.compute_dtype={dtype}',
            '--progress=false',
            *([f'--data_dir={data_dir}'] if data_dir else []),
        ],
        timeout=900,
    )
    if done.returncode:
      tail = done.stderr.strip().splitlines()[-1:] or ['(no output)']
      lines.append(f'| {dtype} | failed: {tail[0]} | | | | | |')
      continue
    with open(os.path.join(run_dir, 'summary.json')) as f:
      summary = json.load(f)
    memory = re.search(r'loop needs ([\d.]+ MiB)', done.stdout + done.stderr)
    final = summary['final_eval']
    lines.append(
        f"| {dtype} | {summary['status']} | {summary['step']} | "
        f"{summary['steps_per_second']:.1f} | "
        f"{memory.group(1) if memory else '?'} | {final['fd']:.1f} | "
        f"{final['modes']:.0f} |"
    )
  return '\n'.join(lines) + '\n'


def _sweep(small: bool, workdir: str) -> str:
  import jax

  if jax.device_count() < 2:
    return f'Left out: {jax.device_count()} device here; it needs two.\n'
  steps = 200 if small else 2000
  started = time.time()
  done = _python(
      [
          'experiments.sweep',
          '--variants=wgan_gp',
          '--seeds=2',
          f'--workdir={os.path.join(workdir, "sweep")}',
          f'--set=train.steps={steps}',
          '--progress=false',
      ],
      timeout=900,
  )
  wall = time.time() - started
  if done.returncode:
    return f'Failed: {done.stderr.strip().splitlines()[-1:]}\n'
  with open(os.path.join(workdir, 'sweep', 'results.md')) as f:
    table = f.read()
  return (
      f'`experiments.sweep --variants=wgan_gp --seeds=2` on grid25, '
      f'{steps} steps, the two runs split over two devices: {wall:.0f} s '
      f'in all.\n\n{table}'
  )


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; options are flags')
  import jax
  from benchmarks import step_time

  platform = jax.devices()[0].platform
  small = platform == 'cpu' if _SMALL.value is None else _SMALL.value
  precision = 'float32'
  if platform != 'cpu':
    step_time.set_precision(precision)
  started = time.time()
  sections = [
      f'# Accelerator check, {time.strftime("%Y-%m-%d")}',
      f'Devices: {jax.device_count()} x {jax.devices()[0].device_kind} '
      f'({platform}); jax {jax.__version__}'
      + ('; small sizes' if small else '')
      + '.',
  ]
  with tempfile.TemporaryDirectory() as workdir:
    for title, make in [
        (
            'JAX against PyTorch, float32',
            lambda: _versus_pytorch(small, _SECONDS.value, precision),
        ),
        (
            'Formulations and compute dtypes (JAX)',
            lambda: _formulations(small, _SECONDS.value),
        ),
        (
            'Image runs per compute dtype, 32x32x3',
            lambda: _image_runs(small, workdir, _DATA_DIR.value),
        ),
        ('A sweep over two devices', lambda: _sweep(small, workdir)),
    ]:
      print(f'{title} ...', file=sys.stderr, flush=True)
      sections.append(f'## {title}\n\n{make()}')
  sections.append(
      f'Measured in {time.time() - started:.0f} s by '
      '`python -m benchmarks.accelerator_check`.'
  )
  step_time.write_whole(_OUT.value, '\n\n'.join(sections) + '\n')
  print(f'written to {_OUT.value}')


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
