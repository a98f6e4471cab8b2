"""notebooks/fork_a_step.ipynb: kept without outputs, and run top to bottom
on a Jupyter kernel (slow set) so that it never falls behind the library."""

import os

import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, 'notebooks', 'fork_a_step.ipynb')


def _read():
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  return notebook


def test_the_notebook_is_stored_without_outputs():
  code = [cell for cell in _read().cells if cell.cell_type == 'code']
  assert code
  for cell in code:
    assert cell.outputs == [] and cell.execution_count is None, cell.source


@pytest.mark.slow
def test_the_notebook_runs_top_to_bottom():
  nbclient = pytest.importorskip('nbclient')
  notebook = _read()
  # Where Jupyter starts its kernel: the notebook's own folder. A cell that
  # raises fails the test with that cell's traceback.
  nbclient.NotebookClient(
      notebook,
      timeout=600,
      kernel_name='python3',
      resources={'metadata': {'path': os.path.dirname(NOTEBOOK)}},
  ).execute()
  outputs = [
      o for c in notebook.cells if c.cell_type == 'code' for o in c.outputs
  ]
  text = ''.join(
      o.get('text', '') for o in outputs if o.output_type == 'stream'
  )
  assert 'lambda = 0: the fork takes the library step' in text
  table = text[text.index('modes') :].splitlines()
  rows = {line[:22].strip(): line[22:].split() for line in table[1:3]}
  assert set(rows) == {'library d_step', 'bCR fork (lambda 10)'}
  for values in rows.values():
    modes, high_quality, _, sliced_w1 = map(float, values)
    assert 0 <= modes <= 25 and 0 <= high_quality <= 100 and sliced_w1 > 0
  assert any(
      'image/png' in o.get('data', {})
      for o in outputs
      if o.output_type == 'display_data'
  )
