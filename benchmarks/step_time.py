"""The benchmark's measurements: one workload's step time, FLOP rate and
memory, JAX against the PyTorch baseline (benchmarks/torch_baseline.py),
and the Markdown table. ``python -m benchmarks`` is the command
line around it; its docstring says what is measured and how.
"""

import dataclasses
import functools
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from benchmarks.peak import NOISY_SPREAD, matmul_size, spread

TOY_VARIANTS = ('vanilla', 'non_saturating', 'wgan_gp', 'label_smoothing')
DCGAN_VARIANTS = ('non_saturating', 'wgan_gp')
# The ``images`` workload (JAX only: no PyTorch StyleGAN2 here): each
# family's train step with its run defaults on the shape of a dataset.
IMAGE_ROWS = (
    ('stacked_digits', 'non_saturating'),
    ('stacked_digits', 'stylegan2'),
    ('cifar10', 'non_saturating'),
    ('cifar10', 'stylegan2'),
)


def _config(workload: str, variant: str, extra=None, dataset=None):
  """The library's config of a workload: the variant's published numbers,
  the benchmark's shapes (``dataset``'s for the images workload), constant
  rates and no EMA (as the baseline); ``extra`` fields on top (e.g.
  train.formulation, train.compute_dtype)."""
  from experiments.runner.config_layers import resolve_config
  from experiments.configs import default

  overrides = {
      'optim.g.schedule': 'constant',
      'optim.d.schedule': 'constant',
      'ema.enabled': False,
  }
  if workload == 'toy':
    overrides.update(
        {'model.width': 512, 'model.depth': 3, 'train.batch_size': 256}
    )
  overrides.update(extra or {})
  if dataset is None:
    dataset = 'mnist' if workload == 'dcgan' else 'grid25'
  config = resolve_config(
      default.get_config(), variant, overrides, dataset, None, None
  )
  return config


@dataclasses.dataclass(frozen=True)
class JaxRun:
  """The JAX side: ``run(iterations)`` trains (whole dispatches, at least
  one), with the loop's compile time and XLA's buffer plan for one call of
  the compiled loop, as runs report it."""

  train: Callable[[int], None]
  compile_s: float
  xla_bytes: Callable[[], Optional[int]]

  def __call__(self, iterations: int) -> None:
    self.train(iterations)

  def xla_mib(self) -> float:
    """The buffer plan in MiB; NaN where the backend does not say."""
    plan = self.xla_bytes()
    return math.nan if plan is None else plan / 2**20


def dispatch(
    config, device_platform: str, most: int = 50
) -> Tuple[int, int, bool]:
  """How the runner dispatches ``config``'s steps on ``device_platform``
  (experiments/runner/loop.py): (steps per jitted call, capped at ``most``
  so that a timed repeat stays short; the runner's own count; whether the
  steps unroll their loops). The CPU formulation of an image model takes
  one unrolled step per call: XLA:CPU runs convolutions in loop bodies
  several times slower (jax-ml/jax#12868), so timing it at more would
  measure a setting no run uses."""
  from experiments.runner.loop import steps_per_dispatch, unroll_loops

  runner = steps_per_dispatch(config, device_platform)
  return min(runner, most), runner, unroll_loops(config)


