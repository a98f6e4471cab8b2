"""Sweeps: the spec's errors, grouping, aggregation by hand, and the whole
thing end to end (same numbers as experiments.run, resume, divergence)."""

import csv
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from experiments import sweep
from experiments.sweeps import driver as sweep_driver
from experiments.sweeps import results as sweep_results
from experiments.sweeps import spec as sweep_spec
from experiments.runner import preemption
from experiments.sweeps import training as sweep_training
from experiments.sweeps.spec import SweepError
from tests.helpers import SignalAfter

TINY = {
    'model.width': 16,
    'model.depth': 2,
    'train.batch_size': 16,
    'train.steps': 8,
    'train.log_every': 2,
    'train.eval_every': 4,
    'train.checkpoint_every': 4,
    'eval.num_samples': 200,
}


def _spec(**entries):
  return sweep_spec.normalize({'set': dict(TINY), **entries})


# --- The spec -----------------------------------------------------------------


@pytest.mark.parametrize(
    'entries, message',
    [
        ({'variants': ['wgan']}, "unknown variant 'wgan'"),
        (
            {'variants': ['Non-Saturating']},
            "unknown variant 'Non-Saturating' (did you mean non_saturating?)",
        ),
        ({'variants': []}, 'variants: none given'),
        (
            {'variants': ['vanilla'], 'grid': {'optim.d.lrr': [1e-4]}},
            "unknown config field 'optim.d.lrr' (did you mean 'optim.d.lr'?)",
        ),
        (
            {'variants': ['vanilla'], 'grid': {'optim.d.lr': []}},
            'grid: optim.d.lr: no values',
        ),
        (
            {'variants': ['vanilla'], 'grid': {'optim.d.lr': ['fast']}},
            "optim.d.lr='fast' is not a float",
        ),
        (
            {'variants': ['vanilla'], 'set': {'train.steps': 10.5}},
            'train.steps=10.5 is a float; expected an integer',
        ),
        (
            {'variants': ['vanilla'], 'set': {'ema.enabled': 1}},
            'ema.enabled=1 is an integer; expected a bool (true or false)',
        ),
        (
            {'variants': ['vanilla'], 'grid': {'train.steps': ['10', 'abc']}},
            "train.steps='abc' is not an integer",
        ),
        (
            {'variants': ['vanilla'], 'grid': {'seed': [1, 2]}},
            "'seed' is set by the sweep's 'seeds'",
        ),
        ({'variants': ['vanilla'], 'seeds': 0}, 'seeds=0'),
        ({'variants': ['vanilla'], 'configs': []}, 'configs: an empty list'),
        ({'variants': ['vanilla'], 'colour': 1}, "unknown sweep key 'colour'"),
        (
            {'variants': ['vanilla'], 'published': 'ALI'},
            "published='ALI': choose from VEEGAN, PacGAN",
        ),
        (
            {
                'variants': ['vanilla'],
                'published': 'PacGAN',
                'dataset': 'digits',
            },
            "published='PacGAN' has no table for dataset 'digits'",
        ),
    ],
)
def test_bad_specs_are_one_line_errors(entries, message):
  with pytest.raises(SweepError) as error:
    sweep_spec.normalize(entries)
  assert message in str(error.value)
  assert '\n' not in str(error.value)


def test_strings_from_flags_take_the_fields_types():
  spec = sweep_spec.normalize(
      {
          'variants': ['vanilla'],
          'seeds': [3, 1],
          'grid': {'optim.d.lr': ['1e-4', '3e-4'], 'objective.n_critic': ['2']},
          'set': {'ema.enabled': 'false', 'optim.g.lr': 1},
      }
  )
  assert spec['grid'] == {'optim.d.lr': [1e-4, 3e-4], 'objective.n_critic': [2]}
  assert spec['set'] == {'ema.enabled': False, 'optim.g.lr': 1.0}
  assert spec['seeds'] == [3, 1]


def test_a_config_the_runner_would_refuse_names_the_run():
  spec = _spec(variants=['wgan_gp'], grid={'model.d_norm': ['batch']})
  with pytest.raises(
      SweepError,
      match=r'run wgan_gp__model.d_norm=batch__'
      r"seed0: model.d_norm='batch' is not allowed",
  ):
    sweep_spec.expand(spec)


