"""One run of any trainer, start to finish: the workdir, resume, the compiled
loop, logs, evaluation, checkpoints and the summary. A trainer (a GAN's,
experiments.runner.train; CycleGAN's, experiments.translation.train) builds
a :class:`Task` -- its state, step loop, input and evaluation -- and
:func:`run` does the rest the same way for all of them.

Faults: a NaN or infinity ends the run within its log interval with status
'diverged' (naming the step and the quantities), its last checkpoint
intact. SIGTERM or Ctrl-C (experiments.runner.preemption) saves a
checkpoint at the step reached and ends with status 'interrupted'.
"""

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from tqdm import tqdm

from experiments.runner import inputs, loop, preemption, profiling
from experiments.storage import checkpoints, history, writers
from gan_jax import parallel


@dataclasses.dataclass
class Task:
  """What a trainer hands the driver.

  Attributes:
    label: names the run on its progress bar (``wgan_gp/grid25``).
    algorithm: what a step-count mismatch names (``train.algorithm='x'``).
    state: the fresh state, replicated on ``mesh``.
    with_numbers_of: ``(restored, fresh) -> state``: a checkpoint's state
      with the config's numbers (hyperparameters, learning rates).
    train_loop: ``(state, rng, data, sample_batch, num_steps) -> (state,
      metrics [num_steps])``, built for ``route``'s ``axis_name``.
    train_input: the data and its sampler (experiments.runner.inputs).
    train_rng: the run's train key.
    route, mesh: how the batch is spread (gan_jax.parallel).
    cadence: when to log, evaluate and checkpoint, and steps per dispatch.
    params_finite: ``state -> {network: bool}``, jitted.
    evaluate: ``(state, step, writer) -> {metric: value}``: evaluates (and
      draws its pictures, on the primary process).
    postfix: ``means -> {name: text}`` for the progress bar.
    report: ``final_eval -> {field: value}``: the summary's fields of this
      trainer (what it trained, the evaluation protocol).
    describe: ``(compiled loop) -> line`` said once training starts
      (devices, formulation, memory); None: nothing said.
  """

  label: str
  algorithm: str
  state: Any
  with_numbers_of: Callable[[Any, Any], Any]
  train_loop: Callable[..., Any]
  train_input: inputs.Input
  train_rng: jax.Array
  route: str
  mesh: Any
  cadence: loop.Cadence
  params_finite: Callable[[Any], Dict[str, jax.Array]]
  evaluate: Callable[[Any, int, Any], Dict[str, float]]
  postfix: Callable[[Dict[str, float]], Dict[str, str]]
  report: Callable[[Dict[str, float]], Dict[str, Any]]
  describe: Optional[Callable[[Any], str]] = None


def all_finite(tree) -> jax.Array:
  """Whether every leaf of ``tree`` is finite everywhere (for a trainer's
  ``params_finite``)."""
  return jnp.all(
      jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)])
  )


def postfix(means: Dict[str, float]) -> Dict[str, str]:
  """The progress bar's numbers: D's and G's losses, or, for an algorithm
  whose metrics are named otherwise, its first two."""
  shown = [k for k in ('d_loss', 'g_loss') if k in means] or [
      k for k in sorted(means) if k != 'steps_per_second'
  ][:2]
  return {k.removesuffix('_loss') or k: f'{means[k]:.3f}' for k in shown}


def open_workdir(workdir: str, config, state, with_numbers_of, primary: bool):
  """(state, checkpointer) of a run in ``workdir``: the fresh ``state``, or
  the last checkpoint's with the config's numbers (``with_numbers_of(
  restored, fresh)``: scalars, learning rates, betas win over the
  checkpoint's). Writes nothing but what a restore sets aside: a damaged
  checkpoint is moved to damaged_checkpoints/ and the one before it used
  (experiments/storage/checkpoints.py). Refused in one line
  (CheckpointError), before anything is written: a workdir that cannot be
  written or has no room for the checkpoints; a checkpoint this config's
  state cannot hold (another shape: another --workdir); a workdir whose
  checkpoints were all set aside as damaged (starting afresh there would
  bury its history)."""
  if primary:
    checkpoints.check_room(workdir, state, config.train.keep_checkpoints)
  ckpt = checkpoints.Checkpointer(workdir, config.train.keep_checkpoints)
  say = print if primary else lambda line: None
  try:
    if ckpt.latest_step() is not None:
      restored = ckpt.restore(state, warn=say, refreshed=('.hparams',))
      state = with_numbers_of(restored, state)
    else:
      ckpt.refuse_fresh_start(workdir)
  except BaseException:
    ckpt.close()
    raise
  return state, ckpt


