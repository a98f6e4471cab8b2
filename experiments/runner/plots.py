"""Pictures of generated 2-D samples over the data density."""

import functools
import math
from typing import Mapping

import matplotlib

matplotlib.use('Agg')  # Files only; never needs a display.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gan_jax.data import Toy2D  # noqa: E402
from gan_jax.data.toy2d import density_grid  # noqa: E402


def plot_extent(dataset: Toy2D) -> float:
  """Half-width of a square view around the data (data coordinates)."""
  # The swiss roll's radius reaches 4.5 pi (gan_jax.data.toy2d).
  return (
      1.05 * (4.5 * math.pi + 3 * dataset.sigma)
      if dataset.centers is None
      else (1.25 * float(np.max(np.abs(np.asarray(dataset.centers)))) + 0.75)
  )


@functools.lru_cache(maxsize=8)
def _density_shade(dataset: Toy2D, extent: float) -> np.ndarray:
  """The background of every scatter plot of ``dataset``: computed once
  (~30 ms for a mixture, more for the swiss roll's histogram), not per
  picture."""
  density = density_grid(dataset, extent)
  shade = np.sqrt(density / density.max())
  shade.setflags(write=False)  # Shared by every picture.
  return shade


def draw_samples(
    ax, samples: np.ndarray, dataset: Toy2D, title: str, threshold: float = 3.0
) -> None:
  """On ``ax``: the data density as a heat map, each mode's high-quality
  region (``threshold`` sigma) as a circle, the samples as dots."""
  extent = plot_extent(dataset)
  ax.imshow(
      _density_shade(dataset, extent),
      origin='lower',
      cmap='Greys',
      extent=(-extent, extent, -extent, extent),
  )
  for center in dataset.centers or ():
    ax.add_patch(
        plt.Circle(
            center,
            threshold * dataset.sigma,
            fill=False,
            color='tab:blue',
            linewidth=0.6,
        )
    )
  ax.scatter(
      samples[:, 0], samples[:, 1], s=2, c='tab:orange', alpha=0.6, linewidths=0
  )
  ax.set_xlim(-extent, extent)
  ax.set_ylim(-extent, extent)
  ax.set_title(title, fontsize=9)
  ax.set_aspect('equal')


def samples_title(
    dataset: Toy2D, step: int, metrics: Mapping[str, float]
) -> str:
  shown = ', '.join(
      f'{k} {v:.3g}'
      for k, v in metrics.items()
      if k in ('modes', 'high_quality_pct', 'reverse_kl')
  )
  return f'{dataset.name}, step {step}' + (f'\n{shown}' if shown else '')


def save_samples(
    path: str,
    samples: np.ndarray,
    dataset: Toy2D,
    step: int,
    metrics: Mapping[str, float],
    threshold: float = 3.0,
) -> None:
  """Writes a PNG of :func:`draw_samples`."""
  fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
  draw_samples(
      ax, samples, dataset, samples_title(dataset, step, metrics), threshold
  )
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def image_grid(
    images: np.ndarray, columns: int, scale: int = 1, border: int = 1
) -> np.ndarray:
  """uint8 images [N, H, W, C] as one uint8 picture [rows*(H+b), ...,
  3], row-major, each image enlarged ``scale`` times (nearest neighbour),
  grey images shown as grey."""
  images = np.asarray(images, np.uint8)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  images = images.repeat(scale, axis=1).repeat(scale, axis=2)
  count, height, width, _ = images.shape
  rows = -(-count // columns)
  grid = np.full(
      (
          rows * (height + border) + border,
          columns * (width + border) + border,
          3,
      ),
      255,
      np.uint8,
  )
  for index, image in enumerate(images):
    top = border + (index // columns) * (height + border)
    left = border + (index % columns) * (width + border)
    grid[top : top + height, left : left + width] = image
  return grid


def save_image_grid(path: str, grid: np.ndarray) -> None:
  """Writes a uint8 [H, W, 3] picture as PNG."""
  plt.imsave(path, grid)
