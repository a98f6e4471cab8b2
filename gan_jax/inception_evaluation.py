"""Evaluation of an image generator in the FID Inception network's features,
the numbers papers report.

The protocol, as pytorch-fid, torch-fidelity and StudioGAN compute it and
recorded in every summary (:meth:`InceptionEvaluator.protocol`):

* generated images clipped to [-1, 1] and quantised to uint8 as they would
  be saved, a single channel repeated to three, then the FID Inception-v3
  (:mod:`gan_jax.metrics.inception`: TF1 bilinear resize to 299);
* FID and KID of the pool3 features (2048) against the *train* split's
  pool3 features, precision and recall (k = 5), and the Inception score of
  the generated images' logits (10 splits);
* ``n`` generated images against ``n`` train images, where ``n`` is the
  dataset's usual protocol (:data:`PROTOCOLS`: CIFAR-10 and CelebA 50,000,
  as SNGAN, compare_gan and StudioGAN report them), capped at
  :data:`CPU_SAMPLES` on a CPU, where 50,000 images take over an hour
  (docs/images.md), and at the split's size. FID is biased upward at
  small n: compare numbers at the same n only.

The train split's features are computed once and cached beside the data
(``<data dir>/gan_jax_reference_features/``), keyed by dataset, split,
count and the weights' digest, sealed with their own SHA-256
(gan_jax.cache_files: a damaged cache is set aside and computed again).
"""

import io
import os
from typing import Any, Callable, Dict, NamedTuple, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import cache_files
from gan_jax.data import images as image_data
from gan_jax.data.on_device import DeviceImages
from gan_jax.metrics import feature_metrics, inception, inception_weights

REFERENCE_CACHE = 'gan_jax_reference_features'
CPU_SAMPLES = 10_000  # The cap on a CPU: ~15 min at ~11 images/s.
DEFAULT_SAMPLES = 10_000  # Datasets without a usual protocol.
SPLITS = 10  # Inception score splits, as the reference code.


class Protocol(NamedTuple):
  """The usual FID protocol of a dataset: generated images against as many
  of the reference split's images."""

  num_samples: int
  reference_split: str
  source: str


PROTOCOLS = {
    'cifar10': Protocol(
        50_000,
        'train',
        'SNGAN (Miyato et al. 2018), '
        'compare_gan, StudioGAN: 50k vs the train split',
    ),
    'celeb_a': Protocol(
        50_000, 'train', 'StudioGAN, compare_gan: 50k vs the train split'
    ),
}


def usual_protocol(dataset: str) -> Protocol:
  return PROTOCOLS.get(
      dataset,
      Protocol(
          DEFAULT_SAMPLES,
          image_data.IMAGE_SOURCES[dataset].train_split,
          'no published protocol: 10k vs the train split',
      ),
  )


def default_num_samples(dataset: str, platform: str) -> Tuple[int, str]:
  """The usual sample count of ``dataset``, capped on a CPU, and a note
  saying so where it was capped ('' otherwise)."""
  usual = usual_protocol(dataset).num_samples
  if platform == 'cpu' and usual > CPU_SAMPLES:
    return CPU_SAMPLES, (
        f'{CPU_SAMPLES} samples instead of the usual '
        f'{usual}: the Inception network reads about 11 '
        'images a second on a 2-core CPU (docs/images.md)'
    )
  return usual, ''


def to_uint8_rgb(images) -> np.ndarray:
  """Images in [-1, 1] (generated; clipped) or uint8 (data) -> uint8 RGB
  [N, H, W, 3], as they would be saved and read back."""
  images = np.asarray(images)
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(
        f'images of shape {images.shape}: expected [N, H, W, 1 or 3]'
    )
  if images.dtype != np.uint8:
    if not np.issubdtype(images.dtype, np.floating):
      raise ValueError(
          f'images of dtype {images.dtype}: expected floats '
          'in [-1, 1] or uint8'
      )
    pixels = DeviceImages.from_network(jnp.asarray(images, jnp.float32))
    images = np.round(np.asarray(pixels)).astype(np.uint8)
  if images.shape[-1] == 1:
    images = np.repeat(images, 3, axis=-1)
  return images


def inception_features(
    variables,
    images: np.ndarray,
    batch_size: int,
    advance: Callable[[int], None] = lambda n: None,
) -> Dict[str, np.ndarray]:
  """pool3 and logits_unbiased of uint8 RGB images, in batches of
  ``batch_size`` (the last padded: one compilation)."""
  out: Dict[str, list] = {'pool3': [], 'logits_unbiased': []}
  for start in range(0, len(images), batch_size):
    batch = images[start : start + batch_size]
    padded = np.concatenate(
        [batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), np.uint8)]
    )
    got = jax.device_get(inception.features(variables, jnp.asarray(padded)))
    for name in out:
      out[name].append(got[name][: len(batch)])
    advance(len(batch))
  return {name: np.concatenate(parts) for name, parts in out.items()}


