"""The commands' persistent compilation cache
(experiments/runner/compilation_cache.py): where it goes, how it is turned
off, and that a run fills it."""

import os
import subprocess
import sys

import jax
import pytest

from experiments.runner import compilation_cache
from tests.helpers import SMALL_RUN_FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def restored_jax_config():
  saved = (
      jax.config.jax_enable_compilation_cache,
      jax.config.jax_compilation_cache_dir,
      jax.config.jax_persistent_cache_min_compile_time_secs,
  )
  yield
  jax.config.update('jax_enable_compilation_cache', saved[0])
  jax.config.update('jax_compilation_cache_dir', saved[1])
  jax.config.update('jax_persistent_cache_min_compile_time_secs', saved[2])


def test_the_flag_the_environment_and_the_default(
    restored_jax_config, monkeypatch, tmp_path
):
  assert compilation_cache.configure(str(tmp_path)) == str(tmp_path)
  assert jax.config.jax_compilation_cache_dir == str(tmp_path)
  assert jax.config.jax_enable_compilation_cache
  assert jax.config.jax_persistent_cache_min_compile_time_secs <= 0.2
  assert compilation_cache.configure('none') is None
  assert not jax.config.jax_enable_compilation_cache
  monkeypatch.setenv('JAX_COMPILATION_CACHE_DIR', str(tmp_path / 'env'))
  assert compilation_cache.configure() == str(tmp_path / 'env')
  monkeypatch.delenv('JAX_COMPILATION_CACHE_DIR')
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'home'))
  assert compilation_cache.configure() == str(tmp_path / 'home' / 'xla')


@pytest.mark.slow
def test_a_run_fills_the_cache_and_none_leaves_it_empty(tmp_path):
  env = {
      k: v for k, v in os.environ.items() if k != 'JAX_COMPILATION_CACHE_DIR'
  }
  for name, cache in (('on', str(tmp_path / 'cache')), ('off', 'none')):
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'experiments.run',
            *SMALL_RUN_FLAGS,
            f'--workdir={tmp_path / name}',
            f'--compilation_cache={cache}',
        ],
        cwd=ROOT,
        env={**env, 'GAN_JAX_CACHE': str(tmp_path / 'home')},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
  assert os.listdir(tmp_path / 'cache')  # The train loop, at least.
  assert not (tmp_path / 'home').exists()  # 'none': nothing anywhere.
