"""Trains one group of a sweep as one vmapped program.

Each run of the group is the same computation as ``experiments.run`` with
its config: its params come from ``split(PRNGKey(seed), 3)[0]``, its train
stream from ``[1]`` and its evaluations from ``[2]``, and it trains in the
same loop (experiments.runner.loop), so a sweep's run and the single run
agree to float rounding. The run axis is split over the devices (``runs``
mesh axis); padding runs fill it up to a multiple of the device count and
are dropped. With several hosts (experiments.runner.launch) the runs spread
over every host's devices, every host evaluates every run, and process 0
alone writes files (checkpoints are written by all, through orbax).

On disk, under the sweep directory:

* ``groups/NAME/checkpoints``: the stacked state, which runs are alive and
  the group's step, every ``train.checkpoint_every`` steps;
* ``groups/NAME/divergence.json``: why each diverged run stopped, as the
  runner says it (``experiments.runner.loop.divergence``);
* ``runs/RUN/``: what experiments.run writes for a run (config.json,
  metrics.jsonl, TensorBoard, summary.json) and its final samples.
"""

import functools
import dataclasses
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from jax.experimental import multihost_utils

from experiments.runner import evaluators, inputs, loop, preemption
from experiments.storage import checkpoints, history, writers
from experiments.sweeps.spec import Run
from gan_jax import batched, config as gan_config, state as gan_state
from gan_jax import steps as gan_steps

RUNS_AXIS = 'runs'
FINISHED = ('completed', 'diverged')


def read_summary(run_dir: str):
  """A run's summary.json, or None if it has not finished (one line if it
  cannot be read: experiments.storage.history)."""
  return history.read_summary(run_dir)


def _pad(items: Sequence[Any], multiple: int) -> List[Any]:
  """``items`` with copies of the first appended up to a multiple."""
  items = list(items)
  return items + [items[0]] * (-len(items) % multiple)


def _saved(
    states, alive, diverged_at, wall_seconds, replicated
) -> Dict[str, Any]:
  """What a group checkpoint holds (as global arrays: orbax saves no
  host-local ones on many hosts)."""
  if jax.process_count() > 1:  # Hosts' clocks differ: process 0's time.
    wall_seconds = multihost_utils.broadcast_one_to_all(
        np.float32(wall_seconds)
    )
  return {
      'states': states,
      'alive': alive,
      'diverged_at': jax.device_put(diverged_at, replicated),
      'wall_seconds': jax.device_put(
          jnp.asarray(wall_seconds, jnp.float32), replicated
      ),
  }


def _reason(
    run_metrics: Dict[str, np.ndarray], first_step: int, num_steps: int
) -> str:
  """Why a run was frozen, in the runner's words; its per-step metrics of
  the interval start at ``first_step``. With every metric finite, the
  group's parameter check stopped it (at the interval's end)."""
  return (
      loop.divergence(run_metrics, {}, first_step)
      or f'parameters not finite at step {first_step + num_steps - 1}'
  ) + f'; frozen at step {first_step}'


def _read_reasons(
    group_dir: str, runs: Sequence[Run], diverged_at: Dict[int, int]
) -> Dict[str, str]:
  """The reasons of the runs the restored checkpoint marks diverged (a
  reason written after that checkpoint belongs to a run that will train
  again, and diverge again, from it)."""
  path = os.path.join(group_dir, 'divergence.json')
  saved = {}
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
  return {
      runs[i].name: saved.get(runs[i].name, f'not finite after step {at}')
      for i, at in diverged_at.items()
  }


