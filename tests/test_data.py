"""The 2-D benchmark samplers."""

import jax
import numpy as np
import pytest

from experiments.configs import default
from gan_jax import config as gan_config
from gan_jax.data import TOY_DATASETS, get_toy_dataset


@pytest.mark.parametrize('name', sorted(TOY_DATASETS))
def test_shapes_and_network_scale(name):
  dataset = get_toy_dataset(name)
  x = dataset.sample(jax.random.PRNGKey(0), (3, 1000))
  assert x.shape == (3, 1000, 2)
  net = dataset.to_network(x)
  # The networks see roughly unit-sized inputs.
  assert 0.3 < float(np.std(net)) < 2.0
  np.testing.assert_allclose(dataset.from_network(net), x, rtol=1e-6)


def test_grid_centres_and_spread():
  grid = get_toy_dataset('grid25')
  assert sorted({c[0] for c in grid.centers}) == [-4, -2, 0, 2, 4]
  x = np.asarray(grid.sample(jax.random.PRNGKey(1), (20000,)))
  nearest = np.round(x / 2) * 2
  np.testing.assert_allclose(np.std(x - nearest), 0.05, rtol=0.05)


def test_unknown_dataset_lists_valid_ones():
  with pytest.raises(ValueError, match='valid: grid25, ring8, swiss_roll'):
    get_toy_dataset('mnist2')


def test_data_scale_sets_the_coordinates_the_networks_see():
  # The published protocols train in the reference code's coordinates:
  # data.scale=1 hands the networks grid25's centres at -4..4 as they are.
  config = default.get_config()
  config.data.scale = 1.0
  _, _, data = gan_config.build(config)
  x = np.asarray(data.sample(jax.random.PRNGKey(0), (1000,)))
  np.testing.assert_array_equal(np.asarray(data.to_network(x)), x)
  assert 3.5 < np.abs(x).max() < 4.5
  # 0 keeps the dataset's own, roughly unit-sized, scale.
  _, _, own = gan_config.build(default.get_config())
  assert (
      own.scale == get_toy_dataset('grid25').scale == pytest.approx(1 / 2.828)
  )


@pytest.mark.parametrize('name', sorted(TOY_DATASETS))
def test_the_picture_frames_the_data(name):
  from experiments.runner import plots

  dataset = get_toy_dataset(name)
  x = np.abs(np.asarray(dataset.sample(jax.random.PRNGKey(2), (20000,))))
  extent = plots.plot_extent(dataset)
  assert x.max() < extent < 2 * x.max() + 1  # All of it, and not lost in it.
