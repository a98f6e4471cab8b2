"""A sweep's figures (PNG, under <sweep>/figures/):

* ``curves.png``: each evaluation metric over training, a line per setting
  (mean over its completed seeds) and a band from the lowest to the highest
  seed;
* ``g_grad_norm.png``: the norm of G's gradient over training, the same way
  (log scale): the saturating game's vanishing gradient, visible;
* ``samples.png``: the final samples of each setting's first completed seed
  (2-D scatter over the data density, or the image grid).
"""

import math
import os
from typing import Any, Dict, List, Mapping, Sequence

import numpy as np

from experiments.runner import plots
from experiments.storage import writers
from experiments.runner.plots import plt
from experiments.sweeps.results import metric_names
from gan_jax.data import is_image_dataset, get_toy_dataset

CURVE_METRICS = (
    'modes',
    'high_quality_pct',
    'reverse_kl',
    'fd',
    'fid',
    'inception_score',
    'precision',
    'recall',
)
MARKED_POINTS = 12  # curves with at most this many points show each one
SIDE_STEP = 0.02  # one-evaluation bars of the settings, this far apart (of x)


def setting_label(summary: Mapping[str, Any]) -> str:
  swept = ', '.join(
      f'{k.split(".")[-1]}={v}' for k, v in summary['swept'].items()
  )
  return summary['variant'] + (f' ({swept})' if swept else '')


def _by_setting(summaries) -> Dict[str, List[Mapping[str, Any]]]:
  settings: Dict[str, List[Mapping[str, Any]]] = {}
  for s in summaries:
    settings.setdefault(setting_label(s), []).append(s)
  return settings


def _series(summaries, split: str, metric: str):
  """steps [T] and values [runs, T] of ``metric`` over the completed runs
  (only the steps every run logged)."""
  curves = []
  for s in summaries:
    if s['status'] != 'completed':
      continue
    records = [
        r
        for r in writers.read_metrics(s['workdir'])
        if r['split'] == split and r.get(metric) is not None
    ]
    curves.append({r['step']: r[metric] for r in records})
  if not curves:
    return None, None
  steps = sorted(set.intersection(*(set(c) for c in curves)))
  return np.array(steps), np.array([[c[t] for t in steps] for c in curves])


def _band_plot(ax, summaries, split: str, metric: str, log: bool = False):
  settings = _by_setting(summaries)
  single_steps = set()
  for index, (label, members) in enumerate(settings.items()):
    steps, values = _series(members, split, metric)
    if steps is None or not len(steps):
      continue
    # A short sweep may evaluate only once or twice: a bare line of so few
    # points draws nothing, so each point is marked and a one-step band is a
    # vertical bar, each setting's a little aside so that none hides another
    # (the tick stays at the step).
    few = len(steps) <= MARKED_POINTS
    if len(steps) == 1:
      single_steps.add(int(steps[0]))
      steps = steps * (1 + SIDE_STEP * (index - (len(settings) - 1) / 2))
    (line,) = ax.plot(
        steps,
        values.mean(axis=0),
        label=label,
        linewidth=1.2,
        marker='o' if few else None,
        markersize=3,
    )
    if len(steps) > 1:
      ax.fill_between(
          steps,
          values.min(axis=0),
          values.max(axis=0),
          color=line.get_color(),
          alpha=0.2,
          linewidth=0,
      )
    else:
      ax.vlines(
          steps,
          values.min(axis=0),
          values.max(axis=0),
          color=line.get_color(),
          alpha=0.4,
          linewidth=4,
      )
  if single_steps:
    ax.set_xticks(sorted(single_steps))
  ax.set_xlabel('G step')
  ax.set_title(metric, fontsize=10)
  if log:
    ax.set_yscale('log')


def save_curves(path: str, summaries: Sequence[Mapping[str, Any]]) -> None:
  metrics = [m for m in CURVE_METRICS if m in metric_names(summaries)]
  if not metrics:
    return
  fig, axes = plt.subplots(
      1, len(metrics), figsize=(4.2 * len(metrics), 3.6), dpi=100, squeeze=False
  )
  for ax, metric in zip(axes[0], metrics):
    _band_plot(ax, summaries, 'eval', metric)
  if axes[0][-1].get_legend_handles_labels()[0]:  # Else matplotlib warns.
    axes[0][-1].legend(fontsize=7, loc='best')
  fig.suptitle(
      'Evaluation over training: mean over seeds, band from the '
      'lowest to the highest seed',
      fontsize=10,
  )
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def save_grad_norms(path: str, summaries: Sequence[Mapping[str, Any]]) -> None:
  fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
  _band_plot(ax, summaries, 'train', 'g_grad_norm', log=True)
  ax.set_title(
      "||grad of G's loss|| (mean of each logged interval)", fontsize=10
  )
  if ax.get_legend_handles_labels()[0]:  # Else matplotlib warns.
    ax.legend(fontsize=7, loc='best')
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def _final_picture(summary: Mapping[str, Any]):
  """The run's final samples: an array of 2-D points, or an image."""
  stem = os.path.join(summary['workdir'], f"samples_{summary['step']:07d}")
  if os.path.exists(stem + '.npy'):
    return np.load(stem + '.npy')
  if os.path.exists(stem + '.png'):
    return plt.imread(stem + '.png')
  return None


def save_sample_panel(
    path: str,
    summaries: Sequence[Mapping[str, Any]],
    dataset_name: str,
    threshold: float,
) -> None:
  chosen = []
  for label, members in _by_setting(summaries).items():
    done = [s for s in members if s['status'] == 'completed']
    if done:
      chosen.append((label, done[0]))
  if not chosen:
    return
  columns = min(4, len(chosen))
  rows = math.ceil(len(chosen) / columns)
  fig, axes = plt.subplots(
      rows, columns, figsize=(3.6 * columns, 3.8 * rows), dpi=100, squeeze=False
  )
  for ax in axes.flat:
    ax.axis('off')
  for ax, (label, summary) in zip(axes.flat, chosen):
    picture = _final_picture(summary)
    title = f"{label}\nseed {summary['seed']}, step {summary['step']}"
    if picture is None:
      continue
    if is_image_dataset(dataset_name):
      ax.imshow(picture)
      ax.set_title(title, fontsize=8)
    else:
      ax.axis('on')
      final = summary['final_eval']
      plots.draw_samples(
          ax,
          picture,
          get_toy_dataset(dataset_name),
          title
          + '\n'
          + ', '.join(
              f'{k} {final[k]:.3g}'
              for k in ('modes', 'high_quality_pct')
              if k in final
          ),
          threshold,
      )
      ax.tick_params(labelsize=6)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def save_figures(
    directory: str,
    summaries: Sequence[Mapping[str, Any]],
    dataset_name: str,
    threshold: float,
) -> List[str]:
  """Writes every figure; returns their paths."""
  os.makedirs(directory, exist_ok=True)
  paths = [
      os.path.join(directory, name)
      for name in ('curves.png', 'g_grad_norm.png', 'samples.png')
  ]
  save_curves(paths[0], summaries)
  save_grad_norms(paths[1], summaries)
  save_sample_panel(paths[2], summaries, dataset_name, threshold)
  return [p for p in paths if os.path.exists(p)]
