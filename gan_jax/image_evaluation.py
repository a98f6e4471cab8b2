"""Evaluation of an image generator against held-out data.

The protocol, recorded in every summary (:meth:`ImageEvaluator.protocol`):

* features and class probabilities from a classifier trained on the
  dataset's own train split (:mod:`gan_jax.metrics.classifier`); on
  ``stacked_digits`` the ``digits`` classifier reads each channel, features
  are the three channels' features side by side and the class of an image is
  its three digits (as Stacked MNIST is counted with an MNIST classifier);
* ``n = min(eval.num_samples, held-out size)`` generated images against the
  first ``n`` held-out images (a fixed random subset): Frechet distance, KID,
  precision/recall, density/coverage; the classifier score of the generated
  images; modes hit and KL(mode histogram || uniform) over
  ``max(n, eval.mode_samples)`` generated images;
* the same metrics for ``n`` train images against the same held-out images:
  the real-vs-real value, which is the best a generator can be expected to do
  at this sample size (Frechet distance and KID are biased upward for small
  n, and the train split is not the held-out one);
* a conditional G: the intra-class Frechet distance ``intra_fd``, the mean
  over classes of the distance between G's images of class c and the
  held-out images of class c (as many of each class as the held-out set
  has), and its real-vs-real value from the train images of each class.
"""

from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data import images as image_data
from gan_jax.evaluation import generate
from gan_jax.metrics import classifier as gan_classifier
from gan_jax.metrics import feature_metrics

STACKED = 'stacked_digits'


