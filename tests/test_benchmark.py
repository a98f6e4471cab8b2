"""The benchmark's PyTorch baseline computes the library's math, on the
device where JAX runs. (PyTorch is a benchmark-only dependency: without it
the baseline's tests are skipped.)"""

import json
import subprocess
import sys

import jax
import numpy as np
import pytest

from benchmarks.step_time import (
    baseline_device,
    image_markdown,
    noise_note,
    probe_environment,
    table_row,
)
from gan_jax.context import Context
from gan_jax import config as gan_config, losses
from gan_jax.variants import SEED_VARIANTS
from tests.helpers import small_config


def test_the_baseline_runs_where_jax_runs():
  assert baseline_device('cpu', cuda_available=True) == 'cpu'
  assert baseline_device('gpu', cuda_available=True) == 'cuda'
  with pytest.raises(ValueError, match='no CUDA'):
    baseline_device('gpu', cuda_available=False)
  with pytest.raises(ValueError, match='CPU or a CUDA GPU only'):
    baseline_device('tpu', cuda_available=False)


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_the_memory_probe_trains_alone_and_reports_its_peak():
  # The probe is a second JAX process beside the benchmark's own: on a GPU
  # it must not preallocate (the benchmark's JAX holds 75% already).
  pytest.importorskip('torch')  # The benchmark sets both sides' precision.
  env = probe_environment()
  assert env['XLA_PYTHON_CLIENT_PREALLOCATE'] == 'false'
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'benchmarks',
          '--memory_probe=jax:toy:non_saturating',
      ],
      capture_output=True,
      text=True,
      env=env,
      timeout=300,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  peak = json.loads(done.stdout.strip().splitlines()[-1])['peak_mib']
  assert 1 < peak < 4096  # Above nothing; far below the machine.