def _jax_side(
    workload: str, variant: str, extra=None, dataset=None, most_per_call=50
):
  """(run(n) -> None, a JaxRun; steps per call; config; xla_flops() ->
  XLA's count of one iteration, NaN where the backend does not say). The
  steps are dispatched as the runner does (:func:`dispatch`), with at most
  ``most_per_call`` steps per call."""
  import jax
  from experiments.runner.profiling import compiled_bytes
  from gan_jax import config as gan_config
  from gan_jax import state as gan_state, steps as gan_steps

  from gan_jax.data.images import IMAGE_SOURCES

  config = _config(workload, variant, extra, dataset)
  spec, hparams, dataset = gan_config.build(config)
  per_call, _, unroll = dispatch(
      config, jax.devices()[0].platform, most_per_call
  )
  steps = gan_steps.make_steps(spec, unroll=unroll)
  shape = (config.objective.n_critic, config.train.batch_size)
  if workload == 'toy':
    data = None

    def sample_batch(key, data, i):
      return dataset.to_network(dataset.sample(key, shape))

  else:  # Stand-in images in [-1, 1] in device memory, as the runner's.
    data = jax.random.uniform(
        jax.random.PRNGKey(5),
        (1024, *IMAGE_SOURCES[config.dataset].shape),
        minval=-1.0,
        maxval=1.0,
    )

    def sample_batch(key, data, i):
      return data[jax.random.randint(key, shape, 0, data.shape[0])]

  loop = jax.jit(
      functools.partial(
          steps.train_loop, sample_batch=sample_batch, num_steps=per_call
      ),
      donate_argnums=0,
  )
  box = [gan_state.compiled_init(spec)(jax.random.PRNGKey(0), hparams)]
  rng = jax.random.PRNGKey(1)
  started = time.perf_counter()
  compiled = loop.lower(box[0], rng, data).compile()  # What jit would do.
  compile_s = time.perf_counter() - started

  def xla_flops() -> float:
    # XLA counts a loop body once, whatever its trip count: count one step
    # written out in full instead.
    one_step = functools.partial(
        gan_steps.make_steps(spec, unroll=True).train_loop,
        sample_batch=sample_batch,
        num_steps=1,
    )
    compiled_step = jax.jit(one_step).lower(box[0], rng, data).compile()
    cost = compiled_step.cost_analysis()
    if cost is None:  # The backend does not say.
      return math.nan
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get('flops', 0.0))

  def run(iterations: int) -> None:
    state = box[0]
    for _ in range(max(1, iterations // per_call)):
      state, metrics = compiled(state, rng, data)
    jax.block_until_ready(metrics)
    box[0] = state

  return (
      JaxRun(run, compile_s, lambda: compiled_bytes(compiled)),
      per_call,
      config,
      xla_flops,
  )


def baseline_device(jax_platform: str, cuda_available: bool) -> str:
  """The PyTorch device that runs the same math where JAX runs it."""
  if jax_platform == 'cpu':
    return 'cpu'
  if jax_platform == 'gpu' and cuda_available:
    return 'cuda'
  if jax_platform == 'gpu':
    raise ValueError(
        'JAX runs on a GPU but this PyTorch has no CUDA: '
        'install a CUDA build of torch for the baseline'
    )
  raise ValueError(
      f'JAX runs on {jax_platform}; the PyTorch baseline runs '
      'on a CPU or a CUDA GPU only'
  )


def set_precision(precision: str) -> None:
  """The same product precision on both sides (``--precision``)."""
  import jax
  import torch

  tf32 = precision == 'tf32'
  jax.config.update(
      'jax_default_matmul_precision', 'tensorfloat32' if tf32 else 'float32'
  )
  torch.backends.cuda.matmul.allow_tf32 = tf32
  torch.backends.cudnn.allow_tf32 = tf32


def torch_device() -> str:
  import jax
  import torch

  return baseline_device(jax.devices()[0].platform, torch.cuda.is_available())


def _torch_side(workload: str, variant: str, config):
  from benchmarks import torch_baseline

  o = config.optim.d
  make = (
      torch_baseline.toy_trainer
      if workload == 'toy'
      else torch_baseline.dcgan_trainer
  )
  trainer = make(
      variant,
      config.objective.n_critic,
      o.lr,
      (o.b1, o.b2),
      config.objective.penalty_weight,
      device=torch_device(),
  )

  def run(iterations: int):
    for _ in range(iterations):
      trainer.iteration()

  return run


def _resident_bytes(field: str = 'VmRSS') -> int:
  """This process's resident memory (VmRSS), or its peak (VmHWM: unlike
  getrusage's maxrss, not inherited from the parent across fork/exec)."""
  with open('/proc/self/status') as f:
    return next(
        int(line.split()[1]) * 1024
        for line in f
        if line.startswith(field + ':')
    )


def memory_probe(
    side: str, workload: str, variant: str, precision: str
) -> Dict[str, float]:
  """Trains ``workload`` with ``side`` alone for a few iterations in this
  process. On a CPU: its peak resident memory above what was resident
  before the first iteration (the framework imported and started, the
  benchmark's config built -- which imports JAX on either side); on a GPU:
  the peak of the device memory in use, by each framework's allocator
  (JAX's memory_stats, torch.cuda's)."""
  importlib.import_module(side)  # jax or torch: not counted.
  import jax

  config = _config(workload, variant)
  platform = jax.devices()[0].platform
  set_precision(precision)
  base = _resident_bytes()
  run = (
      _jax_side(workload, variant)[0]
      if side == 'jax'
      else _torch_side(workload, variant, config)
  )
  run(1)
  run(10)
  if platform == 'cpu':
    return {'peak_mib': (_resident_bytes('VmHWM') - base) / 2**20}
  if side == 'jax':
    peak = jax.devices()[0].memory_stats()['peak_bytes_in_use']
  else:
    import torch

    peak = torch.cuda.max_memory_allocated()
  return {'peak_mib': peak / 2**20}


def probe_environment() -> Dict[str, str]:
  """The memory probe's environment. On a GPU, this process's JAX already
  holds 75% of the GPU's memory (preallocated): a probe that preallocated
  too would fail to start. The probe's peak is what JAX's allocator had in
  use, with or without preallocation."""
  return dict(os.environ, XLA_PYTHON_CLIENT_PREALLOCATE='false')


def _probe_memory(
    side: str, workload: str, variant: str, precision: str
) -> float:
  """memory_probe in a process of its own (``python -m benchmarks``'s
  --memory_probe), so that its peak is the workload's alone."""
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'benchmarks',
          f'--memory_probe={side}:{workload}:{variant}',
          f'--precision={precision}',
      ],
      capture_output=True,
      text=True,
      check=True,
      env=probe_environment(),
  )
  return json.loads(done.stdout.strip().splitlines()[-1])['peak_mib']


