"""One translation run, start to finish: ``train_and_evaluate(config,
workdir)``. What a CycleGAN run is (its state, steps, input, evaluation
against the reference translators); the run itself is the shared driver's
(experiments.runner.driver), as a GAN run's: resuming from the workdir's
last checkpoint (history buffers included), SIGTERM/Ctrl-C saving and
exiting 128 + the signal, a NaN stopping the run with its last good
checkpoint.
"""

import sys
import time
from typing import Any, Dict

import jax

from experiments.runner import driver, loop, preemption
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


@jax.jit
def params_finite(state) -> Dict[str, jax.Array]:
  """Whether every parameter of each of the four networks is finite."""
  return {
      name.upper(): driver.all_finite(getattr(state, name).params)
      for name in cycle_state.NETWORKS
  }


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

  def announce(line: str) -> None:
    if primary:
      print(line, file=sys.stderr)

  # --- Model, data, evaluation: before anything is written ----------------
  spec, hparams, pair = translation_config.build(config)
  steps = cycle_steps.make_steps(
      spec, parallel.axis_name(route), unroll=uses_cpu_formulation(config)
  )
  init_rng, train_rng, eval_rng = loop.run_keys(config.seed)
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
  histogram = None

  def evaluate(state, step, writer):
    nonlocal histogram
    metrics, examples = evaluator.evaluate(
        *evaluators.translators(spec, state, config.data.image_size)
    )
    histogram = examples.get('x2y_histogram')
    if primary:
      evaluators.save_picture(
          workdir, step, evaluators.picture(pair, examples, step), writer
      )
    return metrics

  def report(final_eval):
    del final_eval
    return {
        'pair': config.pair,
        'algorithm': config.train.algorithm,
        'pair_description': pair.description,
        'seed': config.seed,
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
    }

  task = driver.Task(
      label=f'cyclegan/{config.pair}',
      algorithm=f'train.algorithm={config.train.algorithm!r}',
      state=state,
      with_numbers_of=cycle_state.with_numbers_of,
      train_loop=steps.train_loop,
      train_input=train_input,
      train_rng=jax.device_put(train_rng, replicated),
      route=route,
      mesh=mesh,
      cadence=cadence_of(config),
      params_finite=params_finite,
      evaluate=evaluate,
      postfix=lambda means: {
          'cycle': f"{means['cycle_x'] + means['cycle_y']:.3f}",
          'g': f"{means['g_loss']:.3f}",
      },
      report=report,
  )
  return driver.run(task, config, workdir, progress, stop, started)
