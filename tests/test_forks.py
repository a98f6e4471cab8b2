"""The four forks of examples/forks/, each one user file that registers its
plug-in and edits neither gan_jax/ nor experiments/: RaGAN (an objective
whose G loss sees D(real)), DRAGAN (a penalty with scalars of its own),
simultaneous updates (an algorithm) and bCR (a penalty with weights).

Each trains through the runner and sweeps against the library's step; at
its neutral setting each takes exactly the library's step; RaGAN's losses
match their definition and its step is the same on 1 and 8 devices.
(tests -m slow run each through the command lines.)"""

import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.runner import validation
from experiments.runner.config_layers import load_config_file
from experiments.runner.train import train_and_evaluate
from experiments.sweeps import driver as sweep_driver, spec as sweep_spec
from gan_jax import config as gan_config, losses
from gan_jax import state as gan_state, steps as gan_steps
from gan_jax.context import Context
from tests.helpers import SMALL_RUN_FLAGS, assert_same_on_devices, one_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORKS = {
    name: os.path.join(ROOT, 'examples', 'forks', f'{name}.py')
    for name in ('ragan', 'dragan', 'simultaneous', 'bcr')
}
SMALL = {
    'model.width': 16,
    'model.depth': 2,
    'train.batch_size': 16,
    'train.steps': 8,
    'train.log_every': 2,
    'train.eval_every': 4,
    'train.checkpoint_every': 4,
    'eval.num_samples': 100,
    'train.num_devices': 1,
}


def fork_config(name, **overrides):
  """The fork file's config (registering its plug-in), shrunk."""
  config = load_config_file(FORKS[name])
  config.update_from_flattened_dict(SMALL)
  config.update_from_flattened_dict(
      {k.replace('__', '.'): v for k, v in overrides.items()}
  )
  validation.validate(config)
  return config


# An algorithm in the default suite; the others train through the command
# line and sweeps below, and all four in the slow set.
@pytest.mark.parametrize(
    'name',
    [
        pytest.param('ragan', marks=pytest.mark.slow),
        'simultaneous',
        pytest.param('dragan', marks=pytest.mark.slow),
        pytest.param('bcr', marks=pytest.mark.slow),
    ],
)
def test_each_fork_trains_through_the_runner(name, tmp_path):
  summary = train_and_evaluate(fork_config(name), str(tmp_path), False)
  assert summary['status'] == 'completed' and summary['step'] == 8
  assert summary['algorithm'] == fork_config(name).train.algorithm
  saved = json.loads((tmp_path / 'config.json').read_text())
  assert saved['variant'] == name


# --- Neutral settings: exactly the library's step --------------------------


@pytest.mark.parametrize(
    'name, neutral',
    [
        # DRAGAN at weight 0 against no penalty.
        ('dragan', {'objective__penalty_weight': 0.0}),
        # bCR with both lambdas 0 against no penalty.
        ('bcr', {'objective__bcr_real': 0.0, 'objective__bcr_fake': 0.0}),
        # The simultaneous algorithm told to alternate.
        ('simultaneous', {'train__simultaneous': False}),
    ],
)
def test_a_fork_at_its_neutral_setting_takes_the_librarys_step(name, neutral):
  fork = fork_config(name, **neutral)
  plain = fork_config(
      name, objective__penalty='none', train__algorithm='alternating'
  )
  ours, our_metrics = one_step(fork)
  theirs, their_metrics = one_step(plain)
  # The plug-in's own state is the only difference in the trees.
  chex.assert_trees_all_equal(
      (ours.step, ours.g, ours.d, ours.g_ema),
      (theirs.step, theirs.g, theirs.d, theirs.g_ema),
  )
  for metric, value in their_metrics.items():
    if metric != 'd_penalty':  # The fork computes its penalty at weight 0.
      assert float(our_metrics[metric]) == float(value), metric


def test_the_simultaneous_step_judges_g_by_the_d_before_its_update():
  config = fork_config('simultaneous')
  alternating = fork_config('simultaneous', train__simultaneous=False)
  ours, our_metrics = one_step(config)
  theirs, their_metrics = one_step(alternating)
  # D takes the same step either way; G's differs: through the old D.
  chex.assert_trees_all_equal(ours.d, theirs.d)
  assert float(our_metrics['d_loss']) == float(their_metrics['d_loss'])
  assert float(our_metrics['g_loss']) != float(their_metrics['g_loss'])
  # G's step from the state before D's: as the library's g_step there.
  spec, hparams, dataset = gan_config.build(config)
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  batch = dataset.to_network(
      dataset.sample(jax.random.PRNGKey(1), (1, config.train.batch_size))
  )
  rng = jax.random.fold_in(jax.random.PRNGKey(2), 0)
  _, g_rng = jax.random.split(rng)
  before_d, g_metrics = jax.jit(
      lambda s, b, r: gan_steps.g_step(spec, s, b, r)
  )(state, batch[0], g_rng)
  chex.assert_trees_all_equal(ours.g.params, before_d.g.params)
  assert float(our_metrics['g_loss']) == float(g_metrics['g_loss'])


