"""How right and how realistic a pair of translators is.

Translators are plain functions, ``x2y(images) -> images`` and ``y2x``, in
network coordinates (images in [-1, 1], 2-D points scaled as the networks
see them), so the same evaluator scores a trained CycleGAN, an untrained
one, the identity, or the pair's known correspondence.

Image pairs (``ImagePairEvaluator``), on the test images of each domain:

* ``cycle_x``, ``cycle_y``: E|F(G(x)) - x|, E|G(F(y)) - y| (the training
  loss's L1, in [-1, 1] units);
* pairs with a known correspondence (digits_rot): ``accuracy_x2y``, the
  digit classifier's accuracy on the inverse-transformed G(x) against x's
  label -- the translation is right when it keeps the digit -- and
  ``accuracy_y2x``, its accuracy on F(y) against y's label; and
  ``relabelled_accuracy_*``, the same under the best one-to-one relabelling
  of the digits, which tells a translator that swaps digits consistently
  (cycle consistent, and wrong) from one that scatters them;
* FD and KID of G(x) against the real Y test images, and of F(y) against
  the real X test images (``fd_x2y``, ``kid_x2y``, ``fd_y2x``,
  ``kid_y2x``): in the digit classifier's features for digits_rot (both
  sides mapped back to X by the known inverse, which the classifier reads),
  in the FID Inception network's for other pairs when its weights are
  found (``fid_*``).

2-D pairs (``PointPairEvaluator``): ``eval.points`` points of each domain
with known source modes; G(x) mapped back to X by the known inverse and
F(y) are scored as VEEGAN and PacGAN score samples (gan_jax.metrics.
mode_coverage): ``*_modes``, ``*_high_quality_pct`` (within 3 sigma of a
mode), ``*_reverse_kl``, and ``*_right_pct``, the share that is high
quality *and* at the mode its source came from; the mode histogram of G's
translations goes to the summary.
"""

from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import pairs
from gan_jax.data.on_device import DeviceImages
from gan_jax.metrics import feature_metrics, mode_coverage

Translator = Callable[[jax.Array], jax.Array]


def in_batches(
    fn: Translator, x: jax.Array, batch_size: int = 250
) -> jax.Array:
  """``fn`` over ``x`` in batches of one size (the last padded: one
  compilation). A Python loop: XLA:CPU runs convolutions inside loops many
  times slower (jax-ml/jax#12868)."""
  batch_size = min(batch_size, x.shape[0])
  count = x.shape[0]
  padded = jnp.pad(x, ((0, -count % batch_size),) + ((0, 0),) * (x.ndim - 1))
  return jnp.concatenate(
      [
          fn(padded[i : i + batch_size])
          for i in range(0, padded.shape[0], batch_size)
      ]
  )[:count]


def relabelled_accuracy(
    predicted: np.ndarray, labels: np.ndarray, num_classes: int
) -> float:
  """Accuracy under the best one-to-one relabelling of the predicted
  classes (the Hungarian algorithm on the confusion matrix): 1 when the
  translation maps every class to one class of its own, even a wrong one
  -- a cycle-consistent relabelling of the digits -- and near 1/K when it
  scatters them."""
  from scipy.optimize import linear_sum_assignment

  confusion = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(confusion, (labels, predicted), 1)
  rows, cols = linear_sum_assignment(-confusion)
  return float(confusion[rows, cols].sum() / max(len(labels), 1))


def _cycle_errors(x2y, y2x, x, y) -> Tuple[Dict[str, float], Dict[str, Any]]:
  fake_y = in_batches(x2y, x)
  fake_x = in_batches(y2x, y)
  back_x = in_batches(y2x, fake_y)
  back_y = in_batches(x2y, fake_x)
  metrics = {
      'cycle_x': float(jnp.mean(jnp.abs(back_x - x))),
      'cycle_y': float(jnp.mean(jnp.abs(back_y - y))),
  }
  return metrics, {
      'x': x,
      'g_x': fake_y,
      'f_g_x': back_x,
      'y': y,
      'f_y': fake_x,
      'g_f_y': back_y,
  }