@pytest.mark.slow  # End to end: in .ci/run's second pass.
def test_the_images_workload_times_each_family_alone(tmp_path):
  pytest.importorskip('torch')  # The command line names the machine.
  done = subprocess.run(
      [
          sys.executable,
          '-m',
          'benchmarks',
          '--workloads=images',
          '--repeats=1',
          '--seconds_per_repeat=0.05',
          f'--out={tmp_path}',
      ],
      capture_output=True,
      text=True,
      timeout=900,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  saved = json.loads((tmp_path / 'benchmark.json').read_text())
  assert saved['results'] == []  # No PyTorch side.
  rows = {(r['dataset'], r['model']): r for r in saved['images']}
  assert set(rows) == {
      (d, m)
      for d in ('stacked_digits', 'cifar10')
      for m in ('dcgan', 'stylegan2')
  }
  for row in rows.values():
    assert row['jax_ms'] > 0 and row['xla_gflop_per_iteration'] > 0
  # StyleGAN2's step costs more arithmetic than DCGAN's on the same images.
  for dataset in ('stacked_digits', 'cifar10'):
    assert (
        rows[dataset, 'stylegan2']['xla_gflop_per_iteration']
        > rows[dataset, 'dcgan']['xla_gflop_per_iteration']
    )
  table = (tmp_path / 'benchmark.md').read_text()
  assert '| 32x32x3 (cifar10) | `stylegan2` (stylegan2) | 64 |' in table


def test_the_image_table_puts_each_measurement_in_its_column():
  row = {
      'dataset': 'stacked_digits',
      'variant': 'stylegan2',
      'model': 'stylegan2',
      'batch': 64,
      'jax_ms': 31.04,
      'jax_ms_min': 30.5,
      'jax_ms_max': 33.26,
      'jax_it_per_s': 32.2,
      'xla_gflop_per_iteration': 1.234,
      'jax_compile_s': 12.34,
      'jax_xla_step_mib': 40.61,
  }
  lines = image_markdown([row]).splitlines()
  cells = [cell.strip() for cell in lines[-1].split('|')[1:-1]]
  assert cells == [
      '8x8x3 (stacked_digits)',
      '`stylegan2` (stylegan2)',
      '64',
      '31.0 (30.5-33.3)',
      '32.2',
      '1.23',
      '12.3 s',
      '40.6 MiB',
  ]
  assert len(lines[2].split('|')) == len(lines[-1].split('|'))  # Header.


@pytest.mark.parametrize('variant', SEED_VARIANTS)
def test_baseline_losses_are_the_librarys(variant):
  torch = pytest.importorskip('torch')
  from benchmarks import torch_baseline

  spec, hparams, _ = gan_config.build(small_config(variant))
  real, fake = (
      np.random.default_rng(0).normal(size=(2, 64)).astype(np.float32) * 3
  )
  objective = losses.get_objective(spec.objective)
  ctx = Context(hparams=hparams)
  ours_d = objective.d_loss(real, fake, ctx)
  ours_g = objective.g_loss(None, fake, ctx)
  theirs_d = torch_baseline.d_loss(
      variant,
      torch.from_numpy(real),
      torch.from_numpy(fake),
      real_target=hparams.get('real_target', 1.0),
  )
  theirs_g = torch_baseline.g_loss(variant, torch.from_numpy(fake))
  np.testing.assert_allclose(float(theirs_d), float(ours_d), rtol=1e-5)
  np.testing.assert_allclose(float(theirs_g), float(ours_g), rtol=1e-5)


def test_baseline_penalty_has_the_closed_form_of_a_linear_critic():
  # D(x) = w . x has gradient w at every interpolate: the penalty is
  # weight * (|w| - 1)^2 whatever the interpolation weights.
  torch = pytest.importorskip('torch')
  from benchmarks import torch_baseline

  critic = torch.nn.Linear(3, 1, bias=False)
  with torch.no_grad():
    critic.weight.copy_(torch.tensor([[2.0, -1.0, 2.0]]))  # |w| = 3.
  real, fake = torch.randn(2, 16, 3).unbind(0)
  penalty = torch_baseline.gradient_penalty(critic, real, fake, weight=10.0)
  assert float(penalty.detach()) == pytest.approx(10.0 * (3.0 - 1.0) ** 2)


@pytest.mark.parametrize('variant', ['non_saturating', 'wgan_gp'])
def test_baseline_trainer_keeps_everything_on_its_device(variant):
  torch = pytest.importorskip('torch')
  from benchmarks import torch_baseline

  device = baseline_device(jax.devices()[0].platform, torch.cuda.is_available())
  trainer = torch_baseline.toy_trainer(
      variant, 2, 1e-4, (0.5, 0.9), 10.0, batch=8, width=8, device=device
  )
  before = [p.detach().clone() for p in trainer.G.parameters()]
  assert np.isfinite(trainer.iteration())
  tensors = [
      *trainer.G.parameters(),
      *trainer.D.parameters(),
      trainer.sample_real(4),
      trainer.noise(),
  ]
  assert {t.device.type for t in tensors} == {device}
  assert any(
      not torch.equal(b, p) for b, p in zip(before, trainer.G.parameters())
  ), 'G was not updated'


@pytest.mark.parametrize(
    'args, message',
    [
        (['--seeds=0'], 'error: --seeds=0: give a count >= 1'),
        (
            ['--sides=runs,sweeep'],
            'error: --sides=runs,sweeep: give one or more '
            'of runs, sweep, sweep1',
        ),
        (
            ['--seeds=1', '--sides=runs', '--variant=nope'],
            'error: experiments.run --variant=nope ... failed (exit 1); nothing was '
            'timed',
        ),
    ],
)
def test_the_sweep_benchmark_refuses_bad_input_in_one_line(args, message):
  done = subprocess.run(
      [sys.executable, '-m', 'benchmarks.sweep_vs_runs', *args],
      capture_output=True,
      text=True,
  )
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == message


@pytest.mark.parametrize(
    'command, flag, message',
    [
        (
            'benchmarks',
            '--precision=bf16',
            'error: flag --precision=bf16: value should be one of <float32|tf32>',
        ),
        (
            'benchmarks',
            '--workloads=toy,gan',
            'error: --workloads=toy,gan: give one or more of toy, dcgan, images',
        ),
        (
            'benchmarks.sweep_vs_runs',
            '--seeds=ten',
            'error: flag --seeds=ten: invalid literal for int() with base 10: '
            "'ten'",
        ),
        (
            'experiments.theory',
            '--sedes=3',
            "error: Unknown command line flag 'sedes'. Did you mean: seeds ?",
        ),
        (
            'benchmarks.conv_transpose',
            '--repeats=0',
            'error: --repeats=0: give a count >= 1',
        ),
    ],
)
def test_a_bad_flag_is_one_line(command, flag, message):
  # absl alone prints "FATAL Flags parsing error" and a usage hint.
  done = subprocess.run(
      [sys.executable, '-m', command, flag], capture_output=True, text=True
  )
  assert done.returncode == 1
  assert done.stderr.strip().splitlines() == [message]


@pytest.mark.slow  # a benchmark process (~6 s).
def test_the_benchmark_refuses_an_output_it_cannot_write_before_measuring(
    tmp_path,
):
  pytest.importorskip('torch')  # Checked first: without it, that is said.
  a_file = tmp_path / 'results'
  a_file.write_text('kept')
  for out, message in (
      (a_file, f'error: --out={a_file} is a file; give a directory'),
      (a_file / 'under', f'error: --out={a_file / "under"}: Not a directory'),
  ):
    done = subprocess.run(
        [sys.executable, '-m', 'benchmarks', f'--out={out}'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [message]
    assert done.stdout == ''  # Refused before the matrix-product peak.
  assert a_file.read_text() == 'kept'


def test_the_table_warns_when_repeats_spread_widely():
  def timed(workload, variant, jax_ms, torch_ms):
    return {
        'workload': workload,
        'variant': variant,
        **{f'jax_ms{end}': ms for end, ms in zip(('_min', '', '_max'), jax_ms)},
        **{
            f'torch_ms{end}': ms
            for end, ms in zip(('_min', '', '_max'), torch_ms)
        },
    }

  quiet = timed('toy', 'vanilla', (20.0, 20.5, 21.9), (30.0, 30.1, 32.9))
  assert noise_note([quiet]) == ''
  busy_jax = timed('toy', 'wgan_gp', (100.0, 110.0, 111.1), (200, 200, 200))
  busy_torch = timed('dcgan', 'wgan_gp', (5, 5, 5), (90.0, 100.0, 100.1))
  note = noise_note([quiet, busy_jax, busy_torch])
  assert note.startswith(
      'Not reliable: the repeats of toy `wgan_gp`, dcgan '
      '`wgan_gp` spread by more than 10% of their median'
  )


def test_a_table_row_puts_each_measurement_in_its_column():
  result = {
      'workload': 'toy',
      'variant': 'wgan_gp',
      'n_critic': 5,
      'jax_ms': 100.0,
      'jax_ms_min': 99.5,
      'jax_ms_max': 101.25,
      'torch_ms': 170.0,
      'torch_ms_min': 169.0,
      'torch_ms_max': 171.0,
      'speedup': 1.7,
      'jax_it_per_s': 10.0,
      'jax_gflops': 158.4,
      'jax_peak_fraction': 0.856,
      'torch_gflops': 93.6,
      'jax_first_s': 3.14,
      'jax_compile_s': 2.06,
      'torch_first_s': 0.183,
      'jax_peak_mib': 471.2,
      'torch_peak_mib': 126.0,
      'jax_xla_step_mib': 22.16,
  }
  cells = [cell.strip() for cell in table_row(result).split('|')[1:-1]]
  assert cells == [
      'toy',
      '`wgan_gp`',
      '5',
      '100.00 (99.50-101.25)',
      '170.00 (169.00-171.00)',
      '1.70x',
      '10',
      '158 (86%)',
      '94',
      '3.1 s (2.1 s) / 0.18 s',
      '471 / 126 MiB',
      '22.2 MiB',
  ]


def test_a_machine_that_changed_speed_is_seen_by_the_peaks_spread():
  from benchmarks.peak import NOISY_SPREAD, spread

  assert spread([170.0, 160.0]) == pytest.approx(10 / 165)  # Quiet enough.
  assert spread([170.0, 150.0]) > NOISY_SPREAD  # 20 / 160: the host got busy.
  assert spread([100.0, 90.0, 130.0]) == pytest.approx(0.4)
