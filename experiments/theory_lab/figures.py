"""The theory lab's figures: each claim's closed form beside its measurement."""

import os
from typing import Any, Dict, Sequence

import matplotlib
import numpy as np

matplotlib.use('Agg')  # Files only; never needs a display.
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: str) -> str:
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def optimal_discriminator(data: Dict[str, Any], path: str) -> str:
  """Claim 1: trained D and D* over x, with both densities."""
  fig, ax = plt.subplots(figsize=(6, 3.6))
  x = data['x']
  ax.fill_between(
      x,
      0,
      data['p_data'] / data['p_data'].max(),
      color='tab:blue',
      alpha=0.15,
      label='p_data (scaled)',
  )
  ax.fill_between(
      x,
      0,
      data['p_g'] / data['p_g'].max(),
      color='tab:orange',
      alpha=0.15,
      label=f'p_g = N({data["shift"]:g}, 1) (scaled)',
  )
  ax.plot(x, data['d_star'], 'k--', label='D* = p_data / (p_data + p_g)')
  ax.plot(x, data['d_trained'], color='tab:red', label='trained D')
  ax.set_xlabel('x')
  ax.set_ylim(-0.02, 1.02)
  ax.set_title('Claim 1: the discriminator approaches D*', fontsize=10)
  ax.legend(fontsize=7, loc='center right')
  return _save(fig, path)


def game_value(data: Dict[str, Any], path: str) -> str:
  """Claim 2: the trained value and -log 4 + 2 JSD against the shift."""
  fig, ax = plt.subplots(figsize=(6, 3.6))
  ax.plot(
      data['shifts'],
      data['expected_values'],
      'k-',
      label='-log 4 + 2 JSD(p_data || p_g)',
  )
  ax.plot(
      data['shifts'],
      data['values'],
      'o',
      color='tab:red',
      label='V(D, G), D trained',
  )
  ax.axhline(-np.log(4), color='grey', linewidth=0.6, linestyle=':')
  ax.set_xlabel('generator shift b  (p_g = N(b, 1))')
  ax.set_ylabel('value of the game')
  ax.set_title('Claim 2: the value is a Jensen-Shannon divergence', fontsize=10)
  ax.legend(fontsize=8)
  return _save(fig, path)


def saturation(
    gradients: Dict[str, Any], runs: Dict[str, Any], path: str
) -> str:
  """Claim 3: the two losses' logit gradients against D(G(z)), and the G
  gradient norm of real runs over training (median and range of seeds)."""
  fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
  d = gradients['d']
  left.plot(
      d, gradients['saturating'], color='tab:red', label='saturating: -D(G(z))'
  )
  left.plot(
      d,
      gradients['non_saturating'],
      color='tab:blue',
      label='non-saturating: -(1 - D(G(z)))',
  )
  left.set_xlabel('D(G(z))')
  left.set_ylabel('d loss / d logit (autodiff)')
  left.legend(fontsize=8)
  left.set_title('Claim 3: generator loss gradients', fontsize=10)
  for variant, color in (
      ('vanilla', 'tab:red'),
      ('non_saturating', 'tab:blue'),
  ):
    if variant not in runs:
      continue
    steps, norms = runs[variant]['steps'], runs[variant]['g_grad_norm']
    right.plot(steps, np.median(norms, axis=0), color=color, label=variant)
    right.fill_between(
        steps, norms.min(axis=0), norms.max(axis=0), color=color, alpha=0.2
    )
  right.set_yscale('log')
  right.set_xlabel('train step')
  right.set_ylabel('G gradient norm')
  right.set_title('measured in training (ring8)', fontsize=10)
  right.legend(fontsize=8)
  return _save(fig, path)


def disjoint_supports(data: Dict[str, Any], path: str) -> str:
  """Claim 4: JSD, W1 and their trained estimates against theta."""
  fig, ax = plt.subplots(figsize=(6, 3.6))
  thetas = data['thetas']
  fine = np.linspace(thetas.min(), thetas.max(), 401)
  ax.plot(
      fine,
      np.where(fine != 0, np.log(2), 0.0),
      'k-',
      label='JSD = log 2 (theta != 0)',
  )
  ax.plot(fine, np.abs(fine), 'k--', label='W1 = |theta|')
  ax.plot(
      thetas,
      data['jsd_estimate'],
      's',
      color='tab:blue',
      label='JSD from a trained D: (V + log 4) / 2',
  )
  ax.plot(
      thetas,
      data['w1_estimate'],
      'o',
      color='tab:red',
      label='WGAN-GP critic: E f(real) - E f(fake)',
  )
  ax.set_xlabel('theta (distance between the lines)')
  ax.set_title('Claim 4: disjoint supports', fontsize=10)
  ax.legend(fontsize=7)
  return _save(fig, path)


def mode_coverage(
    runs: Dict[str, Any], variants: Sequence[str], num_modes: int, path: str
) -> str:
  """Claim 5: modes covered and high-quality samples over training, mean
  and range of seeds."""
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  colors = {
      'vanilla': 'tab:red',
      'non_saturating': 'tab:blue',
      'wgan_gp': 'tab:green',
  }
  for ax, key, label in (
      (axes[0], 'modes', 'modes covered'),
      (axes[1], 'high_quality_pct', 'high-quality samples (%)'),
  ):
    for variant in variants:
      steps, values = runs[variant]['eval_steps'], runs[variant][key]
      color = colors.get(variant)
      ax.plot(
          steps,
          values.mean(axis=0),
          color=color,
          marker='o',
          markersize=3,
          label=f'{variant} (mean of {len(values)} seeds)',
      )
      ax.fill_between(
          steps, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2
      )
    ax.set_xlabel('train step')
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
  axes[0].axhline(num_modes, color='grey', linewidth=0.6, linestyle=':')
  axes[0].set_ylim(0, num_modes + 0.5)
  axes[1].set_ylim(0, 100)
  axes[0].set_title('Claim 5: mode coverage over training (ring8)', fontsize=10)
  axes[1].set_title('and the share of samples on a mode', fontsize=10)
  return _save(fig, path)


def all_paths(workdir: str) -> Dict[str, str]:
  names = (
      'optimal_discriminator',
      'game_value',
      'saturation',
      'disjoint_supports',
      'mode_coverage',
  )
  return {n: os.path.join(workdir, f'{n}.png') for n in names}
