"""One translation run, start to finish: ``train_and_evaluate(config,
workdir)``. The same loop, checkpoints, logs and fault handling as a GAN
run (experiments.runner.train): resuming from the workdir's last
checkpoint (history buffers included), SIGTERM/Ctrl-C saving and exiting
128 + the signal, a NaN stopping the run with its last good checkpoint.
"""

import functools
import os
import sys
import time
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from experiments.runner import loop, preemption
from experiments.runner.train import open_workdir
from experiments.storage import writers
from experiments.translation import evaluators, inputs
from gan_jax import config as gan_config, parallel
from gan_jax.data import pairs
from gan_jax.translation import config as translation_config
from gan_jax.translation import state as cycle_state
from gan_jax.translation import steps as cycle_steps


def uses_cpu_formulation(config) -> bool:
  """Convolutional pairs on a CPU: one step per dispatch, unrolled
  (XLA:CPU runs convolutions inside loops many times slower,
  jax-ml/jax#12868)."""
  return (
      gan_config.formulation(config) == 'cpu'
      and translation_config.pair_of(config).kind == 'images'
  )


def cadence_of(config) -> loop.Cadence:
  per_dispatch = config.train.steps_per_dispatch or (
      1 if uses_cpu_formulation(config) else config.train.log_every
  )
  return loop.Cadence(
      config.train.steps,
      config.train.log_every,
      config.train.eval_every,
      config.train.checkpoint_every,
      per_dispatch,
  )


def load_domains(config):
  """The image pair's domains (DatasetNotPrepared when a public one is not
  prepared), or None for a 2-D pair. Read before anything is written."""
  if translation_config.pair_of(config).kind == 'points':
    return None
  return pairs.load_image_domains(
      config.pair, config.data.dir or None, config.data.channels
  )


def make_input(config, pair, domains, mesh, route):
  if pair.kind == 'points':
    return inputs.point_input(config, pair, mesh, route)
  return inputs.image_input(config, domains, mesh, route)


def params_finite(state) -> jax.Array:
  leaves = jax.tree.leaves(
      [getattr(state, n).params for n in cycle_state.NETWORKS]
  )
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in leaves]))


def score(evaluator, spec, state, config) -> Dict[str, float]:
  metrics, _ = evaluator.evaluate(
      *evaluators.translators(spec, state, config.data.image_size)
  )
  return metrics


def summary_screen(summary: Dict[str, Any]) -> str:
  references = summary['reference_translators']
  names = ['trained', *references]
  lines = [
      f"CycleGAN on {summary['pair']}, seed {summary['seed']}: "
      f"{summary['status']} after {summary['step']} steps in "
      f"{summary['wall_seconds']:.0f} s "
      f"({summary['steps_per_second']:.1f} steps/s)",
      f"  {'':>20}" + ''.join(f'  {n:>20}' for n in names),
  ]
  for metric, value in summary['final_eval'].items():
    row = [value] + [
        references[n].get(metric, float('nan')) for n in references
    ]
    lines.append(f'  {metric:>20}' + ''.join(f'  {v:20.4g}' for v in row))
  lines.append(f"  workdir: {summary['workdir']}")
  return '\n'.join(lines)