def run(
    task: Task,
    config,
    workdir: str,
    progress: bool,
    stop: preemption.StopRequest,
    started: float,
) -> Dict[str, Any]:
  """Trains ``task`` in ``workdir`` (resuming from its last checkpoint),
  evaluates and checkpoints on the config's cadence, and writes
  summary.json; returns the summary. ``started``: when the trainer began
  (building its task counts in the run's wall time)."""
  primary = jax.process_index() == 0
  state, ckpt = open_workdir(
      workdir, config, task.state, task.with_numbers_of, primary
  )
  step = int(state.step)
  cadence = task.cadence
  train_input = task.train_input
  try:
    done = (
        history.finished_summary(workdir, step, cadence.total)
        if primary
        else None
    )
    finished = done is not None
    if jax.process_count() > 1:  # Process 0's files decide for every host.
      finished = bool(multihost_utils.broadcast_one_to_all(np.array(finished)))
    if finished:
      writers.close_all(ckpt.close, train_input.close)
      if primary:
        print(
            f'note: {workdir} finished at step {step} already; nothing was '
            'trained or written (its summary.json follows)'
        )
      return done or {'status': 'completed', 'step': step}
    if primary:
      if step:
        print(f'resumed {workdir} from its checkpoint of step {step}')
      history.keep_config(workdir, config, step)
      history.keep_summary(workdir)
      writers.rewind_metrics(workdir, step)
    writer = writers.MetricWriter(workdir) if primary else writers.NoWriter()
  except BaseException:
    writers.close_all(ckpt.close, train_input.close)
    raise

  @functools.lru_cache(maxsize=None)
  def compiled_loop(num_steps: int):
    return parallel.parallel_loop(
        functools.partial(
            task.train_loop,
            sample_batch=train_input.sample_batch,
            num_steps=num_steps,
        ),
        task.route,
        task.mesh,
        train_input.data_spec,
    )

  bar = tqdm(
      total=cadence.total,
      initial=step,
      disable=not (progress and primary),
      unit='step',
      dynamic_ncols=True,
      desc=task.label,
  )
  executables: Dict[int, Any] = {}  # Steps per call -> compiled loop.
  profiler = profiling.StepProfiler(
      os.path.join(workdir, 'profile'),
      step + cadence.log_every - step % cadence.log_every,
      config.train.get('profile_steps', 0) if primary else 0,
  )

  def dispatch(state, first_step: int, num_steps: int):
    data = train_input.data(first_step, num_steps)
    if num_steps not in executables:
      executables[num_steps] = (
          compiled_loop(num_steps).lower(state, task.train_rng, data).compile()
      )
      if len(executables) == 1 and primary and task.describe:
        bar.write(task.describe(executables[num_steps]))
    profiler.before(first_step)
    state, outputs = executables[num_steps](state, task.train_rng, data)
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
            task.params_finite(state),
            state.step,
        )
    )
    loop.check_step_count(task.algorithm, int(counted), first_step + num_steps)
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
    bar.set_postfix(task.postfix(means), refresh=False)
    bar.update(num_steps)
    return num_steps

  # The latest evaluation and its step; a resumed run's from its log
  # until it evaluates again.
  final_eval_step, final_eval = history.last_evaluation(workdir, step)
  # Whether to evaluate is decided alike on every host: process 0's log.
  logged_eval_step = history.logged_eval_step(workdir, step)
  resumed_eval_step = logged_eval_step  # For the loop: see loop.train.

  def evaluate(state, step: int, final: bool) -> Dict[str, float]:
    del final  # A run draws its pictures at every evaluation.
    nonlocal final_eval, final_eval_step, logged_eval_step
    if step == logged_eval_step:
      # Evaluated and logged at this step before a crash (after its last
      # checkpoint, before summary.json): not logged twice.
      logged_eval_step = None
      return final_eval
    final_eval, final_eval_step = task.evaluate(state, step, writer), step
    writer.write(step, 'eval', final_eval)
    if primary and final_eval:  # Empty without feature metrics (a folder).
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
        state, step, cadence, hooks, stop, bar.write, resumed_eval_step
    )
  finally:
    writers.close_all(
        profiler.close, bar.close, writer.close, ckpt.close, train_input.close
    )

  elapsed = time.time() - run_started
  summary = {
      **outcome,
      **task.report(final_eval),
      'step': step,
      'workdir': os.path.abspath(workdir),
      'wall_seconds': time.time() - started,
      'steps_per_second': (step - run_start_step) / max(elapsed, 1e-9),
      'final_eval': final_eval,
      'final_eval_step': final_eval_step,
      'input': train_input.description,
      'devices': f'{task.mesh.size} x {jax.devices()[0].platform}',
      'processes': jax.process_count(),
      'parallel': task.route,
      'config': config.to_dict(),
  }
  if primary:
    writers.write_json(os.path.join(workdir, 'summary.json'), summary)
  return summary
