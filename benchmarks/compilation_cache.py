r"""How much sooner a second identical run starts training with the
persistent compilation cache (experiments/runner/compilation_cache.py).

  python -m benchmarks.compilation_cache

Runs each command three times, one after another, in fresh workdirs: with
an empty cache, again with the cache the first run filled, and with the
cache off. Each run is the README's command cut to one train step (and
one evaluation and checkpoint), so its wall time is what a run takes
before training proper: starting Python and JAX, reading data, compiling.
Prints a Markdown table.
"""

import os
import subprocess
import sys
import tempfile
import time
from typing import List, Tuple

COMMANDS = {
    'wgan_gp, grid25 (2-D MLP)': ['--variant=wgan_gp'],
    'wgan_gp, digits (DCGAN)': ['--variant=wgan_gp', '--dataset=digits'],
}
ONE_STEP = [
    '--config.train.steps=1',
    '--config.train.log_every=1',
    '--config.train.eval_every=1',
    '--config.train.checkpoint_every=1',
    '--progress=false',
]


def _wall(args, workdir, cache) -> float:
  env = {
      k: v for k, v in os.environ.items() if k != 'JAX_COMPILATION_CACHE_DIR'
  }
  started = time.perf_counter()
  subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          *args,
          *ONE_STEP,
          f'--workdir={workdir}',
          f'--compilation_cache={cache}',
      ],
      check=True,
      capture_output=True,
      env=env,
  )
  return time.perf_counter() - started


def main() -> None:
  rows: List[Tuple[str, float, float, float]] = []
  with tempfile.TemporaryDirectory() as root:
    for name, args in COMMANDS.items():
      cache = os.path.join(root, f'cache_{len(rows)}')
      cold = _wall(args, os.path.join(root, f'{len(rows)}_cold'), cache)
      warm = _wall(args, os.path.join(root, f'{len(rows)}_warm'), cache)
      off = _wall(args, os.path.join(root, f'{len(rows)}_off'), 'none')
      rows.append((name, cold, warm, off))
  print('| command | empty cache | second run | cache off |')
  print('|---|---|---|---|')
  for name, cold, warm, off in rows:
    print(f'| {name} | {cold:.1f} s | **{warm:.1f} s** | {off:.1f} s |')


if __name__ == '__main__':
  main()
