r"""S seeds as one sweep against S runs of experiments.run one after another.

  python -m benchmarks.sweep_vs_runs --variant=non_saturating --seeds=10

Every side is a fresh process doing all its work, as a user would run it:
compilation, evaluations, checkpoints, pictures and start-up included.

* ``runs``: ``python -m experiments.run --variant=V --seed=s`` for s < S;
* ``sweep``: ``python -m experiments.sweep --variants=V --seeds=S`` (the run
  axis split over one CPU device per core, the sweep's default);
* ``sweep, 1 device``: the same with ``--cpu_devices=1``, which separates
  what batching itself gives from what the second core gives.

Extra ``--set=field=value`` flags go to every side. Prints the wall times,
the ratios, the mean final metrics of each side (the same runs, so they
should agree), the machine, and the peak of a large matrix product before
and after: where they differ by more than 10%, the machine's speed changed
while it was measured and the ratios are said to be not reliable.
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags, logging

from benchmarks.peak import NOISY_SPREAD, matmul_peak_gflops, spread
from experiments import cli

_VARIANT = flags.DEFINE_string('variant', 'non_saturating', 'Variant.')
_SEEDS = flags.DEFINE_integer('seeds', 10, 'Runs: seeds 0..S-1.')
_DATASET = flags.DEFINE_string('dataset', 'grid25', 'Dataset.')
_SET = flags.DEFINE_multi_string('set', [], 'field=value for every run.')
_SIDES = flags.DEFINE_list(
    'sides', ['runs', 'sweep', 'sweep1'], 'Which sides to time.'
)


def _timed(command) -> float:
  started = time.time()
  subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
  return time.time() - started


def _mean_final(summary_paths):
  finals = []
  for path in summary_paths:
    with open(path) as f:
      finals.append(json.load(f)['final_eval'])
  return {
      k: sum(f[k] for f in finals) / len(finals)
      for k in ('modes', 'high_quality_pct', 'reverse_kl')
      if k in finals[0]
  }


_SIDE_NAMES = ('runs', 'sweep', 'sweep1')


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; options are flags')
  seeds, variant = _SEEDS.value, _VARIANT.value
  if seeds < 1:
    sys.exit(f'error: --seeds={seeds}: give a count >= 1')
  unknown = [side for side in _SIDES.value if side not in _SIDE_NAMES]
  if unknown or not _SIDES.value:
    sys.exit(
        f'error: --sides={",".join(_SIDES.value)}: give one or more of '
        f'{", ".join(_SIDE_NAMES)}'
    )
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # Keep JAX's backend notes quiet.
  peaks = [matmul_peak_gflops()]  # Idle while the sides run.
  root = tempfile.mkdtemp(prefix='sweep_vs_runs_')
  python = [sys.executable, '-m']
  results = {}
  try:
    if 'runs' in _SIDES.value:
      overrides = [f'--config.{pair}' for pair in _SET.value]
      dirs = [os.path.join(root, f'run{s}') for s in range(seeds)]
      seconds = sum(
          _timed(
              python
              + [
                  'experiments.run',
                  f'--variant={variant}',
                  f'--seed={s}',
                  f'--dataset={_DATASET.value}',
                  f'--workdir={d}',
                  '--progress=false',
                  *overrides,
              ]
          )
          for s, d in zip(range(seeds), dirs)
      )
      results['runs'] = (
          seconds,
          _mean_final(os.path.join(d, 'summary.json') for d in dirs),
      )
    for side, extra in (('sweep', []), ('sweep1', ['--cpu_devices=1'])):
      if side not in _SIDES.value:
        continue
      workdir = os.path.join(root, side)
      seconds = _timed(
          python
          + [
              'experiments.sweep',
              f'--variants={variant}',
              f'--seeds={seeds}',
              f'--dataset={_DATASET.value}',
              f'--workdir={workdir}',
              '--progress=false',
              *extra,
              *(f'--set={p}' for p in _SET.value),
          ]
      )
      runs_dir = os.path.join(workdir, 'runs')
      results[side] = (
          seconds,
          _mean_final(
              os.path.join(runs_dir, d, 'summary.json')
              for d in sorted(os.listdir(runs_dir))
          ),
      )
  except subprocess.CalledProcessError as failed:  # It said why on stderr.
    sys.exit(
        f"error: {' '.join(failed.cmd[2:4])} ... failed (exit "
        f'{failed.returncode}); nothing was timed'
    )
  finally:
    shutil.rmtree(root, ignore_errors=True)
  peaks.append(matmul_peak_gflops())

  import jax

  print(
      f'{variant} on {_DATASET.value}, {seeds} seeds'
      + (f", {' '.join(_SET.value)}" if _SET.value else '')
      + ', '
      f'{os.cpu_count()} cores ({platform.processor() or platform.machine()}'
      f'), jax {jax.__version__}'
  )
  labels = {
      'runs': f'{seeds} x experiments.run',
      'sweep': 'experiments.sweep',
      'sweep1': 'experiments.sweep --cpu_devices=1',
  }
  base = results.get('runs', (None,))[0]
  for side, (seconds, final) in results.items():
    ratio = f'  {base / seconds:5.2f}x' if base else ''
    shown = ', '.join(f'{k} {v:.3g}' for k, v in final.items())
    print(f'  {labels[side]:>36}: {seconds:7.1f} s{ratio}   (mean {shown})')
  print(
      f'matrix-product peak: {peaks[0]:.0f} GFLOP/s before, {peaks[1]:.0f} '
      'after'
  )
  if spread(peaks) > NOISY_SPREAD:
    print(
        f'Not reliable: the peaks differ by more than {NOISY_SPREAD:.0%}, '
        'so something else was using the machine; run this again when it '
        'is quiet.'
    )


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