def test_runs_that_differ_only_in_state_numbers_share_a_group():
  spec = _spec(
      variants=['vanilla', 'non_saturating', 'label_smoothing', 'wgan_gp'],
      seeds=2,
      grid={'optim.d.lr': [1e-4, 3e-4]},
  )
  runs = sweep_spec.expand(spec)
  assert len(runs) == 4 * 2 * 2
  groups = sweep_spec.groups(runs)
  # label_smoothing is non_saturating with another real target; the lr is
  # a number in the optimizer state.
  assert [sorted({r.variant for r in g}) for g in groups] == [
      ['vanilla'],
      ['label_smoothing', 'non_saturating'],
      ['wgan_gp'],
  ]
  assert [len(g) for g in groups] == [4, 8, 4]
  assert [len(g) for g in sweep_spec.groups(runs, max_size=3)] == [
      3,
      1,
      3,
      3,
      2,
      3,
      1,
  ]


def test_graph_changes_split_groups():
  spec = _spec(
      variants=['wgan_gp'],
      grid={'objective.n_critic': [1, 5], 'model.width': [8, 16]},
  )
  assert len(sweep_spec.groups(sweep_spec.expand(spec))) == 4
  sgd = {f'optim.{s}.name': 'sgd' for s in 'gd'}
  spec = _spec(
      variants=['vanilla'], set={**TINY, **sgd}, grid={'optim.g.b1': [0.0, 0.9]}
  )  # No momentum, or some.
  assert len(sweep_spec.groups(sweep_spec.expand(spec))) == 2


# --- Tables -----------------------------------------------------------------


def _summary(variant, seed, status='completed', **final):
  return {
      'variant': variant,
      'seed': seed,
      'status': status,
      'swept': {},
      'final_eval': final,
      'config': {'train': {'steps': 10}},
      'run': f'{variant}{seed}',
      'step': 10,
      'wall_seconds': 1.0,
      'group_wall_seconds': 3.0,
      'group_size': 3,
  }


def test_mean_and_standard_error_by_hand():
  # values 1, 2, 4: mean 7/3; sample variance ((4/3)^2 + (1/3)^2 + (5/3)^2)
  # / 2 = 7/3; standard error sqrt(7/3 / 3).
  mean, error = sweep_results.mean_and_standard_error([1.0, 2.0, 4.0])
  assert mean == pytest.approx(7 / 3)
  assert error == pytest.approx(math.sqrt(7 / 9))
  assert math.isnan(sweep_results.mean_and_standard_error([5.0])[1])


def test_aggregate_excludes_diverged_runs_and_marks_the_best():
  summaries = [
      _summary('a', 0, modes=20.0, reverse_kl=0.5),
      _summary('a', 1, modes=24.0, reverse_kl=0.3),
      _summary('a', 2, 'diverged'),
      _summary('b', 0, modes=25.0, reverse_kl=0.1),
      _summary('b', 1, modes=25.0, reverse_kl=0.2),
  ]
  rows = sweep_results.aggregate(summaries, [])
  assert [(r['variant'], r['runs'], r['diverged']) for r in rows] == [
      ('a', 3, 1),
      ('b', 2, 0),
  ]
  assert rows[0]['modes'] == (22.0, pytest.approx(2.0))  # s.d. 2.83 / sqrt 2
  table = sweep_results.markdown(rows, 'grid25', [], 3)
  assert '| `a` | 10 | 3 | 1 | 22.0 ± 2.0 | 0.40 ± 0.10 |' in table
  assert '| `b` | 10 | 2 | 0 | **25.0 ± 0.0** | **0.15 ± 0.05** |' in table
  assert 'PacGAN4 | 24.8 ± 0.2 | 93.6 ± 0.6 | 0.04 ± 0.01' in table
  assert 'VEEGAN | 24.6 | 40.0 | -' in table
  assert '(3 seeds each;' in table
  assert '(1 seed each;' in sweep_results.markdown(rows, 'grid25', [], 1)


def _protocol_run(variant, seed, swept, pack=1, unroll=0, **final):
  """A completed run of a published protocol: ``swept`` {field: value},
  train.algorithm among them or alternating."""
  algorithm = swept.get('train.algorithm', 'alternating')
  return {
      **_summary(variant, seed, **final),
      'config': {
          'train': {'steps': 10, 'algorithm': algorithm},
          'model': {'pack': pack},
          'objective': {'unroll_steps': unroll},
      },
      'swept': swept,
  }


