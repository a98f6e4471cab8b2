"""Evaluation of an image generator in the FID Inception network's features,
the numbers papers report.

The protocol, as torch-fidelity and StudioGAN compute it (pytorch-fid
too, but for its resize: ``'pytorch'`` below) and recorded in every summary (:meth:`InceptionEvaluator.protocol`):

* generated images clipped to [-1, 1] and quantised to uint8 as they would
  be saved, a single channel repeated to three, then the FID Inception-v3
  (:mod:`gan_jax.metrics.inception`), its input resized to 299 and scaled
  as TTUR and torch-fidelity do (``eval.inception.resize='tensorflow'``,
  the default), as pytorch-fid does (``'pytorch'``) or as clean-fid does
  (``'clean'``): the mode is recorded in the protocol;
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
count, the weights' digest and the resize mode, sealed with their own
SHA-256 (gan_jax.cache_files: a damaged cache is set aside and computed
again). A statistics file (``mu``, ``sigma``: pytorch-fid's and clean-fid's
layout) can stand in for the features as FID's reference
(:func:`read_reference_stats`; KID, precision and recall are then not
reported), and :func:`write_reference_stats` writes one.
"""

import io
import os
from typing import Any, Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import cache_files, image_evaluation
from gan_jax.data import images as image_data
from gan_jax.data.on_device import DeviceImages
from gan_jax.metrics import feature_metrics, inception, inception_weights

REFERENCE_CACHE = 'gan_jax_reference_features'
CPU_SAMPLES = 10_000  # The cap on a CPU: ~15 min at ~11 images/s.
DEFAULT_SAMPLES = 10_000  # Datasets without a usual protocol.
SPLITS = 10  # Inception score splits, as the reference code.
# The reference features' cache name per preprocessing mode ('tensorflow'
# keeps the name it had before the modes).
CACHE_SUFFIXES = {
    'tensorflow': 'tf1bilinear299',
    'pytorch': 'ptbilinear299',
    'clean': 'pilbicubic299',
}


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
          image_data.image_source(dataset).train_split,
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
    resize: str = 'tensorflow',
) -> Dict[str, np.ndarray]:
  """pool3 and logits_unbiased of uint8 RGB images, in batches of
  ``batch_size`` (the last padded: one compilation), preprocessed as
  ``resize`` says (gan_jax.metrics.inception.RESIZE_MODES)."""
  out: Dict[str, list] = {'pool3': [], 'logits_unbiased': []}
  for start in range(0, len(images), batch_size):
    batch = images[start : start + batch_size]
    padded = np.concatenate(
        [batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), np.uint8)]
    )
    got = jax.device_get(
        inception.features(variables, jnp.asarray(padded), resize)
    )
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
    resize: str = 'tensorflow',
) -> np.ndarray:
  """pool3 of the first ``count`` images of ``split`` (preprocessed as
  ``resize`` says; the mode is part of the cache's name), cached under
  ``data_dir`` (written whole or not at all, also by several writers) and
  sealed with its SHA-256: a damaged cache is set aside and computed again,
  with a ``warning:`` to ``announce`` (gan_jax.cache_files.load)."""
  path = os.path.join(
      data_dir,
      REFERENCE_CACHE,
      f'{image_data.file_label(dataset)}_{split}_{count}_inception_'
      f'{digest[:16]}_'
      f'{CACHE_SUFFIXES[resize]}.npy',
  )
  return cached_features(
      path,
      (count, 2048),
      f'the cached {dataset}/{split} Inception features',
      lambda: inception_features(
          variables,
          to_uint8_rgb(
              image_data.load_split(dataset, split, data_dir, limit=count)[0]
          ),
          batch_size,
          advance,
          resize,
      )['pool3'],
      advance,
      announce,
  )


def cached_features(
    path: str,
    shape: Tuple[int, int],
    what: str,
    compute: Callable[[], np.ndarray],
    advance: Callable[[int], None] = lambda n: None,
    announce: Callable[[str], None] = cache_files.to_stderr,
) -> np.ndarray:
  """The features at ``path`` (.npy) if they are there, whole and of
  ``shape``, else ``compute()``'s, written there (whole or not at all, also
  by several writers) and sealed with their SHA-256: a damaged cache is set
  aside and computed again, with a ``warning:`` to ``announce``
  (gan_jax.cache_files.load). ``advance`` is told of every cached row."""

  def read(sealed: bool) -> np.ndarray:
    del sealed  # Damage that parses and keeps the shape is not seen unsealed.
    features = np.load(path, allow_pickle=False)
    if features.shape != shape or not np.all(np.isfinite(features)):
      raise ValueError(
          f'{features.dtype}{list(features.shape)} with '
          f'{np.size(features) - np.count_nonzero(np.isfinite(features))} '
          f'non-finite values, expected {shape[0]} x {shape[1]} finite '
          'numbers'
      )
    return features

  cached, writable = cache_files.load([path], read, what, announce)
  if cached is not None:
    advance(shape[0])
    return cached
  features = compute()
  if writable:
    payload = io.BytesIO()
    np.save(payload, features)
    cache_files.save([(path, payload.getvalue())], what, announce)
  return features


