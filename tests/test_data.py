"""The 2-D benchmark samplers."""

import jax
import numpy as np
import pytest

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