def test_results_csv_names_a_swept_algorithm_once(tmp_path):
  summaries = [
      dict(
          _protocol_run('vanilla', 0, {'train.algorithm': a}, modes=1.0),
          run=a,
      )
      for a in ('simultaneous', 'alternating')
  ]
  path = tmp_path / 'results.csv'
  sweep_results.write_csv(str(path), summaries, ['train.algorithm'])
  with open(path) as f:
    rows = list(csv.DictReader(f))
  assert 'train.algorithm' not in rows[0]
  assert [r['algorithm'] for r in rows] == ['simultaneous', 'alternating']


def _beside_published(summaries, swept, source):
  """results.md of 2-seed grid25 runs swept over one field, beside
  ``source``'s table."""
  rows = sweep_results.aggregate(summaries, [swept])
  return sweep_results.markdown(rows, 'grid25', [swept], 2, source=source)


def test_measured_rows_sit_beside_their_published_rows():
  def packed(seed, pack, **final):
    return _protocol_run(
        'non_saturating', seed, {'model.pack': pack}, pack=pack, **final
    )

  summaries = [
      packed(0, 1, modes=17.0, high_quality_pct=94.0, reverse_kl=0.5),
      packed(1, 1, modes=19.0, high_quality_pct=94.2, reverse_kl=0.7),
      packed(0, 2, modes=25.0, high_quality_pct=90.0, reverse_kl=0.02),
      packed(1, 2, modes=25.0, high_quality_pct=92.0, reverse_kl=0.04),
  ]
  table = _beside_published(summaries, 'model.pack', 'PacGAN')
  # GAN: modes 18 +- 1 holds 17.3 (|-0.7| <= 2); HQ 94.1 +- 0.1 holds 94.2;
  # KL 0.6 +- 0.1 holds 0.70 (|0.1| <= 0.2).
  assert (
      '| GAN | measured (`non_saturating`) | 10 | 18.0 ± 1.0 | '
      '94.1 ± 0.1 | 0.60 ± 0.10 | yes, yes, yes |'
  ) in table
  assert (
      '| GAN | published | 400000 | 17.3 ± 0.8 | 94.2 ± 0.1 | 0.70 ± 0.07 | |'
      in table
  )
  # PacGAN2: 25 +- 0 modes cannot hold 23.8; HQ 91 +- 1 holds 91.3; KL
  # 0.03 +- 0.01 does not hold 0.13 (off by +0.1).
  assert (
      '| PacGAN2 | measured (`non_saturating`) | 10 | 25.0 ± 0.0 | '
      '91.0 ± 1.0 | 0.03 ± 0.01 | no (-1.2), yes, no (+0.1) |'
  ) in table
  assert 'VEEGAN' not in table  # Only the named source.


def test_rows_of_two_update_orders_say_which_is_which():
  def run(seed, algorithm, unroll, **final):
    swept = {'train.algorithm': algorithm}
    return _protocol_run('vanilla', seed, swept, unroll=unroll, **final)

  summaries = [
      run(0, 'simultaneous', 5, modes=23.0, high_quality_pct=16.0),
      run(1, 'simultaneous', 5, modes=24.0, high_quality_pct=17.0),
      run(0, 'alternating', 5, modes=20.0, high_quality_pct=10.0),
      run(1, 'alternating', 5, modes=22.0, high_quality_pct=12.0),
  ]
  table = _beside_published(summaries, 'train.algorithm', 'VEEGAN')
  # Unrolled GAN published 23.6 modes, 16.0% (VEEGAN): 23.5 +- 0.5 holds
  # the modes, 16.5 +- 0.5 the HQ; 21 +- 1 and 11 +- 1 hold neither.
  assert (
      '| Unrolled GAN | measured (`vanilla`, simultaneous) | 10 | '
      '23.5 ± 0.5 | 16.5 ± 0.5 | - | yes, yes, - |'
  ) in table
  assert (
      '| Unrolled GAN | measured (`vanilla`, alternating) | 10 | '
      '21.0 ± 1.0 | 11.0 ± 1.0 | - | no (+2.6), no (+5), - |'
  ) in table


