"""The theory lab's driver: measures every claim (experiments.theory_lab.claims
for the closed-form ones, sweeps for the training runs of claims 3 and 5)
and writes the figures, theory.json and theory.md. No flags:
``experiments.theory`` is the command line around :func:`run_theory`.
"""

import json
import os
import time
from typing import Any, Dict, List, Sequence

# Claim 3's runs: D gets a head start (five D updates per G update at a
# higher learning rate), the situation where saturation bites.
HEAD_START = {'objective.n_critic': 5, 'optim.d.lr': 2e-3, 'train.steps': 1000}
EARLY_FRACTION = 0.2  # "Early": the first 20% of the logged train steps.


def _curves(
    summaries: Sequence[Dict[str, Any]], variant: str, split: str, key: str
):
  """(steps, values [seeds, steps]) of ``key`` from the runs' metrics."""
  import numpy as np

  steps, rows = None, []
  for summary in summaries:
    if summary['variant'] != variant or summary['status'] != 'completed':
      continue
    with open(os.path.join(summary['workdir'], 'metrics.jsonl')) as f:
      records = [r for r in map(json.loads, f) if r['split'] == split]
    steps = np.array([r['step'] for r in records])
    rows.append([r[key] for r in records])
  return steps, np.array(rows, dtype=float)


# The training runs: (subdirectory, variants, settings) of claims 3 and 5.
SWEEPS = {
    'saturation': (
        'runs_saturation',
        ['vanilla', 'non_saturating'],
        HEAD_START,
    ),
    'modes': ('runs_modes', ['vanilla', 'wgan_gp'], {}),
}


def _sweep_spec(name: str, seeds: int) -> Dict[str, Any]:
  from experiments.sweeps import spec as sweep_spec

  _, variants, settings = SWEEPS[name]
  return sweep_spec.normalize(
      {
          'variants': variants,
          'seeds': seeds,
          'dataset': 'ring8',
          'set': settings,
      }
  )


def _sweep(workdir: str, name: str, seeds: int):
  from experiments.sweeps import driver as sweep_driver

  return sweep_driver.run_sweep(
      _sweep_spec(name, seeds),
      os.path.join(workdir, SWEEPS[name][0]),
      progress=False,
  )


def saturation_runs(workdir: str, seeds: int):
  """Claim 3's second half: vanilla and non_saturating with D ahead."""
  from experiments.theory_lab.claims import Claim

  summaries = _sweep(workdir, 'saturation', seeds)
  runs = {}
  for variant in ('vanilla', 'non_saturating'):
    steps, norms = _curves(summaries, variant, 'train', 'g_grad_norm')
    _, d_fake = _curves(summaries, variant, 'train', 'g_fake')
    runs[variant] = {'steps': steps, 'g_grad_norm': norms, 'g_fake': d_fake}
  early = slice(0, max(1, int(len(runs['vanilla']['steps']) * EARLY_FRACTION)))
  vanilla = runs['vanilla']['g_grad_norm'][:, early].mean()
  non_saturating = runs['non_saturating']['g_grad_norm'][:, early].mean()
  d_of_fakes = runs['vanilla']['g_fake'][:, early].mean()
  ratio = non_saturating / vanilla
  claim = Claim(
      3,
      'saturation (training)',
      'with D ahead (D(G(z)) << 1/2) the saturating G gradient is smaller',
      f'early mean D(G(z)) {d_of_fakes:.3f}; G gradient norm non-saturating'
      f' / saturating {ratio:.1f}x',
      'D(G(z)) < 0.25 and ratio > 2',
      d_of_fakes < 0.25 and ratio > 2,
      {
          'early_steps': int(runs['vanilla']['steps'][early][-1]),
          'vanilla_g_grad_norm': float(vanilla),
          'non_saturating_g_grad_norm': float(non_saturating),
          'vanilla_d_of_fakes': float(d_of_fakes),
          'ratio': float(ratio),
          'settings': HEAD_START,
          'seeds': seeds,
      },
  )
  return claim, runs


