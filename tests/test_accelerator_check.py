"""The one-command accelerator check runs on a CPU too, at small sizes,
and writes its Markdown file whole."""

import os
import subprocess
import sys

import pytest

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
  for row in (
      '| cpu | float32 |',
      '| standard | float32 |',
      '| standard | bfloat16 |',
      '| cpu | bfloat16 |',
  ):
    assert row in text, row
  assert text.count('| completed |') == 2, text
  # The suite runs with fake CPU devices (tests/conftest.py): the sweep
  # runs over two of them.
  assert 'the two runs split over two devices' in text, text