def _run_with_evals(tmp_path, seed, evals):
  """A completed run's summary whose metrics.jsonl holds ``evals``."""
  workdir = tmp_path / f'run{seed}'
  workdir.mkdir()
  with open(workdir / 'metrics.jsonl', 'w') as f:
    for step, modes in evals:
      f.write(
          json.dumps({'split': 'eval', 'step': step, 'modes': modes}) + '\n'
      )
  return {**_summary('a', seed), 'workdir': str(workdir)}


def test_curves_of_a_single_evaluation_are_still_drawn(tmp_path):
  # A sweep shorter than eval_every evaluates once; a plain line through one
  # point draws nothing, so the figure would be empty.
  from experiments.sweeps import figures as sweep_figures
  from experiments.runner.plots import plt

  summaries = [
      _run_with_evals(tmp_path, 0, [(300, 3.0)]),
      _run_with_evals(tmp_path, 1, [(300, 5.0)]),
  ]
  fig, ax = plt.subplots()
  sweep_figures._band_plot(ax, summaries, 'eval', 'modes')
  (line,) = ax.get_lines()
  assert line.get_marker() == 'o'
  assert list(line.get_ydata()) == [4.0]
  (band,) = ax.collections  # the seeds' range as a bar at step 300
  assert np.allclose(band.get_segments()[0], [[300, 3.0], [300, 5.0]])
  plt.close(fig)


def test_single_evaluation_bars_of_settings_do_not_hide_each_other(tmp_path):
  from experiments.sweeps import figures as sweep_figures
  from experiments.runner.plots import plt

  summaries = [
      _run_with_evals(tmp_path, 0, [(300, 3.0)]),
      _run_with_evals(tmp_path, 1, [(300, 5.0)]),
  ]
  summaries[1]['variant'] = 'wgan_gp'  # A second setting, the same range.
  fig, ax = plt.subplots()
  sweep_figures._band_plot(ax, summaries, 'eval', 'modes')
  xs = [bar.get_segments()[0][0][0] for bar in ax.collections]
  assert xs[0] < 300 < xs[1] and xs[1] - xs[0] < 0.05 * 300
  assert [line.get_xdata()[0] for line in ax.get_lines()] == xs
  assert list(ax.get_xticks()) == [300]
  plt.close(fig)


# --- End to end ---------------------------------------------------------------


@pytest.fixture(scope='module')
def finished_sweep(tmp_path_factory):
  """Two variants x two seeds, in two groups."""
  spec = _spec(variants=['non_saturating', 'wgan_gp'], seeds=2)
  workdir = str(tmp_path_factory.mktemp('sweep'))
  return spec, workdir, sweep_driver.run_sweep(spec, workdir, progress=False)


def test_a_sweep_leaves_tables_figures_and_runs(finished_sweep):
  spec, workdir, summaries = finished_sweep
  assert [s['status'] for s in summaries] == ['completed'] * 4
  with open(os.path.join(workdir, 'results.csv')) as f:
    rows = list(csv.DictReader(f))
  assert [(r['variant'], r['seed']) for r in rows] == [
      ('non_saturating', '0'),
      ('non_saturating', '1'),
      ('wgan_gp', '0'),
      ('wgan_gp', '1'),
  ]
  assert {
      'modes',
      'high_quality_pct',
      'reverse_kl',
      'group_size',
      'protocol.num_samples',
  } <= set(rows[0])
  assert float(rows[0]['modes']) == summaries[0]['final_eval']['modes']
  with open(os.path.join(workdir, 'results.md')) as f:
    text = f.read()
  assert '| `wgan_gp` | 8 | 2 | 0 |' in text
  # The fields every run shares, which no column shows.
  assert 'Every run sets `model.width=16`, `model.depth=2`,' in text
  for name in ('curves.png', 'g_grad_norm.png', 'samples.png'):
    assert os.path.getsize(os.path.join(workdir, 'figures', name)) > 1000
  run_dir = summaries[0]['workdir']
  assert os.path.exists(os.path.join(run_dir, 'samples_0000008.npy'))
  steps = [r['step'] for r in _records(run_dir, 'train')]
  assert steps == [2, 4, 6, 8]


def _records(run_dir, split):
  with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
    return [r for r in map(json.loads, f) if r['split'] == split]


