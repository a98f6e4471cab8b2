"""One GAN experiment, start to finish: ``train_and_evaluate(config,
workdir)``.

What a GAN run is: devices, the model and state, its steps (the config's
algorithm, checked against the step contract), input and evaluation. The
run itself -- workdir, resume, the compiled loop, logs, checkpoints, the
summary -- is the shared driver's (experiments.runner.driver); the step
functions live in gan_jax.steps.
"""

import sys
import time
from typing import Any, Dict

import jax

from gan_jax import config as gan_config, contract, parallel
from gan_jax import state as gan_state, steps as gan_steps
from experiments.runner import driver, evaluators, inputs, loop, preemption
from experiments.runner import profiling


@jax.jit
def _params_finite(state) -> Dict[str, jax.Array]:
  """Whether every parameter of G, and of D, is finite."""
  return {
      'G': driver.all_finite(state.g.params),
      'D': driver.all_finite(state.d.params),
  }


def summary_screen(summary: Dict[str, Any]) -> str:
  """The one-screen summary printed at the end of a run."""
  protocol = summary['eval_protocol']
  real = protocol.get('real_vs_real')
  lines = [
      f"{summary['variant']} on {summary['dataset']}, seed "
      f"{summary['seed']}: {summary['status']} after {summary['step']} "
      f"steps in {summary['wall_seconds']:.0f} s "
      f"({summary['steps_per_second']:.1f} steps/s)"
  ]
  if real:
    lines.append(f"  {'':>22}  {'generated':>10}  {'real vs real':>12}")
  for name, value in summary['final_eval'].items():
    lines.append(
        f'  {name:>22}: {value:10.4g}'
        + (f"  {real.get(name, float('nan')):12.4g}" if real else '')
    )
  if 'feature_extractor' in protocol:
    accuracy = protocol.get('feature_extractor_held_out_accuracy')
    lines.append(
        f"  ({protocol['num_samples']} samples against "
        f"{protocol['reference']}; features: "
        f"{protocol['feature_extractor']}"
        + (
            f", resize {protocol['resize_mode']}"
            if 'resize_mode' in protocol
            else ''
        )
        + ('' if accuracy is None else f', held-out accuracy {accuracy:.3f}')
        + ')'
    )
    if 'features_note' in protocol:
      lines.append(f"  ({protocol['features_note']})")
  elif protocol.get('features') == 'none':  # Own images without Inception.
    lines.append(f"  (no feature metrics: {protocol.get('features_note')})")
  else:
    lines.append(
        f"  ({protocol['num_samples']} samples, high quality "
        f"within {protocol['threshold']:g} sigma)"
    )
  lines.append(
      f"  G params: {protocol['generator_params']}; workdir: "
      f"{summary['workdir']}"
  )
  return '\n'.join(lines)


def check_contract(config, spec, hparams) -> None:
  """The config's algorithm against the step contract (gan_jax.contract),
  before anything is written: one line (ConfigError) if it breaks it."""
  if parallel.axis_name(config.train.parallel) is not None:
    spec = gan_config.build(config)[0]  # Models without a device axis.
  try:
    contract.check_steps(
        gan_steps.make_steps(spec), spec, config.train.batch_size, hparams
    )
  except contract.ContractError as error:
    raise gan_config.ConfigError(str(error)) from None


def train_and_evaluate(
    config, workdir: str, progress: bool = True
) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; resumes from ``workdir`` if it holds
  a checkpoint. Returns the summary also written to summary.json.

  The config must already be validated (gan_jax.config.validate). Data are
  read (and the image metrics' classifier trained) before anything is
  written, so a dataset that cannot be read (DatasetNotPrepared) leaves no
  workdir behind; nor does a workdir without room for the checkpoints
  (checkpoints.NoRoom).

  Faults: a NaN or infinity ends the run within its log interval with
  status 'diverged' (naming the step and the quantities), its last
  checkpoint intact. SIGTERM or Ctrl-C (experiments.runner.preemption)
  saves a checkpoint at the step reached and ends with status
  'interrupted'.
  """
  with preemption.StopRequest() as stop:
    return _train_and_evaluate(config, workdir, progress, stop)


def _train_and_evaluate(
    config, workdir: str, progress: bool, stop: preemption.StopRequest
) -> Dict[str, Any]:
  started = time.time()

  # --- Devices, model, data, evaluation -----------------------------------
  # The state is replicated and the global batch split over the mesh's
  # 'data' axis, by the route of config.train.parallel (gan_jax.parallel).
  # With several hosts, every one runs this function; process 0 alone
  # writes files (checkpoints are written by all, through orbax).
  route = config.train.parallel
  mesh = parallel.data_mesh(config.train.num_devices)
  layout = inputs.Layout(mesh, route)
  primary = jax.process_index() == 0
  spec, hparams, dataset = gan_config.build(config, parallel.axis_name(route))
  steps = gan_steps.make_steps(
      spec, parallel.axis_name(route), unroll=loop.unroll_loops(config)
  )
  init_rng, train_rng, eval_rng = loop.run_keys(config.seed)
  batch_shape = (config.objective.n_critic, config.train.batch_size)
  train_input = inputs.make_input(config, dataset, batch_shape, layout)

  def announce(line: str) -> None:
    if primary:
      print(line, file=sys.stderr)

  evaluator = evaluators.make_evaluator(
      config, spec, dataset, eval_rng, announce=announce
  )
  check_contract(config, spec, hparams)
  state = gan_state.compiled_init(spec)(init_rng, hparams)
  cadence = loop.Cadence.of(config)
  devices = f'{mesh.size} x {jax.devices()[0].platform}'

  def report(final_eval: Dict[str, float]) -> Dict[str, Any]:
    del final_eval
    return {
        'variant': config.variant,
        'algorithm': config.train.algorithm,
        'dataset': config.dataset,
        'seed': config.seed,
        'eval_protocol': evaluators.eval_protocol(evaluator, config),
        'formulation': gan_config.formulation(config),
        'compute_dtype': config.train.compute_dtype,
    }

  task = driver.Task(
      label=f'{config.variant}/{config.dataset}',
      algorithm=f'train.algorithm={config.train.algorithm!r}',
      state=jax.device_put(state, layout.replicated),
      with_numbers_of=gan_state.with_numbers_of,
      train_loop=steps.train_loop,
      train_input=train_input,
      # On the mesh once, not copied there at every dispatch.
      train_rng=jax.device_put(train_rng, layout.replicated),
      route=route,
      mesh=mesh,
      cadence=cadence,
      params_finite=_params_finite,
      evaluate=lambda state, step, writer: evaluator.evaluate(
          state, step, workdir, writer, picture=primary
      ),
      postfix=driver.postfix,
      report=report,
      describe=lambda compiled: profiling.start_line(
          config, devices, route, cadence.per_dispatch, compiled
      ),
  )
  return driver.run(task, config, workdir, progress, stop, started)
