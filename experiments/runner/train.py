"""One experiment, start to finish: ``train_and_evaluate(config, workdir)``.

Sections: devices, model and state, resume, the jitted loop, evaluation,
checkpoints and logs. The step functions themselves live in gan_jax.steps;
this file is plumbing around them.
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

from gan_jax import config as gan_config, contract, parallel
from gan_jax import state as gan_state, steps as gan_steps
from experiments.runner import evaluators, inputs, loop, preemption
from experiments.runner import profiling
from experiments.storage import checkpoints, writers


@jax.jit
def _params_finite(state) -> jax.Array:
  """Whether every parameter of G and D is finite (one bool per side)."""

  def finite(tree):
    return jnp.all(
        jnp.stack(
            [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
        )
    )

  return jnp.stack([finite(state.g.params), finite(state.d.params)])


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
        + ('' if accuracy is None else f', held-out accuracy {accuracy:.3f}')
        + ')'
    )
    if 'features_note' in protocol:
      lines.append(f"  ({protocol['features_note']})")
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


def postfix(means: Dict[str, float]) -> Dict[str, str]:
  """The progress bar's numbers: D's and G's losses, or, for an algorithm
  whose metrics are named otherwise, its first two."""
  shown = [k for k in ('d_loss', 'g_loss') if k in means] or [
      k for k in sorted(means) if k != 'steps_per_second'
  ][:2]
  return {k.removesuffix('_loss') or k: f'{means[k]:.3f}' for k in shown}


def open_workdir(workdir: str, config, state, with_numbers_of, primary: bool):
  """(state, checkpointer, metric writer) of a run in ``workdir``: the
  fresh ``state``, or the last checkpoint's with the config's numbers
  (``with_numbers_of(restored, fresh)``: scalars, learning rates, betas
  win over the checkpoint's). Refused before a file is written: a workdir
  that cannot be written or has no room for the checkpoints. A damaged
  checkpoint is moved aside and the one before it used
  (experiments/storage/checkpoints.py); metrics logged after the restored
  step are dropped."""
  if primary:
    checkpoints.check_room(workdir, state, config.train.keep_checkpoints)
    os.makedirs(workdir, exist_ok=True)
    writers.write_json(os.path.join(workdir, 'config.json'), config.to_dict())
  ckpt = checkpoints.Checkpointer(workdir, config.train.keep_checkpoints)
  if ckpt.latest_step() is not None:
    restored = ckpt.restore(state, warn=print, refreshed=('.hparams',))
    state = with_numbers_of(restored, state)
  if primary:
    writers.truncate_metrics(workdir, int(state.step))
  writer = writers.MetricWriter(workdir) if primary else writers.NoWriter()
  return state, ckpt, writer


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
  # On the mesh once, not copied there at every dispatch.
  train_rng = jax.device_put(train_rng, layout.replicated)
  batch_shape = (config.objective.n_critic, config.train.batch_size)
  train_input = inputs.make_input(config, dataset, batch_shape, layout)
  evaluator = evaluators.make_evaluator(
      config,
      spec,
      dataset,
      eval_rng,
      announce=lambda line: primary and print(line, file=sys.stderr),
  )
  check_contract(config, spec, hparams)
  state = jax.device_put(
      gan_state.compiled_init(spec)(init_rng, hparams), layout.replicated
  )

  # --- Outputs, resume ------------------------------------------------------
  state, ckpt, writer = open_workdir(
      workdir, config, state, gan_state.with_numbers_of, primary
  )
  step = int(state.step)

  # --- The compiled loop, and what the shared loop (loop.py) calls --------
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
        train_input.data_spec,
    )

  bar = tqdm(
      total=config.train.steps,
      initial=step,
      disable=not (progress and primary),
      unit='step',
      dynamic_ncols=True,
      desc=f'{config.variant}/{config.dataset}',
  )
  cadence = loop.Cadence.of(config)
  devices = f'{mesh.size} x {jax.devices()[0].platform}'
  executables = {}  # Steps per call -> the loop compiled ahead of time.
  profiler = profiling.StepProfiler(
      os.path.join(workdir, 'profile'),
      step + config.train.log_every - step % config.train.log_every,
      config.train.profile_steps if primary else 0,
  )

  def dispatch(state, first_step: int, num_steps: int):
    data = train_input.data(first_step, num_steps)
    if num_steps not in executables:
      executables[num_steps] = (
          compiled_loop(num_steps).lower(state, train_rng, data).compile()
      )
      if len(executables) == 1 and primary:
        bar.write(
            profiling.start_line(
                config,
                devices,
                route,
                cadence.per_dispatch,
                executables[num_steps],
            )
        )
    profiler.before(first_step)
    state, outputs = executables[num_steps](state, train_rng, data)
    profiler.after(outputs, first_step + num_steps)
    return state, (outputs, num_steps)

  def end_interval(state, outputs, first_step: int, interval_started):
    """One transfer of the interval's metrics [steps done]; stops the run
    on a NaN or infinity; logs means and the rate."""
    num_steps = sum(count for _, count in outputs)
    metrics, finite, counted = jax.device_get(
        (
            jax.tree.map(
                lambda *m: jnp.concatenate(m), *(m for m, _ in outputs)
            ),
            _params_finite(state),
            state.step,
        )
    )
    loop.check_step_count(config, int(counted), first_step + num_steps)
    bad = loop.divergence(metrics, finite, first_step + 1)
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
    means = {k: float(np.mean(v)) for k, v in metrics.items()}
    means['steps_per_second'] = num_steps / (time.time() - interval_started)
    writer.write(first_step + num_steps, 'train', means)
    bar.set_postfix(postfix(means), refresh=False)
    bar.update(num_steps)
    return num_steps

  final_eval: Dict[str, float] = {}  # The latest evaluation.

  def evaluate(state, step: int, final: bool) -> Dict[str, float]:
    del final  # A run draws its samples' picture at every evaluation.
    nonlocal final_eval
    final_eval = evaluator.evaluate(
        state, step, workdir, writer, picture=primary
    )
    writer.write(step, 'eval', final_eval)
    if primary:
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
    writers.close_all(
        profiler.close, bar.close, writer.close, ckpt.close, train_input.close
    )

  elapsed = time.time() - run_started
  summary = {
      **outcome,
      'variant': config.variant,
      'algorithm': config.train.algorithm,
      'dataset': config.dataset,
      'seed': config.seed,
      'step': step,
      'workdir': os.path.abspath(workdir),
      'wall_seconds': time.time() - started,
      'steps_per_second': (step - run_start_step) / max(elapsed, 1e-9),
      'final_eval': final_eval,
      'eval_protocol': evaluators.eval_protocol(evaluator, config),
      'input': train_input.description,
      'devices': devices,
      'formulation': gan_config.formulation(config),
      'compute_dtype': config.train.compute_dtype,
      'processes': jax.process_count(),
      'parallel': route,
      'config': config.to_dict(),
  }
  if primary:
    writers.write_json(os.path.join(workdir, 'summary.json'), summary)
  return summary