class ImagePairEvaluator:
  """Scores translators on an image pair's test images (module docstring).

  ``features``: None, or ``images in [-1, 1] -> (features, class
  probabilities or None)`` with ``kind`` 'classifier' or 'inception'."""

  def __init__(
      self,
      pair: pairs.Pair,
      domains: pairs.ImageDomains,
      features: Optional[Callable] = None,
      kind: str = 'none',
      description: str = '',
      reference_count: int = 0,
  ):
    self.pair = pair
    self.kind = kind
    self._features = features
    self.x = DeviceImages.to_network(jnp.asarray(domains.x_test))
    self.y = DeviceImages.to_network(jnp.asarray(domains.y_test))
    self.x_labels = np.asarray(domains.x_test_labels)
    self.y_labels = np.asarray(domains.y_test_labels)
    self.description = description
    self.real_vs_real: Dict[str, float] = {}
    if features is None:
      return
    # Reference features of the real test images, in X's frame when the
    # correspondence is known (the classifier reads X).
    self._ref_x = self._read(self.x)[0]
    self._ref_y = self._read(self._to_x_frame(self.y))[0]
    if reference_count:  # Real vs real: train images against the tests.
      train_x = DeviceImages.to_network(
          jnp.asarray(domains.x_train[:reference_count])
      )
      train_y = DeviceImages.to_network(
          jnp.asarray(domains.y_train[:reference_count])
      )
      self.real_vs_real = self._distances(
          self._read(self._to_x_frame(train_y))[0], self._read(train_x)[0]
      )

  def _to_x_frame(self, y_images):
    if self.kind == 'classifier' and self.pair.y_to_x is not None:
      return self.pair.y_to_x(y_images)
    return y_images

  def _read(self, images):
    assert self._features is not None  # Called only when features are set.
    features, probs = self._features(jnp.clip(images, -1.0, 1.0))
    return np.asarray(features), (None if probs is None else np.asarray(probs))

  def _distances(self, features_x2y, features_y2x) -> Dict[str, float]:
    fd = 'fid' if self.kind == 'inception' else 'fd'
    return {
        f'{fd}_x2y': feature_metrics.frechet_distance(
            features_x2y, self._ref_y
        ),
        'kid_x2y': feature_metrics.kernel_distance(features_x2y, self._ref_y),
        f'{fd}_y2x': feature_metrics.frechet_distance(
            features_y2x, self._ref_x
        ),
        'kid_y2x': feature_metrics.kernel_distance(features_y2x, self._ref_x),
    }

  def evaluate(
      self, x2y: Translator, y2x: Translator
  ) -> Tuple[Dict[str, float], Dict[str, Any]]:
    """(metrics, the translated test images for pictures)."""
    metrics, images = _cycle_errors(x2y, y2x, self.x, self.y)
    if self._features is None:
      return metrics, images
    features_x2y, probs_x2y = self._read(self._to_x_frame(images['g_x']))
    features_y2x, probs_y2x = self._read(images['f_y'])
    if self.kind == 'classifier' and self.pair.y_to_x is not None:
      for direction, probs, labels in (
          ('x2y', probs_x2y, self.x_labels),
          ('y2x', probs_y2x, self.y_labels),
      ):
        predicted = np.argmax(probs, -1)
        metrics[f'accuracy_{direction}'] = float(np.mean(predicted == labels))
        metrics[f'relabelled_accuracy_{direction}'] = relabelled_accuracy(
            predicted, labels, probs.shape[-1]
        )
    metrics.update(self._distances(features_x2y, features_y2x))
    return metrics, images

  def protocol(self) -> Dict[str, Any]:
    return {
        'test_images': {'x': int(self.x.shape[0]), 'y': int(self.y.shape[0])},
        'features': self.kind,
        'feature_extractor': self.description,
        'real_vs_real': self.real_vs_real,
        'kid': 'unbiased MMD^2, cubic polynomial kernel, mean of 100 '
        'subsets of min(1000, n)',
    }


class PointPairEvaluator:
  """Scores translators on a 2-D pair (module docstring)."""

  def __init__(
      self, pair: pairs.Pair, num_points: int, threshold: float, rng: jax.Array
  ):
    self.pair, self.threshold = pair, threshold
    source = pair.points
    if source is None:
      raise ValueError(f'pair {pair.name!r} is not a pair of 2-D points')
    self.centers = np.asarray(source.centers, np.float32)
    self.sigma, self.scale = source.sigma, source.scale
    modes, points = [], []
    for key in jax.random.split(rng, 2):
      pick, noise = jax.random.split(key)
      index = jax.random.randint(pick, (num_points,), 0, len(self.centers))
      modes.append(np.asarray(index))
      points.append(
          self.centers[np.asarray(index)]
          + self.sigma * np.asarray(jax.random.normal(noise, (num_points, 2)))
      )
    self.x_modes, self.y_modes = modes
    self.x = jnp.asarray(points[0] * self.scale)
    # Y's points: X's distribution carried over by the correspondence.
    self.y = jnp.asarray(pairs.shear(points[1]) * self.scale)

  def _scores(
      self, points_in_x: np.ndarray, source_modes: np.ndarray, prefix: str
  ):
    stats = jax.device_get(
        mode_coverage.mode_metrics(
            jnp.asarray(points_in_x),
            jnp.asarray(self.centers),
            self.sigma,
            self.threshold,
        )
    )
    counts, high_quality = jax.device_get(
        mode_coverage.mode_counts(
            jnp.asarray(points_in_x),
            jnp.asarray(self.centers),
            self.sigma,
            self.threshold,
        )
    )
    nearest = np.argmin(
        np.sum(np.square(points_in_x[:, None] - self.centers[None]), -1), axis=1
    )
    right = np.asarray(high_quality) & (nearest == source_modes)
    metrics = {f'{prefix}_{k}': float(v) for k, v in stats.items()}
    metrics[f'{prefix}_right_pct'] = 100.0 * float(np.mean(right))
    return metrics, np.asarray(counts)

  def evaluate(
      self, x2y: Translator, y2x: Translator
  ) -> Tuple[Dict[str, float], Dict[str, Any]]:
    metrics, points = _cycle_errors(x2y, y2x, self.x, self.y)
    to_data = lambda p: np.asarray(p) / self.scale
    x2y_scores, histogram = self._scores(
        np.asarray(pairs.shear(to_data(points['g_x']), inverse=True)),
        self.x_modes,
        'x2y',
    )
    y2x_scores, _ = self._scores(to_data(points['f_y']), self.y_modes, 'y2x')
    metrics.update(x2y_scores)
    metrics.update(y2x_scores)
    points['x2y_histogram'] = histogram
    return metrics, points

  def protocol(self) -> Dict[str, Any]:
    return {
        'points': int(self.x.shape[0]),
        'threshold': self.threshold,
        'modes': 'grid25 centres; G(x) un-sheared before scoring',
    }
