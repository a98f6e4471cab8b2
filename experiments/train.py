"""One experiment, start to finish: ``train_and_evaluate(config, workdir)``.

Sections: devices, model and state, resume, the jitted loop, evaluation,
checkpoints and logs. The step functions themselves live in gan_jax.steps;
this file is plumbing around them.
"""

import functools
import os
import time
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax import config as gan_config, parallel
from gan_jax import state as gan_state, steps as gan_steps
from experiments import checkpoints, evaluators, inputs, preemption, writers


class Diverged(RuntimeError):
  """Training produced a NaN or infinity."""


@jax.jit
def _params_finite(state) -> jax.Array:
  """Whether every parameter of G and D is finite (one bool per side)."""
  def finite(tree):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf))
                              for leaf in jax.tree.leaves(tree)]))
  return jnp.stack([finite(state.g.params), finite(state.d.params)])


def divergence(metrics: Dict[str, np.ndarray], params_finite, first_step: int
               ) -> Optional[str]:
  """What went non-finite in an interval, or None.

  ``metrics`` are the interval's per-step values ([num_steps] each, the
  first for train step ``first_step``) and ``params_finite`` G's and D's
  flags at its end. Names the first step and every quantity bad there.
  """
  bad = {k: ~np.isfinite(v) for k, v in metrics.items()}
  steps_bad = np.any(np.stack(list(bad.values())), axis=0)
  if steps_bad.any():
    i = int(np.argmax(steps_bad))
    names = ', '.join(sorted(k for k, b in bad.items() if b[i]))
    return f'{names} not finite at step {first_step + i}'
  sides = [name for name, ok in zip(('G', 'D'), params_finite) if not ok]
  if sides:
    return (f'{" and ".join(sides)} parameters not finite at step '
            f'{first_step + len(steps_bad) - 1}')
  return None


def summary_screen(summary: Dict[str, Any]) -> str:
  """The one-screen summary printed at the end of a run."""
  protocol = summary['eval_protocol']
  real = protocol.get('real_vs_real')
  lines = [f"{summary['variant']} on {summary['dataset']}, seed "
           f"{summary['seed']}: {summary['status']} after {summary['step']} "
           f"steps in {summary['wall_seconds']:.0f} s "
           f"({summary['steps_per_second']:.1f} steps/s)"]
  if real:
    lines.append(f"  {'':>22}  {'generated':>10}  {'real vs real':>12}")
  for name, value in summary['final_eval'].items():
    lines.append(f'  {name:>22}: {value:10.4g}' +
                 (f"  {real.get(name, float('nan')):12.4g}" if real else ''))
  if real:
    lines.append(f"  ({protocol['num_samples']} samples against "
                 f"{protocol['reference']}; features: "
                 f"{protocol['feature_extractor']}, held-out accuracy "
                 f"{protocol['feature_extractor_held_out_accuracy']:.3f})")
  else:
    lines.append(f"  ({protocol['num_samples']} samples, high quality "
                 f"within {protocol['threshold']:g} sigma)")
  lines.append(f"  G params: {protocol['generator_params']}; workdir: "
               f"{summary['workdir']}")
  return '\n'.join(lines)


def run_keys(seed: int):
  """A run's (init, train, eval) keys; a sweep derives them the same way."""
  return jax.random.split(jax.random.PRNGKey(seed), 3)


def eval_protocol(evaluator, config) -> Dict[str, Any]:
  """How a run was evaluated, for summary.json."""
  return {
      **evaluator.protocol(),
      'generator_params': 'ema' if config.ema.enabled else 'live',
      'eval_rng': f'fold_in(split(PRNGKey({config.seed}), 3)[2], step)',
  }


def steps_per_dispatch(config, platform: str) -> int:
  """Train steps per jitted call (see train.steps_per_dispatch)."""
  if config.train.steps_per_dispatch:
    return config.train.steps_per_dispatch
  if platform == 'cpu' and config.model.name == 'dcgan':
    return 1  # XLA:CPU convolutions in loop bodies: jax-ml/jax#12868.
  return config.train.log_every


