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