# --- RaGAN: its definition, and the same step on 1 and 8 devices ----------


def test_ragan_losses_are_their_definition():
  fork_config('ragan')  # Registers it.
  objective = losses.get_objective('my_ragan')
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(2, 32)).astype(np.float32) * 2

  def log_sigmoid(x):
    return -np.log1p(np.exp(-x))

  d = -np.mean(log_sigmoid(real - fake.mean())) - np.mean(
      np.log1p(-1 / (1 + np.exp(-(fake - real.mean()))))
  )
  g = -np.mean(log_sigmoid(fake - real.mean())) - np.mean(
      np.log1p(-1 / (1 + np.exp(-(real - fake.mean()))))
  )
  ctx = Context(hparams={})
  np.testing.assert_allclose(
      objective.d_loss(jnp.array(real), jnp.array(fake), ctx), d, rtol=1e-5
  )
  np.testing.assert_allclose(
      objective.g_loss(jnp.array(real), jnp.array(fake), ctx), g, rtol=1e-5
  )
  assert objective.g_uses_real


# The library's RaGAN with zCR and LeCam is held to this in the default
# suite (tests/test_regularizer_steps.py).
@pytest.mark.slow
@pytest.mark.parametrize('route', ['shard_map', 'pmap'])
def test_ragan_takes_the_same_step_on_one_and_eight_devices(route):
  # SGD: the averaged gradients themselves are compared (tests/
  # test_parallel.py says why not Adam). Each device holds 4 of the 32
  # examples; a local batch mean would give another loss and step.
  config = fork_config(
      'ragan',
      train__batch_size=32,
      optim__g__name='sgd',
      optim__d__name='sgd',
      optim__g__lr=0.05,
      optim__d__lr=0.05,
  )
  assert_same_on_devices(config, route, 8, 2)


# --- Sweeps against the library's step --------------------------------------


def _sweep(name, tmp_path, **spec):
  spec = sweep_spec.normalize(
      {'config': FORKS[name], 'seeds': 2, 'set': dict(SMALL), **spec}
  )
  return sweep_driver.run_sweep(spec, str(tmp_path), progress=False)


@pytest.mark.parametrize(
    'name, grid, groups',
    [
        pytest.param(
            'ragan',
            {'objective.name': ['non_saturating', 'my_ragan']},
            2,
            marks=pytest.mark.slow,
        ),
        # Its own scalar, gridded: one vmapped group.
        pytest.param(
            'dragan',
            {'objective.dragan_c': [0.25, 1.0]},
            1,
            marks=pytest.mark.slow,
        ),
        pytest.param(
            'simultaneous',
            {'train.algorithm': ['alternating', 'simultaneous']},
            2,
            marks=pytest.mark.slow,
        ),
        pytest.param(
            'bcr',
            {'objective.bcr_real': [0.0, 10.0]},
            1,
            marks=pytest.mark.slow,
        ),
    ],
)
def test_each_fork_sweeps_against_the_librarys_step(
    name, grid, groups, tmp_path
):
  summaries = _sweep(name, tmp_path, grid=grid)
  assert [s['status'] for s in summaries] == ['completed'] * 4
  results = (tmp_path / 'results.md').read_text()
  assert f'in {groups} vmapped group' in results
  field, values = next(iter(grid.items()))
  for value in values:
    assert f'| `{name}` | {value} |' in results, results
  # Each run's algorithm is named in its summary and in results.csv.
  algorithms = {s['swept'].get('train.algorithm') for s in summaries}
  assert {s['algorithm'] for s in summaries} == (
      algorithms if field == 'train.algorithm' else {'alternating'}
  )
  assert 'algorithm' in (tmp_path / 'results.csv').read_text().split(',')


# --- The command line ------------------------------------------------------


