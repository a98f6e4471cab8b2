"""The training loop that a run and a sweep group share.

Training goes in *intervals* that end on multiples of ``train.log_every``
(the last one ends at ``train.steps``; a run stopped by a signal resumes
between two). An interval is one or more *dispatches* of the jitted loop,
``steps_per_dispatch`` steps each. After every interval the caller's
``end_interval`` copies the interval's metrics to the host once, checks
them for divergence and logs them; then a stop request is honoured (save,
return), then evaluation and checkpointing run on their cadences.

What differs between a run (experiments.runner.train) and a sweep group
(experiments.sweeps.training) is what they hand in as :class:`Hooks`: a
single state or a stacked one with a run axis, stopping on divergence or
freezing the diverged runs, one writer or one per run.
"""

import dataclasses
import time
from typing import Any, Callable, Dict, List, Mapping, Optional

import jax
import numpy as np

from experiments.runner import preemption
from gan_jax import config as gan_config
from gan_jax.models import IMAGE_MODELS


@dataclasses.dataclass(frozen=True)
class Cadence:
  """When the loop logs, evaluates and checkpoints (in train steps)."""

  total: int
  log_every: int
  eval_every: int
  checkpoint_every: int
  per_dispatch: int

  @classmethod
  def of(cls, config) -> 'Cadence':
    return cls(
        total=config.train.steps,
        log_every=config.train.log_every,
        eval_every=config.train.eval_every,
        checkpoint_every=config.train.checkpoint_every,
        per_dispatch=steps_per_dispatch(config, jax.devices()[0].platform),
    )


@dataclasses.dataclass(frozen=True)
class Hooks:
  """What the loop calls; ``state`` is whatever the caller trains.

  dispatch(state, first_step, num_steps) -> (state, outputs): one jitted
    call of ``num_steps`` train steps (device values, not read back).
  end_interval(state, outputs, first_step, started) -> steps done: the
    interval's dispatch outputs, in order, from ``first_step``; reads them
    back, checks them (raising to stop the loop), logs. ``started`` is the
    interval's ``time.time()`` at its start, for a rate.
  evaluate(state, step, final) -> results: ``final`` at the last step.
  save(state, step): a checkpoint.
  """

  dispatch: Callable[[Any, int, int], Any]
  end_interval: Callable[[Any, List[Any], int, float], int]
  evaluate: Callable[[Any, int, bool], Any]
  save: Callable[[Any, int], None]


@dataclasses.dataclass
class Outcome:
  state: Any
  step: int
  last_eval: Any  # The last evaluate() result; None if none ran.
  interrupted_by: Optional[str]  # 'SIGTERM' or 'SIGINT', or None.


def train(
    state,
    step: int,
    cadence: Cadence,
    hooks: Hooks,
    stop: Optional[preemption.StopRequest],
    logged_eval_step: Optional[int] = None,
) -> Outcome:
  """Trains from ``step`` to ``cadence.total``; see the module docstring.

  An interrupted loop has saved at the step reached and returns without a
  final evaluation; a completed one has evaluated at its last step (again,
  if it was already there). A loop resumed at a step of the evaluation
  cadence that its log has no evaluation of (``logged_eval_step``, the
  last one logged: a stop is honoured before evaluating) evaluates there
  first, as a run never stopped did.
  """
  several_hosts = jax.process_count() > 1
  last_eval = None
  if (
      0 < step < cadence.total
      and step % cadence.eval_every == 0
      and logged_eval_step != step
  ):
    last_eval = hooks.evaluate(state, step, False)
  while step < cadence.total:
    num_steps = min(
        cadence.log_every - step % cadence.log_every, cadence.total - step
    )
    started, outputs = time.time(), []
    # Dispatches only: an implicit transfer here (a host array passed in, a
    # value read back) would be an error, not a silent per-step sync.
    with jax.transfer_guard('disallow'):
      for start in range(step, step + num_steps, cadence.per_dispatch):
        count = min(cadence.per_dispatch, step + num_steps - start)
        state, out = hooks.dispatch(state, start, count)
        outputs.append(out)
        if stop and not several_hosts and stop.signal_name():
          break  # Hosts agree on stopping once per interval (below).
    step += hooks.end_interval(state, outputs, step, started)

    interrupted_by = stop.agreed() if stop else None
    if interrupted_by:
      hooks.save(state, step)
      return Outcome(state, step, last_eval, interrupted_by)
    last = step == cadence.total
    if step % cadence.eval_every == 0 or last:
      last_eval = hooks.evaluate(state, step, last)
    if step % cadence.checkpoint_every == 0 or last:
      hooks.save(state, step)
  if last_eval is None:  # Trained already: evaluate for the summary.
    last_eval = hooks.evaluate(state, step, True)
  return Outcome(state, step, last_eval, None)