def unroll_loops(config) -> bool:
  """Whether the steps unroll their loops (gan_jax.steps.make_steps):
  convolutional models on CPU, for the reason above."""
  return (jax.devices()[0].platform == 'cpu'
          and config.model.name == 'dcgan')


def train_and_evaluate(config, workdir: str,
                       progress: bool = True) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; resumes from ``workdir`` if it holds
  a checkpoint. Returns the summary also written to summary.json.

  The config must already be validated (gan_jax.config.validate). Data are
  read (and the image metrics' classifier trained) before anything is
  written, so a dataset that cannot be read (DatasetNotPrepared) leaves no
  workdir behind; nor does a workdir without room for the checkpoints
  (checkpoints.NoRoom).

  Faults: a NaN or infinity ends the run within its log interval with
  status 'diverged' (naming the step and the quantities), its last
  checkpoint intact. SIGTERM or Ctrl-C (experiments.preemption) saves a
  checkpoint at the step reached and ends with status 'interrupted'.
  """
  with preemption.StopRequest() as stop:
    return _train_and_evaluate(config, workdir, progress, stop)


def _train_and_evaluate(config, workdir: str, progress: bool,
                        stop: preemption.StopRequest) -> Dict[str, Any]:
  started = time.time()
  several_hosts = jax.process_count() > 1

  # --- Devices, model, data, evaluation -----------------------------------
  # The state is replicated and the global batch split over the mesh's
  # 'data' axis, by the route of config.train.parallel (gan_jax.parallel).
  # With several hosts, every one runs this function; process 0 alone
  # writes files (checkpoints are written by all, through orbax).
  route = config.train.parallel
  mesh = parallel.data_mesh(config.train.num_devices)
  layout = inputs.Layout(mesh, route)
  primary = jax.process_index() == 0
  spec, hparams, dataset = gan_config.build(config,
                                            parallel.axis_name(route))
  steps = gan_steps.make_steps(spec, parallel.axis_name(route),
                               unroll=unroll_loops(config))
  init_rng, train_rng, eval_rng = run_keys(config.seed)
  # On the mesh once, not copied there at every dispatch.
  train_rng = jax.device_put(train_rng, layout.replicated)
  batch_shape = (config.objective.n_critic, config.train.batch_size)
  train_input = inputs.make_input(config, dataset, batch_shape, layout)
  evaluator = evaluators.make_evaluator(config, spec, dataset, eval_rng)
  state = jax.device_put(gan_state.compiled_init(spec)(init_rng, hparams),
                         layout.replicated)

  # --- Outputs, resume ------------------------------------------------------
  if primary:
    # Refused here, before a file is written: a workdir that cannot be
    # written or has no room for the checkpoints.
    checkpoints.check_room(workdir, state, config.train.keep_checkpoints)
    os.makedirs(workdir, exist_ok=True)
    writers.write_json(os.path.join(workdir, 'config.json'),
                       config.to_dict())
  ckpt = checkpoints.Checkpointer(workdir, config.train.keep_checkpoints)
  if ckpt.latest_step() is not None:
    # The config's numbers (scalars, learning rates, betas) win over the
    # checkpoint's. A damaged checkpoint is moved aside and the one before it
    # used (checkpoints.py).
    state = gan_state.with_numbers_of(ckpt.restore(state, warn=print),
                                      state)
  step = int(state.step)
  if primary:
    writers.truncate_metrics(workdir, step)
  total = config.train.steps
  writer = writers.MetricWriter(workdir) if primary else writers.NoWriter()

  # --- The compiled loop: per_dispatch steps per call -----------------------
  @functools.lru_cache(maxsize=None)
  def loop(num_steps: int):
    return parallel.parallel_loop(
        functools.partial(steps.train_loop,
                          sample_batch=train_input.sample_batch,
                          num_steps=num_steps),
        route, mesh, train_input.data_spec)

  per_dispatch = steps_per_dispatch(config, jax.devices()[0].platform)

  def train_interval(state, step: int, num_steps: int):
    """Up to ``num_steps`` train steps, fewer if a stop is requested; the
    state and its metrics as NumPy arrays [steps done] (one transfer)."""
    stacked = []
    # Dispatches only: an implicit transfer here (a host array passed in, a
    # value read back) would be an error, not a silent per-step sync.
    with jax.transfer_guard('disallow'):
      for start in range(step, step + num_steps, per_dispatch):
        count = min(per_dispatch, step + num_steps - start)
        state, metrics = loop(count)(state, train_rng,
                                     train_input.data(start, count))
        stacked.append(metrics)
        if not several_hosts and stop.signal_name():
          break  # Hosts agree on stopping once per interval (below).
    metrics, finite = jax.device_get(
        (jax.tree.map(lambda *m: jnp.concatenate(m), *stacked),
         _params_finite(state)))
    return state, metrics, finite

  def run_evaluation(state, step: int) -> Dict[str, float]:
    results = evaluator.evaluate(state, step, workdir, writer,
                                 picture=primary)
    writer.write(step, 'eval', results)
    return results

  final_eval: Dict[str, float] = {}
  status, interrupted_by, reason = 'completed', None, None
  bar = tqdm(total=total, initial=step, disable=not (progress and primary),
             unit='step',
             dynamic_ncols=True, desc=f'{config.variant}/{config.dataset}')
  run_started, run_start_step = time.time(), step
  log_every = config.train.log_every
  try:
    while step < total:
      # To the next multiple of log_every (a run stopped by a signal
      # resumes between two).
      num_steps = min(log_every - step % log_every, total - step)
      chunk_started = time.time()
      state, stacked, params_finite = train_interval(state, step, num_steps)
      bad = divergence(stacked, params_finite, step + 1)
      if bad:
        last = ckpt.latest_step()
        raise Diverged(f'diverged: {bad}; ' + (
            'no checkpoint yet' if last is None else
            f'last good checkpoint: step {last}'))
      num_steps = len(next(iter(stacked.values())))
      step += num_steps
      train_metrics = {k: float(np.mean(v)) for k, v in stacked.items()}
      train_metrics['steps_per_second'] = num_steps / (time.time() -
                                                       chunk_started)
      writer.write(step, 'train', train_metrics)
      bar.set_postfix(d=f"{train_metrics['d_loss']:.3f}",
                      g=f"{train_metrics['g_loss']:.3f}", refresh=False)
      bar.update(num_steps)

      interrupted_by = stop.agreed()
      if interrupted_by:
        ckpt.save(step, state)
        status = 'interrupted'
        bar.write(f'{interrupted_by} at step {step}: checkpoint saved; run '
                  'the same command to resume')
        break
      if step % config.train.eval_every == 0 or step == total:
        final_eval = run_evaluation(state, step)
        if primary:
          bar.write(f'step {step}: ' + ', '.join(
              f'{k} {v:.4g}' for k, v in final_eval.items()))
      if step % config.train.checkpoint_every == 0 or step == total:
        ckpt.save(step, state)
    if not final_eval and status == 'completed':
      final_eval = run_evaluation(state, step)  # Finished before: again.
  except Diverged as error:
    status, reason = 'diverged', str(error)
    bar.write(reason)
  finally:
    writers.close_all(bar.close, writer.close, ckpt.close, train_input.close)

  elapsed = time.time() - run_started
  summary = {
      'status': status,
      **({'reason': reason} if reason else {}),
      **({'interrupted_by': interrupted_by} if interrupted_by else {}),
      'variant': config.variant,
      'dataset': config.dataset,
      'seed': config.seed,
      'step': step,
      'workdir': os.path.abspath(workdir),
      'wall_seconds': time.time() - started,
      'steps_per_second': (step - run_start_step) / max(elapsed, 1e-9),
      'final_eval': final_eval,
      'eval_protocol': eval_protocol(evaluator, config),
      'input': train_input.description,
      'devices': f'{mesh.size} x {jax.devices()[0].platform}',
      'processes': jax.process_count(),
      'parallel': route,
      'config': config.to_dict(),
  }
  if primary:
    writers.write_json(os.path.join(workdir, 'summary.json'), summary)
  return summary