@pytest.mark.slow  # A run beside the sweep's (~6 s).
def test_a_sweep_run_is_the_run_experiments_run_makes(finished_sweep, tmp_path):
  from experiments.runner.train import train_and_evaluate

  _, _, summaries = finished_sweep
  run = sweep_spec.expand(finished_sweep[0])[3]  # wgan_gp, seed 1.
  single = train_and_evaluate(run.config, str(tmp_path), progress=False)
  for name, value in single['final_eval'].items():
    assert summaries[3]['final_eval'][name] == pytest.approx(
        value, rel=1e-3, abs=1e-4
    ), name


def test_rerunning_a_finished_sweep_trains_nothing(finished_sweep, monkeypatch):
  spec, workdir, summaries = finished_sweep
  monkeypatch.setattr(sweep_training, 'train_group', _fail)
  again = sweep_driver.run_sweep(spec, workdir, progress=False)
  assert [s['final_eval'] for s in again] == [
      s['final_eval'] for s in summaries
  ]


def _fail(*args, **kwargs):
  raise AssertionError('trained again')


@pytest.mark.slow  # The default suite resumes one after a real SIGTERM.
def test_an_interrupted_sweep_resumes(finished_sweep, tmp_path, monkeypatch):
  spec, _, summaries = finished_sweep
  workdir = str(tmp_path)
  real_evaluate = sweep_training.evaluators.ToyEvaluator.evaluate
  calls = []

  def evaluate_then_stop(self, state, step, *args, **kwargs):
    # Interrupted at the second group's final evaluation, after its
    # checkpoint at step 4.
    if len(calls) >= 4 and step == 8:
      raise KeyboardInterrupt
    calls.append(step)
    return real_evaluate(self, state, step, *args, **kwargs)

  monkeypatch.setattr(
      sweep_training.evaluators.ToyEvaluator, 'evaluate', evaluate_then_stop
  )
  with pytest.raises(KeyboardInterrupt):
    sweep_driver.run_sweep(spec, workdir, progress=False)
  first_group = [
      os.path.join(workdir, 'runs', s['workdir'].split('/')[-1], 'summary.json')
      for s in summaries[:2]
  ]
  stamps = [os.path.getmtime(p) for p in first_group]
  monkeypatch.setattr(
      sweep_training.evaluators.ToyEvaluator, 'evaluate', real_evaluate
  )
  trained, advanced = [], []
  real_train_group = sweep_training.train_group

  def counted_train_group(group, build, group_dir, runs_dir, advance, *a):
    trained.append([r.name for r in group])
    return real_train_group(
        group,
        build,
        group_dir,
        runs_dir,
        lambda n: advanced.append(n) or advance(n),
        *a,
    )

  monkeypatch.setattr(sweep_training, 'train_group', counted_train_group)
  resumed = sweep_driver.run_sweep(spec, workdir, progress=False)
  assert [len(names) for names in trained] == [2]  # Only the second group.
  # The progress bar: the restored steps (4 per run) at the restore, then
  # the rest, so that it ends at the sweep's total.
  assert advanced[0] == 2 * 4 and sum(advanced) == 2 * 8
  assert [os.path.getmtime(p) for p in first_group] == stamps
  for done, expected in zip(resumed, summaries):
    for name, value in expected['final_eval'].items():
      assert done['final_eval'][name] == pytest.approx(
          value, rel=1e-3, abs=1e-4
      ), name
  steps = [r['step'] for r in _records(resumed[3]['workdir'], 'train')]
  assert steps == [2, 4, 6, 8]  # Resumed from step 4, nothing repeated.


