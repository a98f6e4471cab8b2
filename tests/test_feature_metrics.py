"""Image metrics in feature space, against closed forms and definitions."""

import itertools

import numpy as np
import pytest
import scipy.linalg

from gan_jax.metrics import feature_metrics as fm


def test_frechet_distance_of_gaussians_matches_the_closed_form():
  # Diagonal covariances: d^2 = |mu1 - mu2|^2 + sum (s1 - s2)^2 with s the
  # standard deviations.
  mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
  s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 0.5])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)
  got = fm.frechet_distance_from_moments(
      mu1, np.diag(s1**2), mu2, np.diag(s2**2)
  )
  assert got == pytest.approx(expected, rel=1e-10)
  # From samples: the estimate converges to it.
  rng = np.random.default_rng(0)
  x = mu1 + s1 * rng.standard_normal((200_000, 3))
  y = mu2 + s2 * rng.standard_normal((200_000, 3))
  assert fm.frechet_distance(x, y) == pytest.approx(expected, rel=0.01)


def test_frechet_distance_with_correlated_covariances_matches_sqrtm():
  rng = np.random.default_rng(1)
  a, b = rng.standard_normal((2, 5, 5))
  c1, c2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
  mu1, mu2 = rng.standard_normal((2, 5))
  # Independent route: scipy's general matrix square root of c1 c2.
  cross = np.real(np.trace(scipy.linalg.sqrtm(c1 @ c2)))
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * cross
  assert fm.frechet_distance_from_moments(mu1, c1, mu2, c2) == pytest.approx(
      expected, rel=1e-8
  )


def test_frechet_distance_of_a_set_with_itself_is_zero():
  x = np.random.default_rng(2).standard_normal((500, 16))
  assert abs(fm.frechet_distance(x, x)) < 1e-8


def _mmd2_by_definition(x, y):
  d = x.shape[1]
  k = lambda a, b: (a @ b / d + 1.0) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2))
  yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2))
  xy = sum(k(a, b) for a in x for b in y)
  return xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)


def test_kernel_distance_is_the_unbiased_mmd():
  rng = np.random.default_rng(3)
  x, y = rng.standard_normal((12, 4)), rng.standard_normal((12, 4)) + 0.5
  # One subset of all the points: exactly the estimator on the two sets.
  assert fm.kernel_distance(x, y, num_subsets=1) == pytest.approx(
      _mmd2_by_definition(x, y), rel=1e-4
  )


def test_kernel_distance_is_near_zero_for_one_distribution_only():
  rng = np.random.default_rng(4)
  x, y = rng.standard_normal((2, 2000, 8))
  same = fm.kernel_distance(x, y, num_subsets=20)
  shifted = fm.kernel_distance(x, y + 1.0, num_subsets=20)
  assert abs(same) < 0.01 < shifted


def test_nearest_neighbour_metrics_on_hand_made_sets():
  rng = np.random.default_rng(5)
  real = rng.standard_normal((300, 2))
  identical = fm.nearest_neighbour_metrics(real, real)
  assert identical['precision'] == identical['recall'] == 1.0
  assert identical['coverage'] == 1.0
  # Each point lies in its own ball and in the balls of the k points that
  # count it among their k nearest: (M + kM) / kM = 1 + 1/k, with k = 5.
  assert identical['density'] == pytest.approx(1.2)
  far = fm.nearest_neighbour_metrics(real, real + 100.0)
  assert far == {
      'precision': 0.0,
      'recall': 0.0,
      'density': 0.0,
      'coverage': 0.0,
  }
  # Fakes collapsed onto one real point: precise, but cover little.
  collapsed = fm.nearest_neighbour_metrics(real, np.repeat(real[:1], 300, 0))
  assert collapsed['precision'] == 1.0
  assert collapsed['coverage'] <= 10 / 300 and collapsed['recall'] < 0.1


def _nearest_neighbour_metrics_by_definition(real, fake, k):
  """The four metrics from whole distance matrices, in exact integers."""

  def kth_other(x):  # Row i's sorted distances start with itself (0).
    return np.sort(((x[:, None] - x[None]) ** 2).sum(-1), 1)[:, k]

  d = ((fake[:, None] - real[None]) ** 2).sum(-1)  # [M, N]
  in_real = d <= kth_other(real)[None]
  in_fake = d <= kth_other(fake)[:, None]
  return {
      'precision': in_real.any(1).mean(),
      'recall': in_fake.any(0).mean(),
      'density': in_real.sum() / (k * len(fake)),
      'coverage': in_real.any(0).mean(),
  }


