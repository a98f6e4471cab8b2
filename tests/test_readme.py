"""The README's code runs as written."""

import json
import os
import re
import subprocess
import sys

from gan_jax import losses
from tests.helpers import SMALL_RUN_FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
  with open(os.path.join(ROOT, 'README.md')) as f:
    return re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)


def test_fork_example_runs(capsys):
  blocks = _python_blocks()
  assert blocks, 'the README has a python example'
  try:
    exec(compile(blocks[0], 'README.md', 'exec'), {})  # pylint: disable=exec-used
  finally:
    losses.OBJECTIVES.pop('softplus_wasserstein', None)
  assert "'g_loss'" in capsys.readouterr().out


def test_the_config_file_example_trains_its_own_objective(tmp_path):
  # The README's config file, run as the README says (no --variant): its
  # objective and its name stand; the variant layer would have replaced them.
  config_file, = [block for block in _python_blocks()
                  if block.startswith('# my_gan.py')]
  (tmp_path / 'my_gan.py').write_text(config_file)
  workdir = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.run',
       f'--config={tmp_path / "my_gan.py"}', f'--workdir={workdir}',
       *SMALL_RUN_FLAGS],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['status'] == 'completed'
  assert summary['variant'] == 'softplus_wasserstein'
  assert summary['config']['objective']['name'] == 'softplus_wasserstein'
  assert 'softplus_wasserstein on grid25, seed 0: completed' in result.stdout


def test_every_repository_file_the_docs_name_exists():
  # A command copied from the README or a --help text must not name a file
  # that is not there (a sweep file once was: configs/sweeps/lr_grid.py).
  pattern = re.compile(r'\b((?:experiments|gan_jax|benchmarks|tests)/'
                       r'[\w./-]*\w\.(?:py|md|json|csv))\b')
  sources = ['README.md'] + [
      os.path.relpath(os.path.join(folder, name), ROOT)
      for package in ('experiments', 'gan_jax', 'benchmarks')
      for folder, _, names in os.walk(os.path.join(ROOT, package))
      for name in names if name.endswith('.py')]
  named = {}
  for source in sources:
    with open(os.path.join(ROOT, source)) as f:
      for path in pattern.findall(f.read()):
        named.setdefault(path, source)
  assert len(named) > 10, named  # The pattern still finds what the docs name.
  missing = {path: source for path, source in named.items()
             if not os.path.exists(os.path.join(ROOT, path))}
  assert not missing, f'named but missing (path: where): {missing}'