@pytest.mark.slow  # Two sweep processes (~10 s of 2 cores).
def test_a_sigterm_saves_the_group_at_its_step_and_the_rerun_resumes(
    finished_sweep, tmp_path, monkeypatch
):
  spec, _, summaries = finished_sweep
  # One step per dispatch, so that the signal, seen after the first
  # dispatch, stops the group between two log steps, at step 1.
  spec = sweep_spec.normalize(
      {
          'set': dict(TINY, **{'train.steps_per_dispatch': 1}),
          'variants': ['non_saturating', 'wgan_gp'],
          'seeds': 2,
      }
  )
  workdir = str(tmp_path)
  monkeypatch.setattr(preemption, 'StopRequest', lambda: SignalAfter(0))
  with pytest.raises(preemption.Interrupted) as stopped:
    sweep_driver.run_sweep(spec, workdir, progress=False)
  assert (stopped.value.signal_name, stopped.value.step) == ('SIGTERM', 1)
  assert stopped.value.exit_code == 143
  group_dir = os.path.join(workdir, 'groups', 'group000', 'checkpoints')
  assert sorted(os.listdir(group_dir)) == ['1']
  monkeypatch.undo()
  resumed = sweep_driver.run_sweep(spec, workdir, progress=False)
  for done, expected in zip(resumed, summaries):
    for name, value in expected['final_eval'].items():
      assert done['final_eval'][name] == pytest.approx(
          value, rel=1e-3, abs=1e-4
      ), name
  steps = [r['step'] for r in _records(resumed[0]['workdir'], 'train')]
  assert steps == [1, 2, 4, 6, 8]  # Back on the log grid after step 1.


@pytest.mark.slow  # tests/test_batched.py freezes a run in a group.
def test_a_diverging_run_is_isolated(tmp_path):
  # An absurd learning rate overflows within a few steps; nine runs on the
  # eight test devices also exercise the padding of the run axis.
  spec = _spec(
      variants=['non_saturating'],
      seeds=[0],
      grid={'optim.d.lr': [i * 1e-4 for i in range(1, 9)] + [1e30]},
  )
  summaries = sweep_driver.run_sweep(spec, str(tmp_path), progress=False)
  assert [s['status'] for s in summaries] == ['completed'] * 8 + ['diverged']
  assert summaries[-1]['final_eval'] == {}
  assert summaries[-1]['step'] < 8
  # The runner's words: the first bad step and what was not finite there.
  reason = summaries[-1]['reason']
  assert re.fullmatch(
      r'[a-z_, ]+ not finite at step \d+; frozen at step '
      + str(summaries[-1]['step']),
      reason,
  ), reason
  assert 'reason' not in summaries[0]
  with open(tmp_path / 'groups' / 'group000' / 'divergence.json') as f:
    assert list(json.load(f).values()) == [reason]
  with open(tmp_path / 'results.csv') as f:
    rows = list(csv.DictReader(f))
  assert [r['reason'] for r in rows] == [''] * 8 + [reason]
  assert all(np.isfinite(s['final_eval']['reverse_kl']) for s in summaries[:8])
  with open(tmp_path / 'results.md') as f:
    assert '| `non_saturating` | 1e+30 | 8 | 1 | 1 | - |' in f.read()


def test_the_command_line_refuses_bad_input_in_one_line(tmp_path):
  def run(*args):
    return subprocess.run(
        [sys.executable, '-m', 'experiments.sweep', '--progress=false', *args],
        capture_output=True,
        text=True,
    )

  done = run(
      '--variants=vanilla', '--grid=optim.d.lrr=1e-4', f'--workdir={tmp_path}/a'
  )
  assert done.returncode != 0
  assert done.stderr.strip().splitlines()[-1] == (
      "error: grid: unknown config field 'optim.d.lrr' (did you mean "
      "'optim.d.lr'?); the fields are the config file's (default: "
      "experiments/configs/default.py) and its plug-ins'"
  )
  assert not os.path.exists(tmp_path / 'a')

  other = tmp_path / 'other'
  other.mkdir()
  (other / 'sweep.json').write_text(json.dumps({'variants': ['hinge']}))
  done = run('--variants=vanilla', '--seeds=1', f'--workdir={other}')
  assert done.returncode != 0
  assert 'holds a different sweep' in done.stderr.strip().splitlines()[-1]
  assert os.listdir(other) == ['sweep.json']

  # experiments.run's flags, given to the sweep: one line that says what
  # the sweep takes instead.
  for args, message in [
      (
          ['--config.train.steps=300'],
          'error: --config.train.steps=300: a sweep sets config fields with '
          '--set=train.steps=300 (every run) or --grid=FIELD=V1,V2 (swept)',
      ),
      (
          ['--variant=wgan_gp'],
          "error: Unknown command line flag 'variant'. Did you mean: variants "
          '?',
      ),
  ]:
    done = run(*args, f'--workdir={tmp_path}/b')
    assert (done.returncode, done.stderr.strip()) == (1, message)
  assert not os.path.exists(tmp_path / 'b')


