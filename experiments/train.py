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
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm import tqdm

from gan_jax import config as gan_config
from gan_jax import evaluation, state as gan_state, steps as gan_steps
from experiments import checkpoints, plots, writers


class Diverged(RuntimeError):
  """Training produced a NaN or infinity."""


def _mesh(config) -> Mesh:
  # Data parallelism with jit: the state is replicated, the batch sharded
  # over the 'data' axis, and XLA inserts the gradient all-reduce. The
  # steps see the global batch, so results match a single device.
  count = config.train.num_devices or jax.device_count()
  return Mesh(np.array(jax.devices()[:count]), ('data',))


def _host_metrics(stacked: Dict[str, jax.Array]) -> Dict[str, float]:
  """One device-to-host transfer per log interval: chunk means."""
  return {k: float(v) for k, v in
          jax.device_get({k: jnp.mean(v) for k, v in stacked.items()}).items()}


def summary_screen(summary: Dict[str, Any]) -> str:
  final = summary['final_eval']
  lines = [f"{summary['variant']} on {summary['dataset']}, seed "
           f"{summary['seed']}: {summary['status']} after {summary['step']} "
           f"steps in {summary['wall_seconds']:.0f} s "
           f"({summary['steps_per_second']:.1f} steps/s)"]
  for name, value in final.items():
    lines.append(f'  {name:>22}: {value:.4g}')
  protocol = summary['eval_protocol']
  lines.append(f"  ({protocol['num_samples']} samples, high quality within "
               f"{protocol['threshold']:g} sigma, G params: "
               f"{protocol['generator_params']})")
  lines.append(f"  workdir: {summary['workdir']}")
  return '\n'.join(lines)


def train_and_evaluate(config, workdir: str,
                       progress: bool = True) -> Dict[str, Any]:
  """Trains, evaluates and checkpoints; resumes from ``workdir`` if it holds
  a checkpoint. Returns the summary also written to summary.json.

  The config must already be validated (gan_jax.config.validate).
  """
  started = time.time()
  os.makedirs(workdir, exist_ok=True)
  writers.write_json(os.path.join(workdir, 'config.json'), config.to_dict())

  # --- Devices, model, state ----------------------------------------------
  mesh = _mesh(config)
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P(None, 'data'))
  spec, hparams, dataset = gan_config.build(config)
  steps = gan_steps.make_steps(spec)
  init_rng, train_rng, eval_rng = jax.random.split(
      jax.random.PRNGKey(config.seed), 3)
  state = jax.device_put(gan_state.init_state(spec, init_rng, hparams),
                         replicated)

  # --- Resume ----------------------------------------------------------------
  ckpt = checkpoints.Checkpointer(workdir, config.train.keep_checkpoints)
  if ckpt.latest_step() is not None:
    # The config's scalars win over the checkpoint's (learning rates do too:
    # their schedules are rebuilt from the config).
    state = ckpt.restore(state).replace(hparams=state.hparams)
  step = int(state.step)
  writers.truncate_metrics(workdir, step)
  total = config.train.steps
  batch_size, n_critic = config.train.batch_size, config.objective.n_critic

  # --- The jitted loop: log_every steps per dispatch -----------------------
  def sample_batch(key):
    batch = dataset.to_network(dataset.sample(key, (n_critic, batch_size)))
    return jax.lax.with_sharding_constraint(batch, batch_sharding)

  @functools.lru_cache(maxsize=None)
  def loop(num_steps: int):
    return jax.jit(functools.partial(steps.train_loop,
                                     sample_batch=sample_batch,
                                     num_steps=num_steps),
                   donate_argnums=0)

  @jax.jit
  def evaluate(state, rng):
    return evaluation.evaluate_toy2d(spec, state, dataset, rng,
                                     config.eval.num_samples,
                                     config.eval.threshold)

  writer = writers.MetricWriter(workdir)

  def run_evaluation(state, step: int) -> Dict[str, float]:
    results, samples = evaluate(state, jax.random.fold_in(eval_rng, step))
    results = {k: float(v) for k, v in jax.device_get(results).items()}
    writer.write(step, 'eval', results)
    plots.save_samples(os.path.join(workdir, f'samples_{step:07d}.png'),
                       np.asarray(samples), dataset, step, results,
                       config.eval.threshold)
    return results

  final_eval: Dict[str, float] = {}
  status = 'completed'
  bar = tqdm(total=total, initial=step, disable=not progress, unit='step',
             dynamic_ncols=True, desc=f'{config.variant}/{config.dataset}')
  run_started, run_start_step = time.time(), step
  try:
    while step < total:
      num_steps = min(config.train.log_every, total - step)
      chunk_started = time.time()
      state, stacked = loop(num_steps)(state, train_rng)
      step += num_steps
      train_metrics = _host_metrics(stacked)
      train_metrics['steps_per_second'] = num_steps / (time.time() -
                                                       chunk_started)
      writer.write(step, 'train', train_metrics)
      bad = [k for k, v in train_metrics.items() if not np.isfinite(v)]
      if bad:
        raise Diverged(f'diverged: {", ".join(bad)} not finite at step '
                       f'{step}; last good checkpoint: step '
                       f'{ckpt.latest_step()}')
      bar.set_postfix(d=f"{train_metrics['d_loss']:.3f}",
                      g=f"{train_metrics['g_loss']:.3f}", refresh=False)
      bar.update(num_steps)

      if step % config.train.eval_every == 0 or step == total:
        final_eval = run_evaluation(state, step)
        bar.write(f'step {step}: ' + ', '.join(
            f'{k} {v:.4g}' for k, v in final_eval.items()))
      if step % config.train.checkpoint_every == 0 or step == total:
        ckpt.save(step, state)
    if not final_eval:  # Already finished: evaluate again for the summary.
      final_eval = run_evaluation(state, step)
  except Diverged as error:
    status = 'diverged'
    bar.write(str(error))
  finally:
    bar.close()
    writer.close()
    ckpt.close()

  elapsed = time.time() - run_started
  summary = {
      'status': status,
      'variant': config.variant,
      'dataset': config.dataset,
      'seed': config.seed,
      'step': step,
      'workdir': os.path.abspath(workdir),
      'wall_seconds': time.time() - started,
      'steps_per_second': (step - run_start_step) / max(elapsed, 1e-9),
      'final_eval': final_eval,
      'eval_protocol': {
          'num_samples': config.eval.num_samples,
          'threshold': config.eval.threshold,
          'sigma': dataset.sigma,
          'generator_params': 'ema' if config.ema.enabled else 'live',
          'eval_rng': f'fold_in(split(PRNGKey({config.seed}), 3)[2], step)',
          'reference': 'VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et '
                       'al. 2018) 2-D protocol',
      },
      'devices': f'{mesh.size} x {jax.devices()[0].platform}',
      'config': config.to_dict(),
  }
  writers.write_json(os.path.join(workdir, 'summary.json'), summary)
  return summary
