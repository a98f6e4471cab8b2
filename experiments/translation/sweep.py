"""Sweeps of the translation trainer: seeds x a grid of config fields.

Runs whose configs differ only in numbers the CycleState holds -- the
seed, the loss weights (lambda and the identity weight, as long as it stays
above 0 or at 0), the objective's targets and the optimizers' learning rates
and betas -- form one *group* and train as one vmapped program: R runs,
one compilation, one dispatch per step. Each run is the computation
``experiments.translate`` makes for its config on one device, with the
same keys (``split(PRNGKey(seed), 3)``), so a sweep's run and the single
run agree to float rounding (tests/test_translation.py). A run whose
metrics turn NaN or infinite is frozen at its last finite state and
reported as diverged; the others go on. The groups train on the GAN
sweep's driver (experiments.sweeps.driver and .training): a group's
checkpoints in ``groups/``, SIGTERM saving them, the same command resuming.

On disk, under the sweep directory: ``runs/RUN/`` holds what a single run
writes (config.json, metrics.jsonl, TensorBoard, the final
translations_STEP.png, summary.json), and ``results.md`` /
``results.json`` the mean and standard error over seeds of every
setting's final metrics, beside the untrained, identity and
known-correspondence translators. Running the sweep again skips runs that
finished and resumes an unfinished group from its last checkpoint.
"""

import dataclasses
import functools
import itertools
import json
import os
from typing import Any, Dict, List, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments.runner import config_layers, loop, validation
from experiments.storage import writers
from experiments.sweeps import driver as sweep_driver, training
from experiments.sweeps.results import mean_and_standard_error
from experiments.translation import evaluators, train as one_run
from gan_jax import optim
from gan_jax.batched import flatten
from gan_jax.config import ConfigError
from gan_jax.translation import config as translation_config
from gan_jax.translation import state as cycle_state
from gan_jax.translation import steps as cycle_steps

# Fields that only set numbers in the state (see the module docstring).
BATCHABLE_FIELDS = (
    'seed',
    'loss.cycle_weight',
    'loss.identity_weight',
    'objective.real_target',
    'objective.fake_target',
    'optim.g.lr',
    'optim.g.b1',
    'optim.g.b2',
    'optim.d.lr',
    'optim.d.b1',
    'optim.d.b2',
)


@dataclasses.dataclass(frozen=True)
class Run:
  name: str
  point: Tuple[Tuple[str, Any], ...]  # The grid's values, in order.
  seed: int
  config: Any


def parse_grid(values: Sequence[str]) -> Dict[str, List[str]]:
  """``['field=v1,v2', ...]`` -> {field: ['v1', 'v2']}."""
  grid = {}
  for value in values:
    field, sep, listed = value.partition('=')
    items = [v.strip() for v in listed.split(',') if v.strip()]
    if not sep or not field or not items:
      raise ConfigError(
          f'--grid={value!r} is not allowed: give field=v1,v2,...'
      )
    if field in grid:
      raise ConfigError(f'--grid: {field} is given twice')
    grid[field] = items
  return grid


def _typed(config, field: str, text: str):
  try:
    default = functools.reduce(
        lambda node, part: node[part], field.split('.'), config
    )
  except (KeyError, AttributeError, TypeError):  # TypeError: a.b of a number.
    raise ConfigError(
        '--grid: '
        + config_layers.unknown_field(
            field,
            flatten(config.to_dict()),
            'those of experiments/configs/translate.py (or of the --config '
            'file)',
        )
    ) from None
  kind = type(default)
  try:
    if kind is bool:
      if text.lower() not in ('true', 'false'):
        raise ValueError
      return text.lower() == 'true'
    return kind(text)
  except ValueError:
    raise ConfigError(
        f'--grid: {field}={text!r} is not a {kind.__name__}'
    ) from None


def expand(
    config, seeds: Sequence[int], grid: Dict[str, List[str]]
) -> List[Run]:
  """Every run of the sweep, its config validated (one line on the first
  bad one)."""
  if 'seed' in grid or 'pair' in grid:
    raise ConfigError(
        '--grid: seed and pair are not swept here; use '
        '--seeds, and one sweep per pair'
    )
  fields = list(grid)
  typed = [[_typed(config, f, v) for v in grid[f]] for f in fields]
  runs = []
  for values in itertools.product(*typed):
    point = tuple(zip(fields, values))
    for seed in seeds:
      run_config = config.copy_and_resolve_references()
      run_config.update_from_flattened_dict({**dict(point), 'seed': seed})
      validation.validate_translation(run_config, 1)
      name = '__'.join([f'{f}={v}' for f, v in point] + [f'seed{seed}'])
      runs.append(Run(name, point, seed, run_config))
  return runs