def test_the_header_names_only_the_fields_no_column_overrides():
  # protocol_pacgan_full.py sets model.pack=1 for every run and lists
  # PacGAN2's model.pack=2: its results.md must not say every run packs 1.
  fixed = {'model.pack': 1, 'train.batch_size': 100, 'model.width': 400}
  assert sweep_results.shared_settings(
      fixed, ['model.pack', 'train.batch_size']
  ) == (' Every run sets `model.width=400`.')
  assert sweep_results.shared_settings(fixed, list(fixed)) == ''
  assert sweep_results.shared_settings({}, []) == ''


@pytest.mark.parametrize(
    'name, runs, groups',
    [
        ('seed_variants', 40, 3),
        ('wgan_gp_grid', 36, 2),
        ('tune_wgan_gp_lr', 8, 1),
        ('protocol_pacgan', 40, 4),
        # Both update orders: the simultaneous one is the fork's plug-in.
        ('protocol_unrolled', 40, 4),
        ('protocol_pacgan_full', 2, 2),
        ('beat_2d', 10, 1),
    ],
)
def test_the_shipped_sweep_files_expand(name, runs, groups):
  path = os.path.join(
      os.path.dirname(sweep.__file__), 'configs', 'sweeps', f'{name}.py'
  )
  spec = sweep_spec.normalize(sweep._load_file(path))
  expanded = sweep_spec.expand(spec)
  assert len(expanded) == runs
  assert len(sweep_spec.groups(expanded)) == groups


@pytest.mark.slow
def test_a_sweep_runs_on_images(digits_dir, tmp_path):
  # Two seeds of a small DCGAN on the embedded digits: one vmapped group,
  # evaluated with the image metrics, a grid per run in the panel.
  spec = sweep_spec.normalize(
      {
          'variants': ['non_saturating'],
          'seeds': 2,
          'dataset': 'digits',
          'set': {
              'data.dir': digits_dir,
              'model.width': 8,
              'model.latent_dim': 8,
              'train.batch_size': 8,
              'train.steps': 2,
              'train.log_every': 1,
              'train.eval_every': 2,
              'train.checkpoint_every': 2,
              'eval.num_samples': 20,
          },
      }
  )
  summaries = sweep_driver.run_sweep(spec, str(tmp_path), progress=False)
  assert [s['status'] for s in summaries] == ['completed'] * 2
  assert {'fd', 'kid', 'precision', 'modes'} <= set(summaries[0]['final_eval'])
  assert summaries[0]['final_eval'] != summaries[1]['final_eval']
  assert os.path.getsize(tmp_path / 'figures' / 'samples.png') > 1000


def test_divergence_reasons_follow_the_restored_checkpoint(tmp_path):
  # A reason saved after the checkpoint a resume starts from belongs to a
  # run that trains again; a diverged run without one still gets a line.
  runs = [
      sweep_spec.Run(
          name=f'run{i}', variant='vanilla', seed=i, point=(), config=None
      )
      for i in range(3)
  ]
  with open(tmp_path / 'divergence.json', 'w') as f:
    json.dump(
        {
            'run0': 'd_loss not finite at step 7; frozen at step 4',
            'run1': 'g_loss not finite at step 9; frozen at step 8',
        },
        f,
    )
  assert sweep_training._read_reasons(str(tmp_path), runs, {0: 4, 2: 12}) == {
      'run0': 'd_loss not finite at step 7; frozen at step 4',
      'run2': 'not finite after step 12',
  }
  assert sweep_training._reason(
      {'d_loss': np.array([1.0, np.nan]), 'g_loss': np.array([1.0, 2.0])},
      first_step=40,
      num_steps=2,
  ) == ('d_loss not finite at step 41; frozen at step 40')
  assert sweep_training._reason({'d_loss': np.array([1.0, 2.0])}, 40, 2) == (
      'parameters not finite at step 41; frozen at step 40'
  )


def test_a_missing_config_file_names_the_directory_it_was_sought_in(
    tmp_path, monkeypatch
):
  # A sweep file's 'config' is relative to where the command runs.
  monkeypatch.chdir(tmp_path)
  with pytest.raises(
      SweepError, match=f'no such file a/b.py \\(in {tmp_path}\\)'
  ):
    sweep_spec.base_config({'config': 'a/b.py'})