def _median_ms(
    run: Callable[[int], None], iterations: int, repeats: int
) -> List[float]:
  times = []
  for _ in range(repeats):
    started = time.perf_counter()
    run(iterations)
    times.append((time.perf_counter() - started) / iterations * 1e3)
  return times


def _jax_repeats(
    run: Callable[[int], None], per_call: int, repeats: int, seconds: float
) -> List[float]:
  """ms per iteration of ``repeats`` timed repeats of about ``seconds``
  each (whole dispatches of ``per_call`` steps), after a warm call."""
  run(per_call)  # Warm.
  started = time.perf_counter()
  run(per_call)
  once = (time.perf_counter() - started) / per_call
  n = max(per_call, int(seconds / once) // per_call * per_call)
  return _median_ms(run, n, repeats)


def jax_step_ms(
    workload: str,
    variant: str,
    extra,
    repeats: int,
    seconds: float,
    most_per_call: int = 50,
) -> Dict[str, Any]:
  """The JAX side alone under ``extra`` config fields: median ms per
  iteration (and the range), the compile time, and the dispatch it was
  timed at (:func:`dispatch`: steps per call, at most ``most_per_call``;
  the runner's own count; whether the steps were unrolled)."""
  run, per_call, config, _ = _jax_side(
      workload, variant, extra, most_per_call=most_per_call
  )
  times = _jax_repeats(run, per_call, repeats, seconds)
  import jax

  _, runner, unrolled = dispatch(config, jax.devices()[0].platform)
  return {
      'ms': statistics.median(times),
      'ms_min': min(times),
      'ms_max': max(times),
      'compile_s': run.compile_s,
      'steps_per_dispatch': per_call,
      'runner_steps_per_dispatch': runner,
      'unrolled': unrolled,
      'xla_step_mib': run.xla_mib(),
  }


def benchmark_workload(
    workload: str,
    variant: str,
    repeats: int,
    seconds: float,
    peak: float,
    precision: str,
    probe_memory: bool = True,
) -> Dict[str, Any]:
  """One row of the table: both sides timed in turn in this process
  (``probe_memory``: and each side's peak memory in a fresh process)."""
  from benchmarks import flops
  # Time to the first step: building the config, model and state, and
  # compiling; then the first call, which runs ``per_call`` steps: its
  # share for one step is counted.
  started = time.perf_counter()
  jax_run, per_call, config, xla_flops = _jax_side(workload, variant)
  jax_first = time.perf_counter() - started
  started = time.perf_counter()
  jax_run(per_call)
  jax_first += (time.perf_counter() - started) / per_call
  started = time.perf_counter()
  torch_run = _torch_side(workload, variant, config)
  torch_run(1)
  torch_first = time.perf_counter() - started

  # Size a repeat to about ``seconds`` from one warm call of each.
  def per_iteration(run, n):
    t = time.perf_counter()
    run(n)
    return (time.perf_counter() - t) / n

  jax_n = max(
      per_call,
      int(seconds / per_iteration(jax_run, per_call)) // per_call * per_call,
  )
  torch_n = max(1, int(seconds / per_iteration(torch_run, 3)))
  jax_times, torch_times = [], []
  for _ in range(repeats):  # Interleaved.
    jax_times += _median_ms(jax_run, jax_n, 1)
    torch_times += _median_ms(torch_run, torch_n, 1)

  n_critic = config.objective.n_critic
  batch = config.train.batch_size
  if workload == 'toy':
    f_g = flops.mlp_forward(batch, [2, 512, 512, 512, 2])
    f_d = flops.mlp_forward(batch, [2, 512, 512, 512, 1])
  else:
    f_g, f_d = flops.dcgan28_forward(batch)
  count = flops.iteration(f_g, f_d, n_critic, variant == 'wgan_gp')
  jax_ms, torch_ms = (
      statistics.median(jax_times),
      statistics.median(torch_times),
  )
  return {
      'workload': workload,
      'variant': variant,
      'n_critic': n_critic,
      'batch': batch,
      'jax_ms': jax_ms,
      'jax_ms_min': min(jax_times),
      'jax_ms_max': max(jax_times),
      'torch_ms': torch_ms,
      'torch_ms_min': min(torch_times),
      'torch_ms_max': max(torch_times),
      'speedup': torch_ms / jax_ms,
      'jax_it_per_s': 1e3 / jax_ms,
      'torch_it_per_s': 1e3 / torch_ms,
      'jax_first_s': jax_first,
      'jax_compile_s': jax_run.compile_s,
      'torch_first_s': torch_first,
      'gflop_per_iteration': count / 1e9,
      'xla_gflop_per_iteration': xla_flops() / 1e9,
      'jax_gflops': count / jax_ms / 1e6,
      'torch_gflops': count / torch_ms / 1e6,
      'jax_peak_fraction': count / jax_ms / 1e6 / peak,
      'steps_per_dispatch': per_call,
      'jax_xla_step_mib': jax_run.xla_mib(),
      'jax_peak_mib': (
          _probe_memory('jax', workload, variant, precision)
          if probe_memory
          else float('nan')
      ),
      'torch_peak_mib': (
          _probe_memory('torch', workload, variant, precision)
          if probe_memory
          else float('nan')
      ),
  }


def image_workload(
    dataset: str, variant: str, repeats: int, seconds: float
) -> Dict[str, Any]:
  """One row of the image families' table: the JAX step alone (repeats
  of about ``seconds``), its compilation, XLA's FLOP count and buffers."""
  run, per_call, config, xla_flops = _jax_side(
      'images', variant, dataset=dataset
  )
  times = _jax_repeats(run, per_call, repeats, seconds)
  ms = statistics.median(times)
  return {
      'workload': 'images',
      'dataset': dataset,
      'variant': variant,
      'model': config.model.name,
      'batch': config.train.batch_size,
      'jax_ms': ms,
      'jax_ms_min': min(times),
      'jax_ms_max': max(times),
      'jax_it_per_s': 1e3 / ms,
      'jax_compile_s': run.compile_s,
      'xla_gflop_per_iteration': xla_flops() / 1e9,
      'steps_per_dispatch': per_call,
      'jax_xla_step_mib': run.xla_mib(),
  }


def image_markdown(rows: List[Dict[str, Any]]) -> str:
  """The image families' table (JAX only)."""
  from gan_jax.data.images import IMAGE_SOURCES

  lines = [
      "Image families, JAX only (each variant's run defaults on the "
      "dataset's image shape; stand-in images, no EMA):",
      '',
      '| image | variant (model) | batch | ms/step | steps/s | '
      'XLA GFLOP/step | compile | XLA step buffers |',
      '|---|---|---|---|---|---|---|---|',
  ]
  for r in rows:
    shape = 'x'.join(map(str, IMAGE_SOURCES[r['dataset']].shape))
    lines.append(
        f"| {shape} ({r['dataset']}) | `{r['variant']}` ({r['model']}) | "
        f"{r['batch']} | {r['jax_ms']:.1f} ({r['jax_ms_min']:.1f}-"
        f"{r['jax_ms_max']:.1f}) | {r['jax_it_per_s']:.1f} | "
        f"{r['xla_gflop_per_iteration']:.2f} | {r['jax_compile_s']:.1f} s | "
        f"{r['jax_xla_step_mib']:.1f} MiB |"
    )
  return '\n'.join(lines) + '\n'


def machine(precision: str) -> str:
  """The device, host, versions and precision, in one line."""
  import jax
  import torch

  device = jax.devices()[0]
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      cpu = next(
          line.split(':', 1)[1].strip()
          for line in f
          if line.startswith('model name')
      )
  except (OSError, StopIteration):
    pass
  torch_on = torch_device()
  torch_on = (
      f'{torch.get_num_threads()} threads'
      if torch_on == 'cpu'
      else f'on {torch.cuda.get_device_name()}'
  )
  precision = (
      ''
      if device.platform == 'cpu'
      else f'; products in {precision} on both sides'
  )
  return (
      f'{device.platform} ({device.device_kind}); host {cpu}, '
      f'{os.cpu_count()} cores; jax {jax.__version__}, torch '
      f'{torch.__version__} ({torch_on}){precision}'
  )


def markdown(
    results: List[Dict[str, Any]], peak: float, where: str, precision: str
) -> str:
  size = matmul_size()
  lines = [
      f'Machine: {where}. Matrix-product peak ({size}x{size} '
      f'{precision}, jax): {peak:.0f} GFLOP/s.'
  ]
  if not results:  # Only the JAX-only image table follows.
    return lines[0] + '\n'
  lines += [
      '',
      '| workload | variant | n_critic | JAX ms/it | '
      'PyTorch ms/it | speed-up | JAX it/s | JAX GFLOP/s (% peak) | '
      'PyTorch GFLOP/s | first step JAX (compile) / PyTorch | '
      'peak memory JAX / PyTorch | XLA step buffers |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  lines += [table_row(r) for r in results]
  note = noise_note(results)
  return '\n'.join(lines + ([''] + [note] if note else [])) + '\n'


def table_row(r: Dict[str, Any]) -> str:
  """One workload's row of the Markdown table."""
  return (
      f"| {r['workload']} | `{r['variant']}` | {r['n_critic']} | "
      f"{r['jax_ms']:.2f} ({r['jax_ms_min']:.2f}-{r['jax_ms_max']:.2f}) | "
      f"{r['torch_ms']:.2f} ({r['torch_ms_min']:.2f}-"
      f"{r['torch_ms_max']:.2f}) | {r['speedup']:.2f}x | "
      f"{r['jax_it_per_s']:.0f} | {r['jax_gflops']:.0f} "
      f"({100 * r['jax_peak_fraction']:.0f}%) | {r['torch_gflops']:.0f} | "
      f"{r['jax_first_s']:.1f} s ({r['jax_compile_s']:.1f} s) / "
      f"{r['torch_first_s']:.2f} s | "
      + (
          f"{r['jax_peak_mib']:.0f} / {r['torch_peak_mib']:.0f} MiB | "
          if not math.isnan(r['jax_peak_mib'])
          else 'not probed | '
      )
      + f"{r['jax_xla_step_mib']:.1f} MiB |"
  )


def noise_note(results: List[Dict[str, Any]]) -> str:
  """A warning naming the workloads timed on a busy machine, or ''."""
  noisy = [
      f"{r.get('dataset', r['workload'])} `{r['variant']}`"
      for r in results
      if any(
          spread([r[f'{side}_ms_min'], r[f'{side}_ms'], r[f'{side}_ms_max']])
          > NOISY_SPREAD
          for side in ('jax', 'torch')
          if f'{side}_ms' in r
      )
  ]
  if not noisy:
    return ''
  return (
      f'Not reliable: the repeats of {", ".join(noisy)} spread by more '
      f'than {NOISY_SPREAD:.0%} of their median, so something else '
      'was using the machine; run the benchmark again when it is quiet.'
  )


def write_whole(path: str, text: str) -> None:
  """Writes ``text`` atomically: a failure leaves the old file or none."""
  tmp = path + '.tmp'
  try:
    with open(tmp, 'w') as f:
      f.write(text)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