def _to_host(tree):
  """A pytree of (possibly run-sharded) arrays as NumPy on every host."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


@dataclasses.dataclass
class Group:
  """What a trainer hands the group driver for the runs of one group
  (padded to a multiple of the devices; the driver drops the padding).

  Attributes:
    states: the runs' initial states, stacked on a leading run axis.
    train_rngs: their train keys, stacked.
    train_loop: one run's ``train_loop(state, rng, data, sample_batch,
      num_steps)``; the driver vmaps it over the runs.
    train_input: the data every run samples from (a batch belongs to one
      run: replicated inside the vmapped step).
    params_of: ``state -> params`` that must stay finite.
    with_numbers_of: ``(restored, fresh) -> states`` (the configs'
      numbers win over the checkpoint's, as in experiments.run).
    cadence: the loop's cadence (the group's runs share it).
    algorithm: what a step-count mismatch names.
    evaluate: ``(i, state, step, run_dir, writer, final) -> metrics`` of
      run ``i`` (a picture when ``final``, on the primary process).
    report: ``(i, final_eval) -> {field: value}``: run ``i``'s summary
      fields of this trainer.
  """

  states: Any
  train_rngs: Any
  train_loop: Callable[..., Any]
  train_input: inputs.Input
  params_of: Callable[[Any], Any]
  with_numbers_of: Callable[[Any, Any], Any]
  cadence: loop.Cadence
  algorithm: str
  evaluate: Callable[..., Dict[str, float]]
  report: Callable[[int, Dict[str, float]], Dict[str, Any]]


def group_devices(count: int, spread: bool = True) -> List[Any]:
  """The devices a group of ``count`` runs is split over: one per run up
  to the device count (``spread``), else the first."""
  # A mesh must hold devices of every host: on many hosts, all devices.
  if jax.process_count() > 1:
    return jax.devices()
  return (
      jax.devices()[: max(1, min(jax.device_count(), count))]
      if spread
      else (jax.devices()[:1])
  )


def train_group(
    runs: Sequence[Any],
    build: Callable[[Sequence[Any], Mesh], Group],
    group_dir: str,
    runs_dir: str,
    advance: Callable[[int], None] = lambda n: None,
    stop: Optional[preemption.StopRequest] = None,
    spread: bool = True,
) -> List[Dict[str, Any]]:
  """Trains (or resumes) ``runs`` together; returns their summaries.

  ``runs`` have ``name``, ``seed`` and ``config``; ``build(padded_runs,
  mesh)`` makes their :class:`Group`. ``advance(n)`` is called with the
  number of run-steps restored from a checkpoint and then done after each
  interval (for the sweep's progress bar). Raises nothing for a run that
  diverges: it is frozen at its last finite state and reported 'diverged'.
  When ``stop`` has received a signal, saves the group's checkpoint at the
  step reached and raises preemption.Interrupted.
  """
  started = time.time()
  config = runs[0].config
  count = len(runs)
  primary = jax.process_index() == 0
  devices = group_devices(count, spread)
  mesh = Mesh(np.array(devices), (RUNS_AXIS,))
  by_run = NamedSharding(mesh, P(RUNS_AXIS))
  replicated = NamedSharding(mesh, P())
  padded_runs = _pad(runs, len(devices))
  group = build(padded_runs, mesh)
  states = jax.device_put(group.states, by_run)
  train_rngs = jax.device_put(group.train_rngs, by_run)
  alive = jax.device_put(jnp.arange(len(padded_runs)) < count, by_run)
  train_input = group.train_input

  # --- Resume -------------------------------------------------------------
  if primary:  # Refused in one line before the group trains.
    # The states' sizes (not _saved's tree: building it is a collective).
    checkpoints.check_room(
        group_dir, (states, alive), config.train.keep_checkpoints
    )
  ckpt = checkpoints.Checkpointer(group_dir, config.train.keep_checkpoints)
  ckpt.refuse_fresh_start(group_dir)
  # Per run: the step it diverged at (its frozen state's), or -1.
  diverged = jax.device_put(
      jnp.full(len(padded_runs), -1, jnp.int32), replicated
  )
  step, earlier_seconds = 0, 0.0
  if ckpt.latest_step() is not None:
    restored = ckpt.restore(
        _saved(states, alive, diverged, 0.0, replicated),
        warn=print,
        refreshed=("['states'].hparams",),
    )
    states = group.with_numbers_of(restored['states'], states)
    alive, diverged = restored['alive'], restored['diverged_at']
    # The step restored: the damaged steps after it were moved aside.
    restored_step = ckpt.latest_step()
    if restored_step is None:
      raise checkpoints.CheckpointError(
          f'{group_dir}: no checkpoint left after a restore'
      )
    step = int(restored_step)
    earlier_seconds = float(restored['wall_seconds'])
    advance(step * count)  # The progress bar counts the restored steps.
  run_dirs = [os.path.join(runs_dir, run.name) for run in runs]
  metric_writers: List[Union[writers.MetricWriter, writers.NoWriter]] = []
  for run, run_dir in zip(runs, run_dirs):
    if not primary:
      metric_writers.append(writers.NoWriter())
      continue
    if step and not os.path.isdir(run_dir):
      print(
          f'note: {run_dir} is gone; the group resumes at step {step}, so '
          'its records before that step are not in the new one'
      )
    os.makedirs(run_dir, exist_ok=True)
    history.keep_config(run_dir, run.config, step)
    writers.rewind_metrics(run_dir, step)
    metric_writers.append(writers.MetricWriter(run_dir))
  diverged_at = {
      i: int(at) for i, at in enumerate(_to_host(diverged)[:count]) if at >= 0
  }
  reasons = _read_reasons(group_dir, runs, diverged_at)

  # --- The compiled loop, and what the shared loop (runner/loop.py) calls --
  # The loop's state is the stacked states and which runs are alive.
  @functools.lru_cache(maxsize=None)
  def compiled_loop(num_steps: int):
    return batched.make_group_loop(
        group.train_loop,
        train_input.sample_batch,
        num_steps,
        runs_axis=RUNS_AXIS,
        params_of=group.params_of,
    )

  def dispatch(trained, first_step: int, num_steps: int):
    states, alive = trained
    states, metrics, alive = compiled_loop(num_steps)(
        states, train_rngs, train_input.data(first_step, num_steps), alive
    )
    return (states, alive), (metrics, num_steps)

  def end_interval(trained, outputs, first_step: int, interval_started):
    """One transfer; freezes the runs that went non-finite (their reason
    in divergence.json), logs the others' means."""
    del interval_started  # A group logs no rate per run.
    # Means on the host: no small programs to compile.
    num_steps = sum(count for _, count in outputs)
    metrics, now_alive, counted = _to_host(
        ([m for m, _ in outputs], trained[1], trained[0].step)
    )
    for i in range(count):
      if now_alive[i]:
        loop.check_step_count(
            group.algorithm, int(counted[i]), first_step + num_steps
        )
    per_step = {
        k: np.concatenate([m[k] for m in metrics], axis=1) for k in metrics[0]
    }
    means = {k: v.mean(1) for k, v in per_step.items()}
    for i in range(count):
      if i in diverged_at:
        continue
      if not now_alive[i]:
        diverged_at[i] = first_step  # Frozen at the state before.
        reasons[runs[i].name] = _reason(
            {k: v[i] for k, v in per_step.items()}, first_step, num_steps
        )
        if primary:
          writers.write_json(
              os.path.join(group_dir, 'divergence.json'), reasons
          )
        continue
      metric_writers[i].write(
          first_step + num_steps,
          'train',
          {k: float(v[i]) for k, v in means.items()},
      )
    advance(num_steps * count)
    return num_steps

  def evaluate(trained, step: int, final: bool) -> List[Dict[str, float]]:
    # One copy to the host, then plain slices: slicing a run out of the
    # device-sharded state would be a collective per leaf, and many small
    # collective programs in flight can deadlock XLA:CPU's rendezvous.
    on_host = _to_host(trained[0])
    results: List[Dict[str, float]] = []
    for i in range(count):
      if i in diverged_at:
        results.append({})
        continue
      results.append(
          group.evaluate(
              i,
              batched.unstack(on_host, i),
              step,
              run_dirs[i],
              metric_writers[i],
              final and primary,
          )
      )
      metric_writers[i].write(step, 'eval', results[-1])
    return results

  def save(trained, step: int):
    diverged = jnp.asarray(
        [diverged_at.get(i, -1) for i in range(len(padded_runs))], jnp.int32
    )
    ckpt.save(
        step,
        _saved(
            trained[0],
            trained[1],
            diverged,
            earlier_seconds + time.time() - started,
            replicated,
        ),
    )

  hooks = loop.Hooks(
      dispatch=dispatch, end_interval=end_interval, evaluate=evaluate, save=save
  )
  train_started, start_step = time.time(), step
  try:
    outcome = loop.train(
        (states, alive),
        step,
        group.cadence,
        hooks,
        stop,
        # The group's runs evaluate together: the first live run's log.
        history.logged_eval_step(
            run_dirs[min(set(range(count)) - set(diverged_at), default=0)],
            step,
        ),
    )
  finally:
    writers.close_all(
        *(w.close for w in metric_writers), ckpt.close, train_input.close
    )
  step, final_eval = outcome.step, outcome.last_eval
  if outcome.interrupted_by:
    raise preemption.Interrupted(outcome.interrupted_by, step)

  elapsed = earlier_seconds + time.time() - started
  trained = time.time() - train_started
  summaries = []
  for i, (run, run_dir) in enumerate(zip(runs, run_dirs)):
    summary = {
        'status': 'diverged' if i in diverged_at else 'completed',
        **({'reason': reasons[run.name]} if i in diverged_at else {}),
        **group.report(i, final_eval[i]),
        'seed': run.seed,
        'step': diverged_at.get(i, step),
        'workdir': os.path.abspath(run_dir),
        # A group's runs share their time: each is given its share.
        'wall_seconds': elapsed / count,
        'group_wall_seconds': elapsed,
        'group_size': count,
        'steps_per_second': (step - start_step) / max(trained, 1e-9),
        'final_eval': final_eval[i],
        'input': train_input.description,
        'devices': f'{len(devices)} x {jax.devices()[0].platform}',
        'processes': jax.process_count(),
        'config': run.config.to_dict(),
    }
    if primary:
      writers.write_json(os.path.join(run_dir, 'summary.json'), summary)
    summaries.append(summary)
  return summaries


def gan_group(runs: Sequence[Run], mesh: Mesh) -> Group:
  """The :class:`Group` of a GAN sweep's runs (experiments.sweeps.spec):
  each run the computation experiments.run makes for its config."""
  config = runs[0].config
  spec, _, dataset = gan_config.build(config)
  steps = gan_steps.make_steps(spec, unroll=loop.unroll_loops(config))
  keys = [loop.run_keys(run.seed) for run in runs]
  states = batched.init_group(
      [gan_config.build(run.config)[0] for run in runs],
      jnp.stack([key[0] for key in keys]),
      [gan_config.hparams_from_config(run.config) for run in runs],
  )
  batch_shape = (config.objective.n_critic, config.train.batch_size)
  # Inside the vmapped step a batch belongs to one run: replicated there;
  # spmd_axis_name adds the run axis back.
  train_input = inputs.make_input(
      config, dataset, batch_shape, inputs.Layout(mesh, shard_batch=False)
  )

  def announce(line: str) -> None:
    if jax.process_index() == 0:
      print(line, file=sys.stderr)

  evaluator = evaluators.make_evaluator(
      config, spec, dataset, keys[0][2], announce=announce
  )

  def evaluate(i, state, step, run_dir, writer, picture):
    return evaluator.evaluate(
        state, step, run_dir, writer, rng=keys[i][2], picture=picture
    )

  def report(i, final_eval):
    del final_eval
    run = runs[i]
    return {
        'variant': run.variant,
        'algorithm': run.config.train.algorithm,
        'dataset': run.config.dataset,
        'eval_protocol': evaluators.eval_protocol(evaluator, run.config),
        'swept': dict(run.point),
    }

  return Group(
      states=states,
      train_rngs=jnp.stack([key[1] for key in keys]),
      train_loop=steps.train_loop,
      train_input=train_input,
      params_of=lambda state: (state.g.params, state.d.params),
      with_numbers_of=gan_state.with_numbers_of,
      cadence=loop.Cadence.of(config),
      algorithm=f'train.algorithm={config.train.algorithm!r}',
      evaluate=evaluate,
      report=report,
  )
