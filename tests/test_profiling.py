"""train.profile_steps writes a jax.profiler trace into the workdir; the
run's start line says what was chosen for the backend."""

import os

from experiments.runner import profiling
from experiments.runner.train import train_and_evaluate
from tests.helpers import small_config


def test_a_profiled_run_leaves_a_trace_for_tensorboard_and_perfetto(
    tmp_path, capsys
):
  config = small_config(
      'wgan_gp', train__profile_steps=2, eval__num_samples=100
  )
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'completed'
  found = {
      name for _, _, names in os.walk(tmp_path / 'profile') for name in names
  }
  assert any(name.endswith('.xplane.pb') for name in found), found
  assert 'perfetto_trace.json.gz' in found
  out = capsys.readouterr().out
  assert (
      '1 x cpu, jit: cpu formulation (auto), float32 products, 2 steps '
      'per dispatch; the compiled loop needs '
  ) in out
  assert summary['formulation'] == 'cpu'
  assert summary['compute_dtype'] == 'float32'


def test_no_trace_without_profile_steps(tmp_path):
  config = small_config(eval__num_samples=100)
  train_and_evaluate(config, str(tmp_path), progress=False)
  assert not (tmp_path / 'profile').exists()


def test_the_profiler_covers_the_steps_asked_for(monkeypatch):
  events = []
  monkeypatch.setattr(
      profiling.jax.profiler,
      'start_trace',
      lambda directory, **kw: events.append('start'),
  )
  monkeypatch.setattr(
      profiling.jax.profiler, 'stop_trace', lambda: events.append('stop')
  )
  monkeypatch.setattr(profiling.os, 'makedirs', lambda *a, **k: None)
  profiler = profiling.StepProfiler('/p', first_step=10, count=3)
  for step in range(20):  # One step per dispatch.
    profiler.before(step)
    events.append(step)
    profiler.after(None, step + 1)
  profiler.close()
  traced = events[events.index('start') + 1 : events.index('stop')]
  assert traced == [10, 11, 12] and events.count('stop') == 1
