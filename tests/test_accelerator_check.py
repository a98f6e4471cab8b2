"""The one-command accelerator check runs on a CPU too, at small sizes,
and writes its Markdown file whole; each formulation is timed at the
dispatch the runner gives it."""

import os
import subprocess
import sys

import pytest

from benchmarks import accelerator_check, step_time
from experiments.runner import loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # Every part of the check, small: ~3 min on 2 cores.
def test_the_check_writes_every_section(tmp_path, digits_dir):
  out = tmp_path / 'check.md'
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'benchmarks.accelerator_check',
          f'--out={out}',
          f'--data_dir={digits_dir}',
          '--seconds=0.3',
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=900,
  )
  assert done.returncode == 0, done.stderr[-3000:]
  text = out.read_text()
  for heading in (
      '## JAX against PyTorch, float32',
      '## Formulations and compute dtypes (JAX)',
      '## Image runs per compute dtype, 32x32x3',
      '## A sweep over two devices',
  ):
    assert heading in text, heading
  assert 'small sizes' in text
  # Both formulations and both dtypes were timed, and both image runs ran.
  # Each at its own dispatch, said in its row: the CPU formulation one
  # unrolled step per call, as the runner; the standard one fewer steps
  # than the runner's interval.
  rows = {
      '| cpu | float32 |': '| 1, unrolled |',
      '| standard | float32 |': "| 2 (the runner's: 100) |",
      '| standard | bfloat16 |': "| 2 (the runner's: 100) |",
      '| cpu | bfloat16 |': '| 1, unrolled |',
  }
  lines = text.splitlines()
  for row, dispatch in rows.items():
    found = [line for line in lines if row in line]
    assert len(found) == 1 and dispatch in found[0], (row, found)
  assert text.count('| completed |') == 2, text
  # The suite runs with fake CPU devices (tests/conftest.py): the sweep
  # runs over two of them.
  assert 'the two runs split over two devices' in text, text


@pytest.mark.parametrize('small', [True, False])
@pytest.mark.parametrize('device_platform', ['cpu', 'gpu'])
def test_each_formulation_is_timed_at_the_runners_dispatch(
    small, device_platform
):
  """The CPU formulation of DCGAN at one unrolled step per call, as the
  runner trains it (XLA:CPU's convolutions in a loop body are several
  times slower, jax-ml/jax#12868): never at the standard one's count,
  which would time a setting no run uses."""
  rows = accelerator_check.formulation_settings(small, device_platform)
  most = accelerator_check.MOST_PER_CALL[small]
  variants = ['non_saturating'] if small else ['non_saturating', 'wgan_gp']
  assert [(r['variant'], r['formulation'], r['dtype']) for r in rows] == [
      (v, f, d) for v in variants for f, d in accelerator_check.FORMULATIONS
  ]
  for row in rows:
    config = step_time._config('dcgan', row['variant'], row['extra'])
    runner = loop.steps_per_dispatch(config, device_platform)
    assert row['runner_steps_per_dispatch'] == runner
    assert row['steps_per_dispatch'] == min(runner, most)
    if row['formulation'] == 'cpu':
      assert (row['steps_per_dispatch'], row['unrolled']) == (1, True), row
    else:
      assert row['unrolled'] is False
      assert row['steps_per_dispatch'] == min(config.train.log_every, most)
  cpu = next(r for r in rows if r['formulation'] == 'cpu')
  standard = next(r for r in rows if r['formulation'] == 'standard')
  assert accelerator_check.dispatch_cell(1, 1, True) == '1, unrolled'
  assert accelerator_check.dispatch_cell(2, 100, False) == (
      "2 (the runner's: 100)"
  )
  assert cpu['steps_per_dispatch'] < standard['steps_per_dispatch']
