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
reported as diverged; the others go on.

On disk, under the sweep directory: ``runs/RUN/`` holds what a single run
writes (config.json, metrics.jsonl, TensorBoard, translations_STEP.png,
summary.json), and ``results.md`` / ``results.json`` the mean and standard
error over seeds of every setting's final metrics, beside the untrained,
identity and known-correspondence translators. Running the sweep again
skips runs that finished; a group with an unfinished run trains again from
its start (no group checkpoints: a digits_rot group takes minutes).
"""

import dataclasses
import functools
import itertools
import json
import os
import time
from typing import Any, Dict, List, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from experiments.runner import loop, validation
from experiments.storage import writers
from experiments.sweeps.results import mean_and_standard_error
from experiments.translation import evaluators, train as one_run
from gan_jax import optim, parallel
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
  except (KeyError, AttributeError):
    raise ConfigError(
        f'--grid: unknown config field {field!r}; the fields '
        'are those of experiments/configs/translate.py'
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


def init_group(runs: Sequence[Run]):
  """(spec, the stacked initial states, the stacked train keys)."""
  specs = [translation_config.build(run.config)[0] for run in runs]
  init = cycle_state.compiled_init(specs[0])
  states, train_keys = [], []
  for run, spec in zip(runs, specs):
    init_key, train_key, _ = loop.run_keys(run.seed)
    hparams = translation_config.hparams_from_config(run.config)
    state = init(init_key, hparams)
    # Each run's own optimizer numbers (learning rates, betas).
    replaced = {}
    for name, tx in (
        ('g', spec.g_optimizer),
        ('f', spec.g_optimizer),
        ('d_x', spec.d_optimizer),
        ('d_y', spec.d_optimizer),
    ):
      net = getattr(state, name)
      replaced[name] = net.replace(
          opt_state=optim.with_hyperparams(
              net.opt_state, optim.hyperparams_of(tx)
          )
      )
    states.append(state.replace(**replaced))
    train_keys.append(train_key)
  stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *states)
  return specs[0], stacked, jnp.stack(train_keys)


def _unstack(states, index: int):
  return jax.tree.map(lambda leaf: leaf[index], states)


def make_group_loop(steps, sample_batch, num_steps: int):
  """jitted ``(states, keys, data, alive) -> (states, metrics, alive)``:
  ``num_steps`` steps of every live run; a run with a non-finite metric or
  parameter keeps its state from before the call and turns dead."""
  loop_fn = functools.partial(
      steps.train_loop, sample_batch=sample_batch, num_steps=num_steps
  )
  vmapped = jax.vmap(loop_fn, in_axes=(0, 0, None))

  def group_loop(states, keys, data, alive):
    new, metrics = vmapped(states, keys, data)
    finite = jnp.stack(
        [jnp.all(jnp.isfinite(m), axis=1) for m in jax.tree.leaves(metrics)]
    ).all(axis=0)
    finite &= jax.vmap(one_run.params_finite)(new)
    keep = alive & finite
    pick = lambda n, o: jnp.where(
        keep.reshape((-1,) + (1,) * (n.ndim - 1)), n, o
    )
    return jax.tree.map(pick, new, states), metrics, keep

  return jax.jit(group_loop, donate_argnums=0)


def _train_group(
    runs: Sequence[Run], workdir: str, progress: bool, domains
) -> List[Dict[str, Any]]:
  started = time.time()
  config = runs[0].config
  mesh = parallel.data_mesh(1)
  spec, states, keys = init_group(runs)
  pair = translation_config.pair_of(config)
  steps = cycle_steps.make_cycle_steps(
      spec, unroll=one_run.uses_cpu_formulation(config)
  )
  train_input = one_run.make_input(config, pair, domains, mesh, 'jit')
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
          name: evaluator.evaluate(*fns)[0]
          for name, fns in evaluators.reference_translators(pair).items()
      }
      for evaluator in run_evaluators
  ]
  untrained = [
      one_run.score(evaluator, spec, _unstack(states, i), run.config)
      for i, (run, evaluator) in enumerate(zip(runs, run_evaluators))
  ]
  run_dirs = [os.path.join(workdir, 'runs', run.name) for run in runs]
  run_writers = []
  for run, run_dir in zip(runs, run_dirs):
    os.makedirs(run_dir, exist_ok=True)
    writers.write_json(
        os.path.join(run_dir, 'config.json'), run.config.to_dict()
    )
    if os.path.exists(os.path.join(run_dir, 'metrics.jsonl')):
      os.remove(os.path.join(run_dir, 'metrics.jsonl'))  # Trained afresh.
    run_writers.append(writers.MetricWriter(run_dir))

  cadence = one_run.cadence_of(config)
  compiled = functools.lru_cache(maxsize=None)(
      lambda n: make_group_loop(steps, train_input.sample_batch, n)
  )
  alive = jnp.ones(len(runs), bool)
  diverged_at: Dict[int, str] = {}
  finals: List[Dict[str, float]] = [{} for _ in runs]
  bar = tqdm(
      total=cadence.total,
      disable=not progress,
      unit='step',
      dynamic_ncols=True,
      desc=f'cyclegan/{config.pair} x{len(runs)} runs',
  )
  step = 0
  try:
    while step < cadence.total:
      num_steps = min(cadence.log_every, cadence.total - step)
      interval_started, outputs = time.time(), []
      for start in range(step, step + num_steps, cadence.per_dispatch):
        count = min(cadence.per_dispatch, step + num_steps - start)
        states, metrics, alive = compiled(count)(
            states, keys, train_input.data(start, count), alive
        )
        outputs.append(metrics)
      metrics, alive_now = jax.device_get(
          (jax.tree.map(lambda *m: jnp.concatenate(m, axis=1), *outputs), alive)
      )
      rate = num_steps / (time.time() - interval_started)
      for i, writer in enumerate(run_writers):
        if i in diverged_at:
          continue
        run_metrics = {k: v[i] for k, v in metrics.items()}
        if not alive_now[i]:
          diverged_at[i] = (
              loop.divergence(run_metrics, (True, True), step + 1)
              or f'parameters not finite by step {step + num_steps}'
          )
          continue
        writer.write(
            step + num_steps,
            'train',
            {
                **{k: float(np.mean(v)) for k, v in run_metrics.items()},
                'steps_per_second': rate,
            },
        )
      step += num_steps
      bar.update(num_steps)
      if step % cadence.eval_every == 0 or step == cadence.total:
        for i, writer in enumerate(run_writers):
          if i in diverged_at:
            continue
          state = _unstack(states, i)
          finals[i], examples = run_evaluators[i].evaluate(
              *evaluators.translators(spec, state, config.data.image_size)
          )
          writer.write(step, 'eval', finals[i])
          evaluators.save_picture(
              run_dirs[i],
              step,
              evaluators.picture(pair, examples, step),
              writer,
          )
  finally:
    writers.close_all(bar.close, *(w.close for w in run_writers))

  wall = time.time() - started
  summaries = []
  for i, (run, run_dir) in enumerate(zip(runs, run_dirs)):
    summary = {
        'status': 'diverged' if i in diverged_at else 'completed',
        **({'reason': diverged_at[i]} if i in diverged_at else {}),
        'pair': config.pair,
        'seed': run.seed,
        'point': dict(run.point),
        'step': step,
        'workdir': run_dir,
        'wall_seconds': wall,
        'steps_per_second': step / max(wall, 1e-9),
        'group_size': len(runs),
        'final_eval': finals[i],
        'reference_translators': {**references[i], 'untrained': untrained[i]},
        'eval_protocol': run_evaluators[i].protocol(),
        'config': run.config.to_dict(),
    }
    writers.write_json(os.path.join(run_dir, 'summary.json'), summary)
    summaries.append(summary)
  return summaries


def _read_summary(run_dir: str):
  path = os.path.join(run_dir, 'summary.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


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
  no limit; -1: :func:`default_group_size`); writes results.md and
  results.json; returns results.md's text."""
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
  summaries = {}
  for group in groups_of(runs, group_size):
    done = [_read_summary(os.path.join(workdir, 'runs', r.name)) for r in group]
    if all(done):
      summaries.update({r.name: s for r, s in zip(group, done)})
      continue
    c = group[0].config
    domains = loaded[(c.pair, c.data.dir, c.data.channels)]
    for run, summary in zip(
        group, _train_group(group, workdir, progress, domains)
    ):
      summaries[run.name] = summary
  table = results([summaries[run.name] for run in runs])
  writers.write_json(os.path.join(workdir, 'results.json'), table)
  text = markdown(table, runs[0].config.pair)
  with open(os.path.join(workdir, 'results.md'), 'w') as f:
    f.write(text)
  return text