def _command(module, *args):
  return subprocess.run(
      [sys.executable, '-m', module, *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=600,
  )


@pytest.mark.slow  # ~15 s; the README's config-file example is the default's.
def test_a_fork_trains_from_the_command_line_and_checks_its_scalars(tmp_path):
  workdir = tmp_path / 'run'
  args = [
      f'--config={FORKS["dragan"]}',
      '--config.objective.dragan_c=0.25',
      f'--workdir={workdir}',
      *SMALL_RUN_FLAGS,
  ]
  done = _command('experiments.run', *args)
  assert done.returncode == 0, done.stderr[-2000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert summary['config']['objective']['dragan_c'] == 0.25
  refused = _command(
      'experiments.run',
      *args[:1],
      '--config.objective.dragan_c=-1',
      f'--workdir={tmp_path / "other"}',
  )
  assert refused.returncode == 1
  assert refused.stderr.strip().splitlines() == [
      'error: objective.dragan_c=-1.0 is not allowed: a finite number >= 0 '
      "(the perturbation's scale, in standard deviations)"
  ]
  assert not (tmp_path / 'other').exists()
  misspelt = _command(
      'experiments.run', *args[:1], '--config.objective.dragan_cc=1'
  )
  assert misspelt.returncode == 1
  assert (
      misspelt.stderr.strip()
      .splitlines()[-1]
      .startswith(
          'error: --config.objective.dragan_cc: unknown config field '
          "'objective.dragan_cc' (did you mean 'objective.dragan_c'?)"
      )
  )


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(FORKS))
def test_each_fork_runs_and_sweeps_from_the_command_line(name, tmp_path):
  run = _command(
      'experiments.run',
      f'--config={FORKS[name]}',
      f'--workdir={tmp_path / "run"}',
      *SMALL_RUN_FLAGS,
  )
  assert run.returncode == 0, run.stderr[-2000:]
  field, values = {
      'ragan': ('objective.name', 'non_saturating,my_ragan'),
      'dragan': ('objective.dragan_c', '0.25,1'),
      'simultaneous': ('train.algorithm', 'alternating,simultaneous'),
      'bcr': ('objective.penalty', 'none,my_bcr'),
  }[name]
  sweep = _command(
      'experiments.sweep',
      f'--config={FORKS[name]}',
      '--seeds=2',
      f'--grid={field}={values}',
      *(f'--set={k}={v}' for k, v in SMALL.items() if k != 'train.num_devices'),
      f'--workdir={tmp_path / "sweep"}',
      '--progress=false',
  )
  assert sweep.returncode == 0, sweep.stderr[-2000:]
  rows = [
      line
      for line in (tmp_path / 'sweep' / 'results.md').read_text().splitlines()
      if line.startswith(f'| `{name}`')
  ]
  assert len(rows) == 2


def test_rows_of_another_algorithm_say_which():
  from experiments.sweeps import results

  summaries = [
      {
          'variant': 'simultaneous',
          'status': 'completed',
          'swept': {},
          'final_eval': {'modes': 20.0 + seed},
          'config': {'train': {'algorithm': 'simultaneous', 'steps': 8}},
      }
      for seed in range(2)
  ]
  table = results.markdown(results.aggregate(summaries, []), 'grid25', [], 2)
  assert '| variant | algorithm | steps | runs |' in table
  assert '| `simultaneous` | `simultaneous` | 8 | 2 | 0 | 20.5 ± 0.5 |' in table
  # The library's own algorithm needs no column.
  for s in summaries:
    s['config']['train']['algorithm'] = 'alternating'
  plain = results.markdown(results.aggregate(summaries, []), 'grid25', [], 2)
  assert '| variant | steps | runs |' in plain


# --- The forks against the library's own --------------------------------


def test_the_forks_equal_the_methods_the_library_ships():
  """RaGAN, DRAGAN and bCR, written twice (examples/forks/ and
  gan_jax/), give the same numbers on the same context."""
  from gan_jax import penalties, regularizers

  for name in ('ragan', 'dragan', 'bcr'):
    fork_config(name)  # Registers my_<name>.
  rng = np.random.default_rng(0)
  real_out, fake_out = (jnp.array(x) for x in rng.normal(size=(2, 16)))
  ctx = Context(hparams={})
  ours, theirs = (losses.get_objective(n) for n in ('my_ragan', 'ragan'))
  for side in ('d_loss', 'g_loss'):
    np.testing.assert_allclose(
        getattr(ours, side)(real_out, fake_out, ctx),
        getattr(theirs, side)(real_out, fake_out, ctx),
        rtol=1e-6,
    )
  hparams = {
      'dragan_c': 0.5,
      'dragan_k': 1.0,
      'bcr_real': 10.0,
      'bcr_fake': 7.0,
      'bcr_jitter': 0.05,
      'cr_jitter': 0.05,
      'cr_flip': True,
  }
  for shape in ((16, 2), (16, 8, 8, 1)):
    w = jnp.array(rng.normal(size=int(np.prod(shape[1:]))), jnp.float32)
    critic = lambda x, w=w: jnp.tanh(x.reshape(x.shape[0], -1) @ w)
    real, fake = (
        jnp.array(x, jnp.float32) for x in rng.normal(size=(2, *shape))
    )
    ctx = Context(
        hparams=hparams,
        rng=jax.random.PRNGKey(3),
        real=real,
        fake=fake,
        real_out=critic(real),
        fake_out=critic(fake),
        critic=critic,
    )
    value = lambda registry, name, ctx=ctx: penalties.lookup(
        registry, name
    ).value(ctx)
    np.testing.assert_allclose(
        value(penalties.D_PENALTIES, 'my_dragan'),
        value(penalties.D_PENALTIES, 'dragan'),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        value(penalties.D_PENALTIES, 'my_bcr'),
        regularizers.REGULARIZERS.lookup('bcr').d(ctx),
        rtol=1e-5,
    )