class ReferenceStats(NamedTuple):
  """FID's reference as a statistics file holds it: the mean and covariance
  of pool3 (pytorch-fid's ``--save-stats`` and clean-fid's layout, keys
  ``mu`` and ``sigma``), where it came from and, where the file says, how
  many images and which preprocessing made it."""

  mu: np.ndarray
  sigma: np.ndarray
  path: str
  n: Optional[int]
  resize: Optional[str]


class BadReferenceStats(ValueError):
  """A statistics file that cannot be read as FID's reference; one line."""


def read_reference_stats(path: str) -> ReferenceStats:
  """``mu`` [2048] and ``sigma`` [2048, 2048] from an .npz file (extra keys
  as :func:`write_reference_stats` writes them are read where present);
  BadReferenceStats naming the file and the problem otherwise."""
  where = f'--ref_stats={path}'
  try:
    with np.load(path, allow_pickle=False) as stored:
      if 'mu' not in stored or 'sigma' not in stored:
        raise BadReferenceStats(
            f'{where} holds {sorted(stored.files)}: expected the keys mu '
            'and sigma (as pytorch-fid --save-stats and clean-fid write them)'
        )
      mu = np.asarray(stored['mu'], np.float64)
      sigma = np.asarray(stored['sigma'], np.float64)
      n = int(stored['n']) if 'n' in stored else None
      resize = str(stored['resize']) if 'resize' in stored else None
  except (OSError, ValueError, EOFError) as error:
    if isinstance(error, BadReferenceStats):
      raise
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise BadReferenceStats(
        f'{where} cannot be read as an .npz file ({reason})'
    ) from None
  size = inception.POOL3_FEATURES
  if mu.shape != (size,) or sigma.shape != (size, size):
    raise BadReferenceStats(
        f'{where}: mu {list(mu.shape)} and sigma {list(sigma.shape)}, '
        f'expected [{size}] and [{size}, {size}] (pool3)'
    )
  if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
    raise BadReferenceStats(f'{where}: mu or sigma holds non-finite values')
  return ReferenceStats(mu, sigma, os.path.abspath(path), n, resize)


def write_reference_stats(
    path: str, pool3: np.ndarray, info: Dict[str, Any]
) -> None:
  """pool3's ``mu`` and ``sigma`` (float64, covariance with n - 1, as
  pytorch-fid computes them) to an .npz file, with ``n`` and the entries of
  ``info`` (e.g. ``resize``, ``dataset``) as extra keys; written whole or
  not at all."""
  pool3 = np.asarray(pool3, np.float64)
  arrays: Dict[str, Any] = {k: np.asarray(v) for k, v in info.items()}
  arrays.update(
      mu=pool3.mean(0),
      sigma=np.cov(pool3, rowvar=False),
      n=np.int64(len(pool3)),
  )
  payload = io.BytesIO()
  np.savez_compressed(payload, **arrays)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  partial = f'{path}.partial{os.getpid()}'
  with open(partial, 'wb') as f:
    f.write(payload.getvalue())
  os.replace(partial, path)


