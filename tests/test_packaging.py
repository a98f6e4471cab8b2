"""gan_jax installs as a library (pyproject.toml): a wheel built from the
repository, installed into an empty directory, imports and trains from
outside the repository with the library's own dependencies."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the runners need and the library must not (pyproject.toml's extras).
RUNNERS_PACKAGES = {
    'ml_collections',
    'tensorflow_datasets',
    'sklearn',
    'tqdm',
    'matplotlib',
    'tensorboardX',
    'orbax',
    'torch',
}


@pytest.mark.slow  # Builds a wheel and installs it: ~10 s of 2 cores.
def test_the_wheel_imports_and_steps_outside_the_repository(tmp_path):
  # Built from a copy: setuptools writes build/ and *.egg-info beside the
  # sources. No network and no build isolation: this environment's
  # setuptools.
  source = tmp_path / 'source'
  shutil.copytree(
      os.path.join(ROOT, 'gan_jax'),
      source / 'gan_jax',
      ignore=shutil.ignore_patterns('__pycache__'),
  )
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(os.path.join(ROOT, name), source / name)
  subprocess.run(
      [
          sys.executable,
          '-m',
          'pip',
          'wheel',
          '--no-deps',
          '--no-build-isolation',
          '--quiet',
          '-w',
          str(tmp_path / 'dist'),
          str(source),
      ],
      check=True,
      capture_output=True,
      timeout=300,
  )
  (wheel,) = (tmp_path / 'dist').glob('gan_jax-*.whl')
  names = zipfile.ZipFile(wheel).namelist()
  assert 'gan_jax/steps.py' in names and 'gan_jax/translation/steps.py' in (
      names
  )
  assert not any(n.startswith(('experiments/', 'tests/')) for n in names)
  site = tmp_path / 'site'
  subprocess.run(
      [
          sys.executable,
          '-m',
          'pip',
          'install',
          '--no-deps',
          '--quiet',
          '--target',
          str(site),
          str(wheel),
      ],
      check=True,
      capture_output=True,
      timeout=300,
  )
  script = (
      'import jax, optax, gan_jax\n'
      'from gan_jax import losses, state, steps\n'
      'from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator\n'
      'spec = state.GANSpec(MLPGenerator(width=8, depth=1),\n'
      '                     MLPDiscriminator(width=8, depth=1),\n'
      '                     optax.adam(1e-3), optax.adam(1e-3))\n'
      's = state.init_state(spec, jax.random.PRNGKey(0))\n'
      'x = jax.random.normal(jax.random.PRNGKey(1), (1, 4, 2))\n'
      's, m = jax.jit(steps.make_steps(spec).train_step)(\n'
      '    s, x, jax.random.PRNGKey(2))\n'
      'print(gan_jax.__file__, int(s.step), sorted(m)[0])\n'
      # What the runners need, and no more, stays out of the library.
      'import sys\n'
      f'extras = {sorted(RUNNERS_PACKAGES)!r}\n'
      "print(sorted(set(extras) & {m.split('.')[0] for m in sys.modules}))\n"
  )
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
  env['PYTHONPATH'] = str(site)
  result = subprocess.run(
      [sys.executable, '-c', script],
      cwd=tmp_path,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  run, imported_extras = result.stdout.splitlines()
  path, step, first = run.split()
  assert path.startswith(str(site)) and step == '1' and first == 'd_fake'
  assert imported_extras == '[]'

  # The README's fork example, as written, from the wheel alone: the
  # runners' packages cannot even be imported.
  with open(os.path.join(ROOT, 'README.md')) as f:
    readme = f.read()
  example = readme[readme.index('```python\n') + 10 :]
  example = example[: example.index('```')]
  blocked = (
      'import importlib.abc, sys\n'
      'class Blocked(importlib.abc.MetaPathFinder):\n'
      '  def find_spec(self, name, path, target=None):\n'
      f'    if name.split(".")[0] in {sorted(RUNNERS_PACKAGES)!r}:\n'
      "      raise ImportError(f'{name}: not installed with the wheel')\n"
      'sys.meta_path.insert(0, Blocked())\n'
  )
  result = subprocess.run(
      [sys.executable, '-c', blocked + example],
      cwd=tmp_path,
      env=env,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert result.returncode == 0, result.stderr[-2000:]
  assert "'g_loss'" in result.stdout