def reference_features(
    dataset: str,
    split: str,
    count: int,
    data_dir: str,
    variables,
    digest: str,
    batch_size: int,
    advance: Callable[[int], None] = lambda n: None,
    announce: Callable[[str], None] = cache_files.to_stderr,
) -> np.ndarray:
  """pool3 of the first ``count`` images of ``split``, cached under
  ``data_dir`` (written whole or not at all, also by several writers) and
  sealed with its SHA-256: a damaged cache is set aside and computed again,
  with a ``warning:`` to ``announce`` (gan_jax.cache_files.load)."""
  path = os.path.join(
      data_dir,
      REFERENCE_CACHE,
      f'{dataset}_{split}_{count}_inception_{digest[:16]}_'
      'tf1bilinear299.npy',
  )
  what = f'the cached {dataset}/{split} Inception features'

  def read(sealed: bool) -> np.ndarray:
    del sealed  # Damage that parses and keeps the shape is not seen unsealed.
    pool3 = np.load(path, allow_pickle=False)
    if pool3.shape != (count, 2048) or not np.all(np.isfinite(pool3)):
      raise ValueError(
          f'{pool3.dtype}{list(pool3.shape)} with '
          f'{np.size(pool3) - np.count_nonzero(np.isfinite(pool3))} '
          f'non-finite values, expected {count} x 2048 finite numbers'
      )
    return pool3

  cached, writable = cache_files.load([path], read, what, announce)
  if cached is not None:
    advance(count)
    return cached
  images, _ = image_data.load_split(dataset, split, data_dir, limit=count)
  pool3 = inception_features(
      variables, to_uint8_rgb(images), batch_size, advance
  )['pool3']
  if writable:
    payload = io.BytesIO()
    np.save(payload, pool3)
    cache_files.save([(path, payload.getvalue())], what, announce)
  return pool3


class InceptionEvaluator:
  """Holds the network and the reference features; :meth:`evaluate` scores
  a generator (see the module docstring). Build it with :func:`build`."""

  def __init__(
      self,
      variables,
      weights_path: str,
      digest: str,
      reference: np.ndarray,
      reference_description: str,
      batch_size: int,
  ):
    self.num_samples = len(reference)
    self._variables, self._reference = variables, reference
    self._radii = feature_metrics.knn_radii(jnp.asarray(reference), 5)
    self._batch_size = batch_size
    self._protocol = {
        'num_samples': self.num_samples,
        'reference': reference_description,
        'feature_extractor': 'FID Inception-v3 (2015-12-05 TF graph), '
        'pool3 2048',
        'weights': os.path.abspath(weights_path),
        'weights_sha256': digest,
        'standard_weights': digest.startswith(inception_weights.SHA256_PREFIX),
        'resize': 'TF1 bilinear to 299x299 (align_corners=False), from '
        'uint8 images; one channel repeated to RGB',
        'knn_k': 5,
        'kid': 'unbiased MMD^2, cubic polynomial kernel, mean of 100 '
        'subsets of min(1000, n)',
        'inception_score': f'{min(SPLITS, self.num_samples)} splits, '
        'logits without bias',
    }

  def evaluate(
      self,
      generate: Callable[[jax.Array, int], jax.Array],
      rng: jax.Array,
      advance: Callable[[int], None] = lambda n: None,
  ) -> Tuple[Dict[str, float], np.ndarray]:
    """Metrics of ``generate(rng, count)`` (images in [-1, 1]) and the
    images as uint8 RGB."""
    images = to_uint8_rgb(jax.device_get(generate(rng, self.num_samples)))
    got = inception_features(self._variables, images, self._batch_size, advance)
    score, score_std = feature_metrics.inception_score(
        got['logits_unbiased'], min(SPLITS, self.num_samples)
    )
    knn = feature_metrics.nearest_neighbour_metrics(
        self._reference, got['pool3'], real_radii=self._radii
    )
    return {
        'fid': feature_metrics.frechet_distance(got['pool3'], self._reference),
        'kid': feature_metrics.kernel_distance(got['pool3'], self._reference),
        'inception_score': score,
        'inception_score_std': score_std,
        'precision': knn['precision'],
        'recall': knn['recall'],
    }, images

  def protocol(self, dataset: str) -> Dict[str, Any]:
    del dataset  # Named in the reference already.
    return dict(self._protocol)


def build(
    dataset: str,
    data_dir: str,
    weights_path: str,
    num_samples: int,
    batch_size: int,
    any_weights: bool = False,
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
) -> InceptionEvaluator:
  """An evaluator of ``min(num_samples, split size)`` images against the
  dataset's reference split, the weights read from ``weights_path``
  (their SHA-256 checked unless ``any_weights``; BadWeights if wrong).
  ``progress(total, what)`` returns a callback told how many reference
  images were read."""
  variables, digest = inception_weights.load_variables(
      weights_path, None if any_weights else inception_weights.SHA256_PREFIX
  )
  split = usual_protocol(dataset).reference_split
  available = len(image_data.RecordReader(dataset, split, data_dir))
  n = min(num_samples, available)
  reference = reference_features(
      dataset,
      split,
      n,
      data_dir,
      variables,
      digest,
      batch_size,
      progress(n, f'{dataset}/{split} features'),
  )
  return InceptionEvaluator(
      variables,
      weights_path,
      digest,
      reference,
      f'{dataset}/{split}, {n} of {available} images (pool3 cached under '
      f'the data dir, {REFERENCE_CACHE}/)',
      batch_size,
  )


def default_batch_size(platform: str) -> int:
  """Images per Inception call: 50 on a CPU (no gain beyond), 250 on an
  accelerator (~10 GB of activations at 299x299)."""
  return 50 if platform == 'cpu' else 250