class InceptionEvaluator:
  """Holds the network and the reference features; :meth:`evaluate` scores
  a generator (see the module docstring). Build it with :func:`build`."""

  def __init__(
      self,
      variables,
      weights_path: str,
      digest: str,
      reference: Optional[np.ndarray],
      reference_description: str,
      batch_size: int,
      reference_labels=None,
      resize: str = 'tensorflow',
      reference_stats: Optional[ReferenceStats] = None,
      num_samples: int = 0,
  ):
    # With ``reference_stats`` (and ``reference`` None) FID is taken
    # against the file's mu and sigma, of ``num_samples`` generated images;
    # KID, precision and recall need features and are not reported.
    self._resize = inception.check_resize(resize)
    self._stats = reference_stats
    self.num_samples = num_samples if reference is None else len(reference)
    if reference is None:  # Statistics only: no features to compare.
      reference = np.zeros((0, inception.POOL3_FEATURES), np.float32)
    self._variables, self._reference = variables, reference
    self._radii = (
        None
        if reference_stats is not None
        else feature_metrics.knn_radii(jnp.asarray(reference), 5)
    )
    self._batch_size = batch_size
    # A conditional G's reference classes, for the intra-class FID.
    self._reference_labels = reference_labels
    self._protocol = {
        'num_samples': self.num_samples,
        'reference': reference_description,
        'feature_extractor': 'FID Inception-v3 (2015-12-05 TF graph), '
        'pool3 2048',
        'weights': os.path.abspath(weights_path),
        'weights_sha256': digest,
        'standard_weights': digest.startswith(inception_weights.SHA256_PREFIX),
        'resize_mode': resize,
        'resize': f'{inception.RESIZE_DESCRIPTIONS[resize]}; from uint8 '
        'images, one channel repeated to RGB',
        'knn_k': 5,
        'kid': 'unbiased MMD^2, cubic polynomial kernel, mean of 100 '
        'subsets of min(1000, n)',
        'inception_score': f'{min(SPLITS, self.num_samples)} splits, '
        'logits without bias',
    }
    if reference_stats is not None:
      self._protocol.update(
          reference_stats=reference_stats.path,
          reference_stats_n=reference_stats.n,
          reference_stats_resize=reference_stats.resize,
          not_reported='KID, precision and recall: a statistics file holds '
          'no reference features',
      )
      for key in ('knn_k', 'kid'):
        del self._protocol[key]

  def evaluate(
      self,
      generate: Callable[[jax.Array, int], jax.Array],
      rng: jax.Array,
      generate_class: Optional[
          Callable[[jax.Array, int, int], jax.Array]
      ] = None,
      advance: Callable[[int], None] = lambda n: None,
  ) -> Tuple[Dict[str, float], np.ndarray]:
    """Metrics of ``generate(rng, count)`` (images in [-1, 1]) and the
    images as uint8 RGB; with ``generate_class(rng, count, label)`` (a
    conditional G) and reference labels, also the intra-class FID."""
    images = to_uint8_rgb(jax.device_get(generate(rng, self.num_samples)))
    got = inception_features(
        self._variables, images, self._batch_size, advance, self._resize
    )
    score, score_std = feature_metrics.inception_score(
        got['logits_unbiased'], min(SPLITS, self.num_samples)
    )
    if self._stats is not None:  # FID alone: the reference has no features.
      pool3 = np.asarray(got['pool3'], np.float64)
      fid = feature_metrics.frechet_distance_from_moments(
          pool3.mean(0),
          np.cov(pool3, rowvar=False),
          self._stats.mu,
          self._stats.sigma,
      )
      return {
          'fid': fid,
          'inception_score': score,
          'inception_score_std': score_std,
      }, images
    knn = feature_metrics.nearest_neighbour_metrics(
        self._reference, got['pool3'], real_radii=self._radii
    )
    results = {
        'fid': feature_metrics.frechet_distance(got['pool3'], self._reference),
        'kid': feature_metrics.kernel_distance(got['pool3'], self._reference),
        'inception_score': score,
        'inception_score_std': score_std,
        'precision': knn['precision'],
        'recall': knn['recall'],
    }
    if generate_class is not None and self._reference_labels is not None:
      results['intra_fid'] = image_evaluation.intra_class_distance(
          lambda x: inception_features(
              self._variables,
              to_uint8_rgb(jax.device_get(x)),
              self._batch_size,
              resize=self._resize,
          )['pool3'],
          generate_class,
          rng,
          self._reference,
          self._reference_labels,
      )
    return results, images

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
    conditional: bool = False,
    resize: str = 'tensorflow',
    ref_stats: str = '',
) -> InceptionEvaluator:
  """An evaluator of ``min(num_samples, split size)`` images against the
  dataset's reference split, the weights read from ``weights_path``
  (their SHA-256 checked unless ``any_weights``; BadWeights if wrong).
  ``progress(total, what)`` returns a callback told how many reference
  images were read. ``conditional``: the reference images' labels are
  kept for the intra-class FID. ``resize``: the preprocessing mode
  (gan_jax.metrics.inception.RESIZE_MODES). ``ref_stats``: a statistics
  file (:func:`read_reference_stats`) that FID is taken against instead,
  of ``num_samples`` generated images; the data is not read, and KID,
  precision and recall are not reported (BadReferenceStats if the file
  cannot be read or says another resize mode)."""
  inception.check_resize(resize)
  stats = read_reference_stats(ref_stats) if ref_stats else None
  if stats is not None and stats.resize not in (None, resize):
    raise BadReferenceStats(
        f'--ref_stats={ref_stats} was written with resize {stats.resize!r}, '
        f'this evaluation resizes {resize!r}: give --resize={stats.resize}'
    )
  variables, digest = inception_weights.load_variables(
      weights_path, None if any_weights else inception_weights.SHA256_PREFIX
  )
  if stats is not None:
    written = (
        '' if stats.n is None else f', {stats.n} images, resize {stats.resize}'
    )
    return InceptionEvaluator(
        variables,
        weights_path,
        digest,
        None,
        f'the statistics file {stats.path} (mu, sigma{written})',
        batch_size,
        resize=resize,
        reference_stats=stats,
        num_samples=num_samples,
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
      resize=resize,
  )
  return InceptionEvaluator(
      variables,
      weights_path,
      digest,
      reference,
      f'{dataset}/{split}, {n} of {available} images (pool3 cached under '
      f'the data dir, {REFERENCE_CACHE}/)',
      batch_size,
      (
          image_data.load_split(dataset, split, data_dir, limit=n)[1]
          if conditional
          else None
      ),
      resize=resize,
  )


def default_batch_size(platform: str) -> int:
  """Images per Inception call: 50 on a CPU (no gain beyond), 250 on an
  accelerator (~10 GB of activations at 299x299)."""
  return 50 if platform == 'cpu' else 250