class Diverged(RuntimeError):
  """Training produced a NaN or infinity in the interval after ``step``
  (raised by a run's ``end_interval`` hook)."""

  def __init__(self, reason: str, step: int):
    super().__init__(reason)
    self.step = step


def train_to_outcome(
    state,
    step: int,
    cadence: Cadence,
    hooks: Hooks,
    stop: Optional[preemption.StopRequest],
    say: Callable[[str], None],
    logged_eval_step: Optional[int] = None,
):
  """:func:`train`, its end as a run's summary.json reports it: ({'status':
  'completed', 'interrupted' or 'diverged', and 'reason', the line said
  (and 'interrupted_by', the signal's name)}, the step reached); an
  interruption or a divergence is said in a line."""
  try:
    outcome = train(state, step, cadence, hooks, stop, logged_eval_step)
  except Diverged as error:
    say(str(error))
    return {'status': 'diverged', 'reason': str(error)}, error.step
  if outcome.interrupted_by:
    reason = (
        f'{outcome.interrupted_by} at step {outcome.step}: checkpoint saved; '
        'run the same command to resume'
    )
    say(reason)
    return {
        'status': 'interrupted',
        'reason': reason,
        'interrupted_by': outcome.interrupted_by,
    }, outcome.step
  return {'status': 'completed'}, outcome.step


def check_step_count(algorithm: str, counted: int, expected: int) -> None:
  """Raises ConfigError (one line) when a train step did not count itself:
  the keys, schedules and resumes hang on ``state.step`` (the contract,
  gan_jax.contract). ``algorithm`` names the steps (``train.algorithm='x'``)."""
  if counted != expected:
    raise gan_config.ConfigError(
        f'{algorithm}: its train_step left state.step at {counted} after '
        f'step {expected}; count each step (gan_jax.steps.finish_step)'
    )


def divergence(
    metrics: Dict[str, np.ndarray],
    params_finite: Mapping[str, bool],
    first_step: int,
) -> Optional[str]:
  """What went non-finite in an interval, or None.

  ``metrics`` are the interval's per-step values ([num_steps] each, the
  first for train step ``first_step``) and ``params_finite`` each
  network's flag at its end (``{'G': True, 'D': False}``). Names the first
  step and every quantity bad there.
  """
  bad = {k: ~np.isfinite(v) for k, v in metrics.items()}
  steps_bad = np.any(np.stack(list(bad.values()) or [np.zeros(1, bool)]), 0)
  if steps_bad.any():
    i = int(np.argmax(steps_bad))
    names = ', '.join(sorted(k for k, b in bad.items() if b[i]))
    return f'{names} not finite at step {first_step + i}'
  sides = [name for name, ok in params_finite.items() if not ok]
  if sides:
    return (
        f'{" and ".join(sides)} parameters not finite at step '
        f'{first_step + len(steps_bad) - 1}'
    )
  return None


def run_keys(seed: int):
  """A run's (init, train, eval) keys; a sweep derives them the same way,
  so a sweep's run and the single run agree."""
  return jax.random.split(jax.random.PRNGKey(seed), 3)


def steps_per_dispatch(config, platform: str) -> int:
  """Train steps per jitted call: ``train.steps_per_dispatch``, else one
  interval, except for the convolutional (image) models in the CPU
  formulation (one)."""
  if config.train.steps_per_dispatch:
    return config.train.steps_per_dispatch
  if (
      gan_config.formulation(config, platform) == 'cpu'
      and config.model.name in IMAGE_MODELS
  ):
    return 1  # XLA:CPU convolutions in loop bodies: jax-ml/jax#12868.
  return config.train.log_every


def unroll_loops(config) -> bool:
  """Whether the steps unroll their loops (gan_jax.steps.make_steps):
  convolutional models in the CPU formulation, for the reason above."""
  return (
      gan_config.formulation(config) == 'cpu'
      and config.model.name in IMAGE_MODELS
  )