def mode_collapse_runs(workdir: str, seeds: int):
  """Claim 5: ring8 modes (and high-quality samples) over training,
  vanilla against wgan_gp, with the default settings."""
  from experiments.theory_lab.claims import Claim

  summaries = _sweep(workdir, 'modes', seeds)
  runs = {}
  for variant in ('vanilla', 'wgan_gp'):
    steps, modes = _curves(summaries, variant, 'eval', 'modes')
    _, quality = _curves(summaries, variant, 'eval', 'high_quality_pct')
    runs[variant] = {
        'eval_steps': steps,
        'modes': modes,
        'high_quality_pct': quality,
    }
  final = {v: float(runs[v]['modes'][:, -1].mean()) for v in runs}
  first = {v: float(runs[v]['modes'][:, 0].mean()) for v in runs}
  quality = {v: float(runs[v]['high_quality_pct'][:, -1].mean()) for v in runs}
  claim = Claim(
      5,
      'mode coverage (ring8)',
      'wgan_gp covers all 8 modes in every seed, at least as many as '
      'vanilla',
      f"final modes: wgan_gp {final['wgan_gp']:.2f}, vanilla "
      f"{final['vanilla']:.2f} (first evaluation {first['wgan_gp']:.2f}, "
      f"{first['vanilla']:.2f}); high quality {quality['wgan_gp']:.0f}% "
      f"against {quality['vanilla']:.0f}%",
      'wgan_gp = 8 and >= vanilla',
      runs['wgan_gp']['modes'][:, -1].min() == 8
      and final['wgan_gp'] >= final['vanilla'],
      {
          'final_modes': final,
          'first_eval_modes': first,
          'final_high_quality_pct': quality,
          'first_eval_step': int(runs['vanilla']['eval_steps'][0]),
          'seeds': seeds,
      },
  )
  return claim, runs


def run_theory(
    workdir: str, seeds: int, seed: int = 0, budget=None
) -> List[Any]:
  """Measures every claim, writes the figures, theory.json and theory.md
  into ``workdir``; returns the claims."""
  import jax
  from experiments.theory_lab import claims as theory_claims
  from experiments.theory_lab import figures as theory_figures
  from experiments.sweeps import driver as sweep_driver

  budget = budget or theory_claims.Budget()
  os.makedirs(workdir, exist_ok=True)
  for name, (subdirectory, _, _) in SWEEPS.items():
    # Runs left by another --seeds are refused before anything is trained
    # (only a check: a directory holding no sweep yet is left alone).
    directory = os.path.join(workdir, subdirectory)
    if os.path.exists(os.path.join(directory, 'sweep.json')):
      sweep_driver.claim_directory(directory, _sweep_spec(name, seeds))
  paths = theory_figures.all_paths(workdir)
  rng = jax.random.PRNGKey(seed)
  timings = {}

  started = time.time()
  (claim1, claim2), optimal = theory_claims.optimal_discriminator_claims(
      budget, jax.random.fold_in(rng, 1)
  )
  theory_figures.optimal_discriminator(optimal, paths['optimal_discriminator'])
  theory_figures.game_value(optimal, paths['game_value'])
  timings['claims 1-2'] = time.time() - started

  started = time.time()
  claim3a, gradients = theory_claims.saturation_gradient_claim()
  claim3b, saturation = saturation_runs(workdir, seeds)
  theory_figures.saturation(gradients, saturation, paths['saturation'])
  timings['claim 3'] = time.time() - started

  started = time.time()
  claim4, disjoint = theory_claims.disjoint_supports_claim(
      budget, jax.random.fold_in(rng, 4)
  )
  theory_figures.disjoint_supports(disjoint, paths['disjoint_supports'])
  timings['claim 4'] = time.time() - started

  started = time.time()
  claim5, modes = mode_collapse_runs(workdir, seeds)
  theory_figures.mode_coverage(
      modes, ['vanilla', 'wgan_gp'], 8, paths['mode_coverage']
  )
  timings['claim 5'] = time.time() - started

  claims = [claim1, claim2, claim3a, claim3b, claim4, claim5]
  from experiments.storage import writers

  writers.write_json(
      os.path.join(workdir, 'theory.json'),
      {
          'claims': [vars(c) for c in claims],
          'budget': vars(budget),
          'seed': seed,
          'figures': {k: os.path.basename(v) for k, v in paths.items()},
          'seconds': timings,
      },
  )
  table = theory_claims.summarize(claims)
  with open(os.path.join(workdir, 'theory.md'), 'w') as f:
    f.write(table + '\n')
  return claims