def group_key(config) -> str:
  """Equal exactly when two runs can share one vmapped program."""
  flat = flatten(config.to_dict())
  flat['identity_loss'] = flat['loss.identity_weight'] > 0
  for field in BATCHABLE_FIELDS:
    flat.pop(field)
  return json.dumps(flat, sort_keys=True, default=str)


def default_group_size(config) -> int:
  """Runs per vmapped program when ``--group_size`` is 0: one for image
  pairs in the CPU formulation, where XLA:CPU runs a vmapped convolution
  (one set of weights per run) slower than the runs one after another
  (digits_rot, 3 runs: 3.7 group steps/s against 22.7 steps/s for one run,
  docs/translation.md); every run of a group elsewhere."""
  return 1 if one_run.uses_cpu_formulation(config) else 0


def groups_of(runs: Sequence[Run], group_size: int = 0) -> List[List[Run]]:
  """Runs of one group key, in chunks of ``group_size`` (0: no limit)."""
  grouped: Dict[str, List[Run]] = {}
  for run in runs:
    grouped.setdefault(group_key(run.config), []).append(run)
  chunks = []
  for members in grouped.values():
    size = group_size or len(members)
    chunks += [members[i : i + size] for i in range(0, len(members), size)]
  return chunks


def cycle_group(runs: Sequence[Run], mesh, domains) -> training.Group:
  """The group of ``runs`` (padded) for the shared group driver
  (experiments.sweeps.training): their stacked initial states, each with
  its own optimizer numbers, the shared step, input and each run's
  evaluation beside the reference translators."""
  config = runs[0].config
  specs = [translation_config.build(run.config)[0] for run in runs]
  spec = specs[0]
  pair = translation_config.pair_of(config)
  init = cycle_state.compiled_init(spec)
  states, train_keys = [], []
  for run, run_spec in zip(runs, specs):
    init_key, train_key, _ = loop.run_keys(run.seed)
    state = init(init_key, translation_config.hparams_from_config(run.config))
    # Each run's own optimizer numbers (learning rates, betas).
    replaced = {}
    for name, tx in (
        ('g', run_spec.g_optimizer),
        ('f', run_spec.g_optimizer),
        ('d_x', run_spec.d_optimizer),
        ('d_y', run_spec.d_optimizer),
    ):
      net = getattr(state, name)
      replaced[name] = net.replace(
          opt_state=optim.with_hyperparams(
              net.opt_state, optim.hyperparams_of(tx)
          )
      )
    states.append(jax.device_get(state.replace(**replaced)))
    train_keys.append(train_key)
  steps = cycle_steps.make_steps(
      spec, unroll=one_run.uses_cpu_formulation(config)
  )
  # Each run is scored as its single run would be: 2-D pairs draw their
  # test points from the run's own eval key; image pairs use no key.
  shared = (
      None
      if pair.kind == 'points'
      else evaluators.make_evaluator(
          config, pair, loop.run_keys(config.seed)[2], domains
      )
  )
  run_evaluators = [
      shared
      or evaluators.make_evaluator(
          run.config, pair, loop.run_keys(run.seed)[2], domains
      )
      for run in runs
  ]
  references = [
      {
          **{
              name: evaluator.evaluate(*fns)[0]
              for name, fns in evaluators.reference_translators(pair).items()
          },
          'untrained': one_run.score(evaluator, spec, state, run.config),
      }
      for run, evaluator, state in zip(runs, run_evaluators, states)
  ]

  def evaluate(i, state, step, run_dir, writer, picture):
    metrics, examples = run_evaluators[i].evaluate(
        *evaluators.translators(spec, state, config.data.image_size)
    )
    if picture:
      evaluators.save_picture(
          run_dir, step, evaluators.picture(pair, examples, step), writer
      )
    return metrics

  def report(i, final_eval):
    del final_eval
    return {
        'pair': runs[i].config.pair,
        'algorithm': runs[i].config.train.algorithm,
        'point': dict(runs[i].point),
        'reference_translators': references[i],
        'eval_protocol': run_evaluators[i].protocol(),
    }

  return training.Group(
      states=jax.tree.map(lambda *leaves: np.stack(leaves), *states),
      train_rngs=jnp.stack(train_keys),
      train_loop=steps.train_loop,
      train_input=one_run.make_input(config, pair, domains, mesh, 'jit'),
      params_of=lambda state: [
          getattr(state, name).params for name in cycle_state.NETWORKS
      ],
      with_numbers_of=cycle_state.with_numbers_of,
      cadence=one_run.cadence_of(config),
      algorithm=f'train.algorithm={config.train.algorithm!r}',
      evaluate=evaluate,
      report=report,
  )


