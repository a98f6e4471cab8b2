"""The README's code runs as written."""

import os
import re

from gan_jax import losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_fork_example_runs(capsys):
  with open(os.path.join(ROOT, 'README.md')) as f:
    blocks = re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)
  assert blocks, 'the README has a python example'
  try:
    exec(compile(blocks[0], 'README.md', 'exec'), {})  # pylint: disable=exec-used
  finally:
    losses.OBJECTIVES.pop('softplus_wasserstein', None)
  assert "'g_loss'" in capsys.readouterr().out


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