class FeatureExtractor(NamedTuple):
  """Images in [-1, 1] -> (features [N, F], class probabilities [N, K])."""

  classifier: gan_classifier.Classifier
  per_channel: bool  # stacked_digits: the digit classifier on each channel.
  description: str
  accuracy: float  # Held-out accuracy on this dataset's own classes.

  def __call__(self, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    if not self.per_channel:
      return self.classifier(x)
    outputs = [self.classifier(x[..., c : c + 1]) for c in range(x.shape[-1])]
    features = jnp.concatenate([f for f, _ in outputs], axis=-1)
    p0, p1, p2 = (p for _, p in outputs)
    # Channels are read independently: p(a, b, c) = p(a) p(b) p(c), mode
    # index 100 a + 10 b + c.
    joint = jnp.einsum('na,nb,nc->nabc', p0, p1, p2)
    return features, joint.reshape((x.shape[0], -1))


def build_feature_extractor(
    name: str, data_dir: str, settings=gan_classifier.TrainSettings()
) -> FeatureExtractor:
  """The cached (or newly trained) classifier for dataset ``name``."""
  base = 'digits' if name == STACKED else name
  source = image_data.image_source(base)
  train = image_data.load_split(base, source.train_split, data_dir)
  held_out = image_data.load_split(base, source.held_out_split, data_dir)
  classifier = gan_classifier.load_or_train(
      base, data_dir, source.num_classes, train, held_out, settings
  )
  extractor = FeatureExtractor(
      classifier,
      name == STACKED,
      f'{base} classifier (3 conv + 128-unit feature layer), trained on '
      f'{base}/{source.train_split}'
      + (', applied to each channel' if name == STACKED else ''),
      classifier.accuracy,
  )
  if name == STACKED:
    images, labels = image_data.load_split(STACKED, 'test', data_dir)
    _, probs = extractor(gan_classifier.to_network(jnp.asarray(images)))
    joint = float(np.mean(np.argmax(np.asarray(probs), -1) == labels))
    extractor = extractor._replace(accuracy=joint)
  return extractor


def _metrics(
    reference: np.ndarray,
    reference_radii: jax.Array,
    features: np.ndarray,
    probs: np.ndarray,
    mode_probs: np.ndarray,
) -> Dict[str, float]:
  results = {
      'fd': feature_metrics.frechet_distance(features, reference),
      'kid': feature_metrics.kernel_distance(features, reference),
      **feature_metrics.nearest_neighbour_metrics(
          reference, features, real_radii=reference_radii
      ),
      'classifier_score': feature_metrics.classifier_score(probs),
  }
  results.update(
      feature_metrics.class_histogram_metrics(
          np.argmax(mode_probs, -1), mode_probs.shape[-1]
      )
  )
  return results


class ImageEvaluator:
  """Holds the reference features and the real-vs-real values, computed
  once; :meth:`evaluate` scores a generator (see the module docstring)."""

  def __init__(
      self,
      extractor: FeatureExtractor,
      held_out: np.ndarray,
      train: np.ndarray,
      num_samples: int,
      mode_samples: int,
      held_out_labels: Optional[np.ndarray] = None,
      train_labels: Optional[np.ndarray] = None,
  ):
    """With ``held_out_labels`` and ``train_labels`` (a conditional G),
    :meth:`evaluate` also gives the intra-class distance."""
    self.extractor = extractor
    self.num_samples = min(num_samples, len(held_out), len(train))
    self.mode_samples = max(self.num_samples, mode_samples)
    self.held_out_size = len(held_out)
    self._reference = self._features(held_out[: self.num_samples])[0]
    self._radii = feature_metrics.knn_radii(jnp.asarray(self._reference), 5)
    self._reference_labels = None
    if held_out_labels is not None:
      self._reference_labels = np.asarray(held_out_labels[: self.num_samples])
    # Real vs real: train images in place of generated ones.
    rng = np.random.default_rng(0)
    pick = rng.choice(
        len(train), min(self.mode_samples, len(train)), replace=False
    )
    features, probs = self._features(train[pick])
    self.real_vs_real = _metrics(
        self._reference,
        self._radii,
        features[: self.num_samples],
        probs[: self.num_samples],
        probs,
    )
    if self._reference_labels is not None and train_labels is not None:
      self.real_vs_real['intra_fd'] = (
          feature_metrics.intra_class_frechet_distance(
              features,
              np.asarray(train_labels)[pick],
              self._reference,
              self._reference_labels,
          )[0]
      )

  def _features(self, images_uint8: np.ndarray):
    features, probs = self.extractor(
        gan_classifier.to_network(jnp.asarray(images_uint8))
    )
    return np.asarray(features), np.asarray(probs)

  def evaluate(
      self,
      generate: Callable[[jax.Array, int], jax.Array],
      rng: jax.Array,
      generate_class: Optional[
          Callable[[jax.Array, int, int], jax.Array]
      ] = None,
  ) -> Tuple[Dict[str, float], jax.Array]:
    """Metrics of ``generate(rng, count)`` (images in [-1, 1]; values
    outside are clipped) and the images themselves; with
    ``generate_class(rng, count, label)`` (a conditional G) and the
    held-out labels, also ``intra_fd``."""
    # As they would be shown or saved: a G without a final tanh may step
    # outside [-1, 1], where the classifier's features mean nothing.
    samples = jnp.clip(generate(rng, self.mode_samples), -1.0, 1.0)
    features, probs = jax.device_get(self.extractor(samples))
    n = self.num_samples
    results = _metrics(
        self._reference, self._radii, features[:n], probs[:n], probs
    )
    if generate_class is not None and self._reference_labels is not None:
      results['intra_fd'] = intra_class_distance(
          lambda x: np.asarray(self.extractor(jnp.clip(x, -1.0, 1.0))[0]),
          generate_class,
          rng,
          self._reference,
          self._reference_labels,
      )
    return results, samples

  def protocol(self, dataset: str) -> Dict[str, Any]:
    return {
        'num_samples': self.num_samples,
        'mode_samples': self.mode_samples,
        'reference': f'{dataset} held-out split, {self.num_samples} of '
        f'{self.held_out_size} images',
        'feature_extractor': self.extractor.description,
        'feature_extractor_held_out_accuracy': self.extractor.accuracy,
        'knn_k': 5,
        'kid': 'unbiased MMD^2, cubic polynomial kernel, mean of 100 subsets '
        'of min(1000, n)',
        'real_vs_real': self.real_vs_real,
    }


def intra_class_distance(
    features_of: Callable[[jax.Array], np.ndarray],
    generate_class: Callable[[jax.Array, int, int], jax.Array],
    rng: jax.Array,
    reference: np.ndarray,
    reference_labels: np.ndarray,
) -> float:
  """The intra-class Frechet distance (Miyato & Koyama 2018; StudioGAN's
  iFID): ``generate_class(key, count, c)`` images of each reference class
  c, as many as the reference has of c, their ``features_of`` against the
  reference features of class c, then the mean over classes. Each class
  draws with its own key, folded from ``rng``; every class generates the
  largest class's count (one batch size, one compilation) and keeps the
  first ones (a file of samples may hold fewer: those it holds)."""
  classes, counts = np.unique(np.asarray(reference_labels), return_counts=True)
  most = int(counts.max())
  fake, fake_labels = [], []
  for c, count in zip(classes.tolist(), counts.tolist()):
    images = generate_class(jax.random.fold_in(rng, c + 1), most, c)
    if len(images) == 0:  # A file of samples without this class.
      continue
    # Features of all ``most`` (one shape: one compilation), then the first.
    fake.append(features_of(images)[:count])
    fake_labels.append(np.full(len(fake[-1]), c))
  return feature_metrics.intra_class_frechet_distance(
      np.concatenate(fake),
      np.concatenate(fake_labels),
      reference,
      reference_labels,
  )[0]


def generate_images(
    spec,
    state,
    rng: jax.Array,
    count: int,
    labels: Optional[jax.Array] = None,
    batch_size: int = 500,
) -> jax.Array:
  """``count`` images in [-1, 1] from G in inference mode (EMA params when
  kept), in batches of one jitted call each; a conditional G gets labels
  drawn from ``labels`` (the train labels: the data's class frequencies).
  Outputs are clipped to [-1, 1], the range an image file holds: StyleGAN2's
  are linear, and a metric must not score values no picture can show.

  A Python loop rather than lax.map: XLA:CPU runs convolutions inside loop
  bodies many times slower (jax-ml/jax#12868).
  """
  batch_size = min(batch_size, count)
  keys = jax.random.split(rng, -(-count // batch_size))
  batches = [
      _generate_batch(spec, state, key, labels, batch_size) for key in keys
  ]
  return jnp.concatenate(batches)[:count]


@jax.jit(static_argnums=(0, 4))
def _generate_batch(spec, state, key, labels, batch_size):
  z_key, label_key = jax.random.split(key)
  batch_labels = None
  if labels is not None:
    batch_labels = labels[
        jax.random.randint(label_key, (batch_size,), 0, labels.shape[0])
    ]
  images = generate(spec, state, z_key, batch_size, batch_labels)
  return jnp.clip(images, -1.0, 1.0)