def results(summaries: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
  """Per setting (grid point): mean and standard error over seeds of every
  final metric; and the references' values (untrained: its mean)."""
  settings: Dict[str, List[Dict[str, Any]]] = {}
  for summary in summaries:
    label = ', '.join(f'{k}={v}' for k, v in summary['point'].items()) or (
        'default'
    )
    settings.setdefault(label, []).append(summary)
  table = {}
  for label, members in settings.items():
    done = [m for m in members if m['status'] == 'completed']
    metrics = sorted({k for m in done for k in m['final_eval']})
    table[label] = {
        'seeds': len(members),
        'diverged': len(members) - len(done),
        **{
            k: mean_and_standard_error([m['final_eval'][k] for m in done])
            for k in metrics
        },
    }
  # References scored per run (its initial state; for 2-D pairs its own
  # test points): their means.
  references = {}
  for name in summaries[0]['reference_translators']:
    scored = [s['reference_translators'][name] for s in summaries]
    references[name] = {
        k: float(np.mean([v[k] for v in scored])) for k in scored[0]
    }
  return {'settings': table, 'references': references}


def markdown(table: Dict[str, Any], pair: str) -> str:
  settings, references = table['settings'], table['references']
  metrics = sorted(
      {
          k
          for row in settings.values()
          for k in row
          if k not in ('seeds', 'diverged')
      }
  )
  lines = [
      f'# CycleGAN sweep on {pair}',
      '',
      '| setting | seeds | ' + ' | '.join(metrics) + ' |',
      '|---|---|' + '---|' * len(metrics),
  ]
  for label, row in settings.items():
    cells = [
        (f'{row[k][0]:.4g} ± {row[k][1]:.2g}' if k in row else '')
        for k in metrics
    ]
    seeds = f"{row['seeds']}" + (
        f" ({row['diverged']} diverged)" if row['diverged'] else ''
    )
    lines.append(f'| {label} | {seeds} | ' + ' | '.join(cells) + ' |')
  for name, values in references.items():
    cells = [f'{values[k]:.4g}' if k in values else '' for k in metrics]
    lines.append(f'| *{name}* | | ' + ' | '.join(cells) + ' |')
  lines += [
      '',
      'Mean ± standard error over seeds of the final evaluation; '
      "italic rows: reference translators, scored on every run's "
      'test data (untrained: its initial state), their means.',
      '',
  ]
  return '\n'.join(lines)


def run_sweep(
    runs: Sequence[Run],
    workdir: str,
    progress: bool = True,
    group_size: int = -1,
) -> str:
  """Trains every unfinished group (at most ``group_size`` runs each; 0:
  no limit; -1: :func:`default_group_size`) on the shared sweep driver
  (experiments.sweeps.driver: group checkpoints, resume, frozen divergent
  runs); writes results.md and results.json; returns results.md's text."""
  if group_size < 0:
    group_size = default_group_size(runs[0].config)
  # Read before anything is written (DatasetNotPrepared: one line).
  loaded = {}
  for run in runs:
    key = (run.config.pair, run.config.data.dir, run.config.data.channels)
    if key not in loaded:
      loaded[key] = one_run.load_domains(run.config)
  os.makedirs(workdir, exist_ok=True)
  plan_path = os.path.join(workdir, 'sweep.json')
  plan = {
      'runs': [run.name for run in runs],
      'configs': {run.name: run.config.to_dict() for run in runs},
  }
  if os.path.exists(plan_path):
    with open(plan_path) as f:
      if json.load(f) != json.loads(json.dumps(writers.json_safe(plan))):
        raise ConfigError(
            f'--workdir={workdir} holds another sweep; use another --workdir'
        )
  writers.write_json(plan_path, plan)

  def build(group, mesh):
    c = group[0].config
    return cycle_group(
        group, mesh, loaded[(c.pair, c.data.dir, c.data.channels)]
    )

  # One device a group: the pair's input is built for it.
  summaries = sweep_driver.train_groups(
      runs,
      groups_of(runs, group_size),
      build,
      workdir,
      progress,
      spread=False,
  )
  table = results([summaries[run.name] for run in runs])
  writers.write_json(os.path.join(workdir, 'results.json'), table)
  text = markdown(table, runs[0].config.pair)
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write(text)
  return text