def test_nearest_neighbour_metrics_match_their_definitions():
  # Points on a small integer grid: float32 distances are exact, and ties
  # (duplicates, equal radii) are everywhere. 1100 fakes make two blocks of
  # rows, the second padded.
  rng = np.random.default_rng(6)
  real = rng.integers(0, 5, (300, 3))
  fake = rng.integers(2, 8, (1100, 3))
  for k in (1, 5):
    expected = _nearest_neighbour_metrics_by_definition(real, fake, k)
    got = fm.nearest_neighbour_metrics(real, fake, k=k)
    assert got == pytest.approx(expected, rel=1e-6), k
    assert 0 < expected['precision'] < 1 and 0 < expected['coverage'] < 1


def test_knn_radii_are_the_kth_neighbour_distance():
  x = np.arange(10.0)[:, None]  # Points 0, 1, ..., 9 on a line.
  radii = np.asarray(fm.knn_radii(x, 2))
  expected = [4, 1, 1, 1, 1, 1, 1, 1, 1, 4]  # Squared distances.
  np.testing.assert_allclose(radii, expected)


def test_classifier_score_bounds():
  k = 10
  confident = np.eye(k)[np.arange(1000) % k]
  assert fm.classifier_score(confident) == pytest.approx(k)
  assert fm.classifier_score(np.eye(k)[np.zeros(1000, int)]) == pytest.approx(
      1.0
  )
  assert fm.classifier_score(np.full((1000, k), 1.0 / k)) == pytest.approx(1.0)


def test_class_histogram_metrics():
  uniform = fm.class_histogram_metrics(np.arange(1000) % 10, 10)
  assert uniform == {'modes': 10.0, 'mode_kl': pytest.approx(0.0)}
  # Half the mass on each of two classes out of 10: KL = log(10 / 2).
  two = fm.class_histogram_metrics(np.array([3, 7] * 50), 10)
  assert two['modes'] == 2.0
  assert two['mode_kl'] == pytest.approx(np.log(5.0))


@pytest.mark.parametrize('n,m,d', [(8, 12, 50), (30, 20, 64), (3, 40, 10)])
def test_frechet_distance_with_fewer_samples_than_dimensions(n, m, d):
  # The rank-deficient path (an [N, M] SVD) against the moments' path
  # ([d, d] eigendecompositions) on the same features.
  rng = np.random.default_rng(n)
  x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
  y = rng.normal(1.0, 2.0, size=(m, d))
  expected = fm.frechet_distance_from_moments(
      x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
  )
  assert fm.frechet_distance(x, y) == pytest.approx(expected, rel=1e-7)


def test_intra_class_frechet_distance_is_the_mean_of_per_class_closed_forms():
  # Class c: fake ~ exactly mean m_c + a fixed pattern, real the same
  # pattern shifted by s_c; the per-class FD is then |s_c|^2 (same
  # covariance), and the mean over classes their average. A class only
  # on one side is left out.
  rng = np.random.default_rng(0)
  pattern = rng.normal(size=(50, 3))
  shifts = {0: np.array([1.0, 0, 0]), 1: np.array([0, 2.0, 0]), 2: np.zeros(3)}
  fake = np.concatenate([pattern + 10 * c for c in shifts] + [pattern])
  real = np.concatenate([pattern + 10 * c + shifts[c] for c in shifts])
  fake_labels = np.repeat([0, 1, 2, 7], 50)
  real_labels = np.repeat([0, 1, 2], 50)
  mean, per_class = fm.intra_class_frechet_distance(
      fake, fake_labels, real, real_labels
  )
  np.testing.assert_allclose(
      [per_class[c] for c in (0, 1, 2)], [1.0, 4.0, 0.0], atol=1e-9
  )
  assert set(per_class) == {0, 1, 2}
  np.testing.assert_allclose(mean, 5.0 / 3.0, rtol=1e-9)
  # A G that ignores its label: the per-class distances see it, the
  # overall FD of the pooled sets does not.
  shuffled = rng.permutation(fake_labels[:150])
  mean_shuffled, _ = fm.intra_class_frechet_distance(
      fake[:150], shuffled, real, real_labels
  )
  assert mean_shuffled > 10 * mean
  with pytest.raises(ValueError, match='labels'):
    fm.intra_class_frechet_distance(fake, fake_labels[:3], real, real_labels)
