"""The step contract (gan_jax.contract): a fork that breaks it gets one line
naming what is wrong, before anything is trained or written; one that
keeps it may name its metrics as it likes."""

import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from experiments.runner.train import train_and_evaluate
from gan_jax import config as gan_config, contract, steps
from gan_jax.algorithms import ALGORITHMS, Algorithm
from tests.helpers import SMALL_RUN_FLAGS, small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _algorithm(edit):
  """An algorithm whose train step is the library's, then ``edit(state,
  metrics) -> (state, metrics)``."""

  def make(spec, axis_name=None, unroll=False):
    library = steps.alternating(spec, axis_name, unroll)

    def train_step(state, batch, rng):
      return edit(*library.train_step(state, batch, rng))

    return steps.Steps(train_step, steps.loop(train_step, unroll))

  return Algorithm(make)


BROKEN = {
    'adds_a_field': (
        lambda s, m: (s.replace(extra={'mine': jnp.zeros(())}), m),
        "it returns state.extra['mine'], which the state it was given does "
        'not have (a plug-in state belongs in state.extra from init',
    ),
    'drops_the_ema': (
        lambda s, m: (s.replace(g_ema=None), m),
        "state.g_ema['Dense_0']['bias'] is missing from the state it returns",
    ),
    'casts_the_step': (
        lambda s, m: (s.replace(step=s.step.astype(jnp.float32)), m),
        'state.step comes back float32[], was int32[]',
    ),
    'batch_metric': (
        lambda s, m: (s, {**m, 'per_example': jnp.zeros(16)}),
        "its metric 'per_example' has shape [16]; metrics are scalars",
    ),
    'metrics_as_a_list': (
        lambda s, m: (s, list(m.values())),
        'its train_step returns metrics as a list, not a flat dict of scalars',
    ),
    'raises': (
        lambda s, m: (s, {'x': jnp.zeros(()) + undefined_name}),  # noqa: F821
        'fails (NameError at tests/test_contract.py:',
    ),
}
TESTED = {
    **{f'test_{name}': edit for name, (edit, _) in BROKEN.items()},
    'test_renamed_metrics': lambda s, m: (
        s,
        {f'mine_{k}': v for k, v in m.items()},
    ),
    'test_uncounted': lambda s, m: (s.replace(step=s.step - 1), m),
}


@pytest.fixture(autouse=True, scope='module')
def registered():
  """This module's algorithms, for its tests only."""
  for name, edit in TESTED.items():
    ALGORITHMS.register(name, _algorithm(edit), replace=True)
  yield
  for name in TESTED:
    del ALGORITHMS[name]


@pytest.mark.parametrize('name', sorted(BROKEN))
def test_a_broken_step_is_one_line_before_anything_is_written(name, tmp_path):
  config = small_config('wgan_gp', train__algorithm=f'test_{name}')
  gan_config.validate(config)
  with pytest.raises(gan_config.ConfigError) as error:
    train_and_evaluate(config, str(tmp_path / 'run'), progress=False)
  message = str(error.value)
  assert '\n' not in message
  assert message.startswith(f"train.algorithm='test_{name}'") or (
      'one train step of' in message
  )
  assert BROKEN[name][1] in message, message
  assert not (tmp_path / 'run').exists()


def test_metrics_of_other_names_train_log_and_summarise(tmp_path):
  config = small_config('wgan_gp', train__algorithm='test_renamed_metrics')
  summary = train_and_evaluate(config, str(tmp_path), progress=False)
  assert summary['status'] == 'completed'
  logged = (tmp_path / 'metrics.jsonl').read_text()
  assert '"mine_d_loss"' in logged and '"d_loss"' not in logged


def test_a_step_that_does_not_count_itself_stops_in_one_line(tmp_path):
  config = small_config('wgan_gp', train__algorithm='test_uncounted')
  with pytest.raises(gan_config.ConfigError) as error:
    train_and_evaluate(config, str(tmp_path), progress=False)
  assert str(error.value) == (
      "train.algorithm='test_uncounted': its train_step left state.step at "
      '0 after step 2; count each step (gan_jax.steps.finish_step)'
  )


