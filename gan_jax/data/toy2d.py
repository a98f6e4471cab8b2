"""2-D benchmark distributions, sampled on device.

Samples come in the coordinates of the papers that define each benchmark, so
metrics compare with their tables; ``scale`` maps them to the roughly
unit-sized coordinates the networks see (``network = data * scale``), as the
WGAN-GP toy code does.

* ``grid25``: 25 Gaussians, centres {-4, -2, 0, 2, 4}^2, sigma 0.05 (VEEGAN,
  Srivastava et al. 2017; PacGAN, Lin et al. 2018).
* ``ring8``: 8 Gaussians at angles 2*pi*i/8 on the unit circle, sigma 0.01
  (PacGAN). Note 2*pi*i/8 for i < 8, not linspace(0, 2*pi, 8), which repeats
  the first centre and leaves 7 modes.
* ``swiss_roll``: scikit-learn's 2-D swiss roll with noise 0.25, as in the
  WGAN-GP toy code (no discrete modes).
"""

import dataclasses
import itertools
import math
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Toy2D:
  """A 2-D distribution that samples on device.

  Attributes:
    name: registry name.
    centers: mixture centres [M, 2] as a tuple of pairs, None for no modes.
    sigma: the mixture components' standard deviation (or the noise scale).
    scale: network coordinates = data coordinates * scale.
  """

  name: str
  centers: Optional[tuple]
  sigma: float
  scale: float

  @property
  def shape(self):
    return (2,)

  @property
  def num_modes(self) -> int:
    return 0 if self.centers is None else len(self.centers)

  def sample(self, rng: jax.Array, shape: Sequence[int]) -> jax.Array:
    """Samples of batch shape ``shape`` (trailing axis 2), data coordinates."""
    shape = tuple(shape)
    pick_rng, noise_rng = jax.random.split(rng)
    if self.centers is None:  # Swiss roll.
      t = 1.5 * math.pi * (1.0 + 2.0 * jax.random.uniform(pick_rng, shape))
      roll = jnp.stack([t * jnp.cos(t), t * jnp.sin(t)], axis=-1)
      return roll + self.sigma * jax.random.normal(noise_rng, shape + (2,))
    centers = jnp.asarray(self.centers, jnp.float32)
    index = jax.random.randint(pick_rng, shape, 0, len(self.centers))
    return centers[index] + self.sigma * jax.random.normal(
        noise_rng, shape + (2,)
    )

  def to_network(self, x: jax.Array) -> jax.Array:
    return x * self.scale

  def from_network(self, x: jax.Array) -> jax.Array:
    return x / self.scale


def _grid25() -> Toy2D:
  centers = tuple(itertools.product((-4.0, -2.0, 0.0, 2.0, 4.0), repeat=2))
  return Toy2D('grid25', centers, sigma=0.05, scale=1.0 / 2.828)


def _ring8() -> Toy2D:
  centers = tuple(
      (math.cos(2 * math.pi * i / 8), math.sin(2 * math.pi * i / 8))
      for i in range(8)
  )
  return Toy2D('ring8', centers, sigma=0.01, scale=1.414)


def _swiss_roll() -> Toy2D:
  return Toy2D('swiss_roll', None, sigma=0.25, scale=1.0 / 7.5)


TOY_DATASETS = {
    'grid25': _grid25(),
    'ring8': _ring8(),
    'swiss_roll': _swiss_roll(),
}


def get_toy_dataset(name: str) -> Toy2D:
  if name not in TOY_DATASETS:
    raise ValueError(
        f'unknown dataset {name!r}; valid: {", ".join(TOY_DATASETS)}'
    )
  return TOY_DATASETS[name]


def density_grid(
    dataset: Toy2D,
    extent: float,
    resolution: int = 200,
    rng: Optional[jax.Array] = None,
) -> np.ndarray:
  """The data density on a [-extent, extent]^2 grid, rows indexed by y.

  Exact for the Gaussian mixtures; a histogram of 200,000 samples for the
  swiss roll. For plots only.
  """
  edges = np.linspace(-extent, extent, resolution + 1)
  if dataset.centers is None:
    x = np.asarray(
        dataset.sample(
            jax.random.PRNGKey(0) if rng is None else rng, (200_000,)
        )
    )
    hist, _, _ = np.histogram2d(
        x[:, 1], x[:, 0], bins=(edges, edges), density=True
    )
    return hist
  mids = (edges[:-1] + edges[1:]) / 2
  xx, yy = np.meshgrid(mids, mids)
  centers = np.asarray(dataset.centers)
  sq = (xx[..., None] - centers[:, 0]) ** 2 + (
      yy[..., None] - centers[:, 1]
  ) ** 2
  var = dataset.sigma**2
  return np.mean(np.exp(-sq / (2 * var)), axis=-1) / (2 * np.pi * var)