def train_and_evaluate(
    config, workdir: str, progress: bool = True
) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; resumes from ``workdir``. The
  config must be validated (gan_jax.translation.config.validate)."""
  with preemption.StopRequest() as stop:
    return _train_and_evaluate(config, workdir, progress, stop)


def _train_and_evaluate(config, workdir, progress, stop):
  started = time.time()
  route = config.train.parallel
  mesh = parallel.data_mesh(config.train.num_devices)
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  primary = jax.process_index() == 0
  announce = lambda line: primary and print(line, file=sys.stderr)

  # --- Model, data, evaluation: before anything is written ----------------
  spec, hparams, pair = translation_config.build(config)
  steps = cycle_steps.make_cycle_steps(
      spec, parallel.axis_name(route), unroll=uses_cpu_formulation(config)
  )
  init_rng, train_rng, eval_rng = loop.run_keys(config.seed)
  train_rng = jax.device_put(train_rng, replicated)
  domains = load_domains(config)
  train_input = make_input(config, pair, domains, mesh, route)
  evaluator = evaluators.make_evaluator(
      config, pair, eval_rng, domains, announce
  )
  init = cycle_state.compiled_init(spec)
  state = jax.device_put(init(init_rng, hparams), replicated)
  references = {
      name: evaluator.evaluate(*fns)[0]
      for name, fns in evaluators.reference_translators(pair).items()
  }
  references['untrained'] = score(evaluator, spec, state, config)

  # --- Outputs, resume ------------------------------------------------------
  state, ckpt, writer = open_workdir(
      workdir, config, state, cycle_state.with_numbers_of, primary
  )
  step = int(state.step)

  @functools.lru_cache(maxsize=None)
  def compiled_loop(num_steps: int):
    return parallel.parallel_loop(
        functools.partial(
            steps.train_loop,
            sample_batch=train_input.sample_batch,
            num_steps=num_steps,
        ),
        route,
        mesh,
    )

  bar = tqdm(
      total=config.train.steps,
      initial=step,
      disable=not (progress and primary),
      unit='step',
      dynamic_ncols=True,
      desc=f'cyclegan/{config.pair}',
  )
  cadence = cadence_of(config)

  def dispatch(state, first_step, num_steps):
    return compiled_loop(num_steps)(
        state, train_rng, train_input.data(first_step, num_steps)
    )

  def end_interval(state, outputs, first_step, interval_started):
    metrics, finite = jax.device_get(
        (
            jax.tree.map(lambda *m: jnp.concatenate(m), *outputs),
            params_finite(state),
        )
    )
    bad = loop.divergence(metrics, (finite, True), first_step + 1)
    if bad:
      last = ckpt.latest_step()
      raise loop.Diverged(
          f'diverged: {bad}; '
          + (
              'no checkpoint yet'
              if last is None
              else f'last good checkpoint: step {last}'
          ),
          first_step,
      )
    num_steps = len(next(iter(metrics.values())))
    means = {k: float(np.mean(v)) for k, v in metrics.items()}
    means['steps_per_second'] = num_steps / (time.time() - interval_started)
    writer.write(first_step + num_steps, 'train', means)
    bar.set_postfix(
        cycle=f"{means['cycle_x'] + means['cycle_y']:.3f}",
        g=f"{means['g_loss']:.3f}",
        refresh=False,
    )
    bar.update(num_steps)
    return num_steps

  final_eval: Dict[str, float] = {}
  histogram = None

  def evaluate(state, step, final):
    del final
    nonlocal final_eval, histogram
    final_eval, examples = evaluator.evaluate(
        *evaluators.translators(spec, state, config.data.image_size)
    )
    histogram = examples.get('x2y_histogram')
    writer.write(step, 'eval', final_eval)
    if primary:
      evaluators.save_picture(
          workdir, step, evaluators.picture(pair, examples, step), writer
      )
      bar.write(
          f'step {step}: '
          + ', '.join(f'{k} {v:.4g}' for k, v in final_eval.items())
      )
    return final_eval

  hooks = loop.Hooks(
      dispatch=dispatch,
      end_interval=end_interval,
      evaluate=evaluate,
      save=lambda state, step: ckpt.save(step, state),
  )
  run_started, run_start_step = time.time(), step
  try:
    outcome, step = loop.train_to_outcome(
        state, step, cadence, hooks, stop, bar.write
    )
  finally:
    writers.close_all(bar.close, writer.close, ckpt.close)

  elapsed = time.time() - run_started
  summary = {
      **outcome,
      'pair': config.pair,
      'pair_description': pair.description,
      'seed': config.seed,
      'step': step,
      'workdir': os.path.abspath(workdir),
      'wall_seconds': time.time() - started,
      'steps_per_second': (step - run_start_step) / max(elapsed, 1e-9),
      'final_eval': final_eval,
      'reference_translators': references,
      'eval_protocol': {
          **evaluator.protocol(),
          'eval_rng': f'split(PRNGKey({config.seed}), 3)[2]',
      },
      **(
          {'x2y_mode_histogram': [int(c) for c in histogram]}
          if histogram is not None
          else {}
      ),
      'input': train_input.description,
      'devices': f'{mesh.size} x {jax.devices()[0].platform}',
      'parallel': route,
      'config': config.to_dict(),
  }
  if primary:
    writers.write_json(os.path.join(workdir, 'summary.json'), summary)
  return summary