def test_a_factory_that_returns_no_steps_is_named():
  spec, hparams, _ = gan_config.build(small_config())
  with pytest.raises(contract.ContractError, match='no callable train_loop'):
    contract.check_steps(
        steps.Steps(lambda s, b, r: (s, {}), None), spec, 16, hparams
    )


def test_the_command_line_says_it_in_one_line(tmp_path):
  fork = tmp_path / 'broken.py'
  fork.write_text(
      'import jax.numpy as jnp\n'
      'from experiments.configs import default\n'
      'from gan_jax import steps\n'
      'from gan_jax.algorithms import ALGORITHMS, Algorithm\n'
      '\n'
      'def make(spec, axis_name=None, unroll=False):\n'
      '  library = steps.alternating(spec, axis_name, unroll)\n'
      '  def train_step(state, batch, rng):\n'
      '    state, metrics = library.train_step(state, batch, rng)\n'
      "    return state, {**metrics, 'x': jnp.ones(3)}\n"
      '  return steps.Steps(train_step, steps.loop(train_step))\n'
      '\n'
      "ALGORITHMS.register('mine', Algorithm(make))\n"
      '\n'
      'def get_config():\n'
      '  config = default.get_config()\n'
      "  config.train.algorithm = 'mine'\n"
      '  return config\n'
  )
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          f'--config={fork}',
          f'--workdir={tmp_path / "run"}',
          *SMALL_RUN_FLAGS,
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert done.returncode == 1
  assert done.stderr.strip().splitlines() == [
      "error: train.algorithm='mine': its metric 'x' has shape [3]; metrics "
      'are scalars (take the mean of a batch quantity)'
  ]
  assert not (tmp_path / 'run').exists()


def test_a_sweep_of_a_broken_step_is_one_line_before_anything_is_written(
    tmp_path,
):
  from experiments.sweeps import driver, spec as sweep_spec

  spec = sweep_spec.normalize(
      {
          'variants': ['wgan_gp'],
          'seeds': 2,
          'set': {
              'train.algorithm': 'test_batch_metric',
              'model.width': 16,
              'train.steps': 4,
              'train.log_every': 2,
              'train.eval_every': 4,
              'train.checkpoint_every': 4,
          },
      }
  )
  with pytest.raises(sweep_spec.SweepError) as error:
    driver.run_sweep(spec, str(tmp_path / 'sweep'), progress=False)
  assert str(error.value).startswith(
      "run wgan_gp__seed0: train.algorithm='test_batch_metric': its metric "
      "'per_example' has shape [16]"
  )
  assert not (tmp_path / 'sweep').exists()


def _penalty_config(name, value, init_extra=None):
  from gan_jax import penalties

  penalties.D_PENALTIES.register(
      name,
      penalties.Penalty(value, init_extra=init_extra, per_example=False),
      replace=True,
  )
  return small_config('non_saturating', objective__penalty=name)


@pytest.mark.parametrize(
    'value, init_extra, message',
    [
        (
            lambda ctx: (jnp.zeros(()), {'m': jnp.zeros(())}),
            None,
            "penalty 'test_bad' returns a tuple: value(ctx) returns (penalty, "
            'new extra) exactly when the penalty declares init_extra',
        ),
        (
            lambda ctx: jnp.zeros(()),
            lambda spec: {'m': jnp.zeros(())},
            "penalty 'test_bad' returns one value",
        ),
        (
            lambda ctx: (jnp.zeros(()), {'m': jnp.zeros(3)}),
            lambda spec: {'m': jnp.zeros(())},
            "penalty 'test_bad': extra['m'] comes back float32[3], was "
            'float32[]',
        ),
        (
            lambda ctx: jnp.square(ctx.real_out),
            None,
            "penalty 'test_bad' returns shape [16]; it must be a scalar",
        ),
    ],
)
def test_a_penalty_that_returns_the_wrong_thing_is_named(
    value, init_extra, message, tmp_path
):
  from gan_jax import penalties

  config = _penalty_config('test_bad', value, init_extra)
  try:
    with pytest.raises(gan_config.ConfigError) as error:
      train_and_evaluate(config, str(tmp_path / 'run'), progress=False)
  finally:
    del penalties.D_PENALTIES['test_bad']
  assert message in str(error.value) and '\n' not in str(error.value)
  assert not (tmp_path / 'run').exists()
