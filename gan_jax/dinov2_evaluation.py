"""Evaluation of an image generator in DINOv2 features: FD-DINOv2.

The protocol of Stein et al. 2023 (dgm-eval; torch-fidelity 0.4 computes
the same but for its resize), recorded in every summary
(:meth:`DinoV2Evaluator.protocol`):

* generated images clipped to [-1, 1] and quantised to uint8 as they would
  be saved, a single channel repeated to three (as for the Inception
  metrics: gan_jax.inception_evaluation.to_uint8_rgb);
* resized to 224x224 (``resize``: ``'pil_bicubic'``, Pillow's bicubic as
  dgm-eval; ``'tf1_bilinear'`` as torch-fidelity 0.4), ImageNet-normalised,
  and read by a DINOv2 ViT (:mod:`gan_jax.metrics.dinov2`): ``vits14``
  for training-time evaluation (fast), ``vitl14`` for numbers to report
  (dgm-eval's default);
* the CLS token after the final norm (384 to 1536 numbers): the Frechet
  distance ``fd_dinov2`` against the *train* split's features, KID
  (``kid``), precision, recall, density and coverage (k = 5) as dgm-eval
  reports them;
* as many train images as generated ones, as for Inception
  (gan_jax.inception_evaluation.usual_protocol), capped on a CPU.

The train split's features are cached beside the data like Inception's
(``<data dir>/gan_jax_reference_features/``), keyed by dataset, split,
count, model, the weights' digest and the resize, sealed with their own
SHA-256.
"""

import os
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import cache_files, image_evaluation, inception_evaluation
from gan_jax.data import images as image_data
from gan_jax.metrics import dinov2, dinov2_weights, feature_metrics

CPU_SAMPLES = 10_000  # The cap on a CPU (docs/images.md: FD-DINOv2).
TRAINING_MODEL = 'vits14'  # eval.dinov2.model's default.
REPORTING_MODEL = 'vitl14'  # What dgm-eval reports.


def default_num_samples(dataset: str, platform: str) -> Tuple[int, str]:
  """The dataset's usual count (as for Inception), capped on a CPU, and a
  note saying so where it was capped ('' otherwise)."""
  usual = inception_evaluation.usual_protocol(dataset).num_samples
  if platform == 'cpu' and usual > CPU_SAMPLES:
    return CPU_SAMPLES, (
        f'{CPU_SAMPLES} samples instead of the usual {usual}: DINOv2 reads '
        'about 8 images a second (vits14) or 1 (vitl14) on a 2-core CPU '
        '(docs/images.md, FD-DINOv2)'
    )
  return usual, ''


def default_batch_size(platform: str) -> int:
  """Images per call: 32 on a CPU, 250 on an accelerator."""
  return 32 if platform == 'cpu' else 250


def dinov2_features(
    model: str,
    variables,
    images: np.ndarray,
    batch_size: int,
    resize: str,
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
  """CLS features of uint8 RGB images, in batches of ``batch_size`` (the
  last padded: one compilation)."""
  out = []
  for start in range(0, len(images), batch_size):
    batch = images[start : start + batch_size]
    padded = np.concatenate(
        [batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), np.uint8)]
    )
    got = dinov2.features(model, variables, jnp.asarray(padded), resize)
    out.append(np.asarray(jax.device_get(got))[: len(batch)])
    advance(len(batch))
  return np.concatenate(out)


def reference_features(
    dataset: str,
    split: str,
    count: int,
    data_dir: str,
    model: str,
    variables,
    digest: str,
    batch_size: int,
    resize: str,
    advance: Callable[[int], None] = lambda n: None,
    announce: Callable[[str], None] = cache_files.to_stderr,
) -> np.ndarray:
  """DINOv2 features of the first ``count`` images of ``split``, cached
  under ``data_dir`` as Inception's are
  (gan_jax.inception_evaluation.reference_features)."""
  width = dinov2.ARCHITECTURES[model].width
  path = os.path.join(
      data_dir,
      inception_evaluation.REFERENCE_CACHE,
      f'{image_data.file_label(dataset)}_{split}_{count}_dinov2_{model}_'
      f'{digest[:16]}_{resize}224.npy',
  )
  return inception_evaluation.cached_features(
      path,
      (count, width),
      f'the cached {dataset}/{split} DINOv2 features',
      lambda: dinov2_features(
          model,
          variables,
          inception_evaluation.to_uint8_rgb(
              image_data.load_split(dataset, split, data_dir, limit=count)[0]
          ),
          batch_size,
          resize,
          advance,
      ),
      advance,
      announce,
  )


class DinoV2Evaluator:
  """Holds the network and the reference features; :meth:`evaluate` scores
  a generator (the module docstring). The interface of
  gan_jax.inception_evaluation.InceptionEvaluator; build it with
  :func:`build`."""

  def __init__(
      self,
      model: str,
      variables,
      weights_path: str,
      digest: str,
      reference: np.ndarray,
      reference_description: str,
      batch_size: int,
      resize: str,
      reference_labels: Optional[np.ndarray] = None,
  ):
    self.num_samples = len(reference)
    # A conditional G's reference classes, for the intra-class distance.
    self._reference_labels = reference_labels
    self._model, self._variables = model, variables
    self._reference = reference
    self._radii = feature_metrics.knn_radii(jnp.asarray(reference), 5)
    self._batch_size, self._resize = batch_size, resize
    self._protocol = {
        'num_samples': self.num_samples,
        'reference': reference_description,
        'feature_extractor': f'DINOv2 {model} (Oquab et al. 2023), CLS '
        f'token after the final norm, {reference.shape[1]}',
        'model': model,
        'weights': os.path.abspath(weights_path),
        'weights_sha256': digest,
        'resize_mode': resize,
        'resize': {
            'pil_bicubic': "Pillow's bicubic to 224x224 (dgm-eval)",
            'tf1_bilinear': 'TF1 bilinear to 224x224 (torch-fidelity 0.4)',
        }[resize]
        + ', from uint8 images, one channel repeated to RGB; ImageNet mean '
        'and std',
        'knn_k': 5,
        'kid': 'unbiased MMD^2, cubic polynomial kernel, mean of 100 '
        'subsets of min(1000, n)',
    }

  def evaluate(
      self,
      generate: Callable[[jax.Array, int], jax.Array],
      rng: jax.Array,
      generate_class: Optional[Callable[..., jax.Array]] = None,
      advance: Callable[[int], None] = lambda n: None,
  ) -> Tuple[Dict[str, float], np.ndarray]:
    """Metrics of ``generate(rng, count)`` (images in [-1, 1]) and the
    images as uint8 RGB; with ``generate_class(rng, count, label)`` (a
    conditional G) and reference labels, also the intra-class distance."""
    images = inception_evaluation.to_uint8_rgb(
        jax.device_get(generate(rng, self.num_samples))
    )
    got = dinov2_features(
        self._model,
        self._variables,
        images,
        self._batch_size,
        self._resize,
        advance,
    )
    knn = feature_metrics.nearest_neighbour_metrics(
        self._reference, got, real_radii=self._radii
    )
    results = {
        'fd_dinov2': feature_metrics.frechet_distance(got, self._reference),
        'kid': feature_metrics.kernel_distance(got, self._reference),
        **knn,
    }
    if generate_class is not None and self._reference_labels is not None:
      results['intra_fd_dinov2'] = image_evaluation.intra_class_distance(
          lambda x: dinov2_features(
              self._model,
              self._variables,
              inception_evaluation.to_uint8_rgb(jax.device_get(x)),
              self._batch_size,
              self._resize,
          ),
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
    model: str,
    weights_path: str,
    num_samples: int,
    batch_size: int,
    resize: str = 'pil_bicubic',
    progress: Callable[
        [int, str], Callable[[int], None]
    ] = lambda total, what: (lambda n: None),
    conditional: bool = False,
) -> DinoV2Evaluator:
  """An evaluator of ``min(num_samples, split size)`` images against the
  dataset's reference split in ``model``'s features, the weights read from
  ``weights_path`` (BadWeights, one line, if not ``model``'s).
  ``progress(total, what)`` returns a callback told how many reference
  images were read."""
  if resize not in dinov2.RESIZES:
    raise ValueError(f'resize {resize!r}: expected one of {dinov2.RESIZES}')
  variables, digest = dinov2_weights.load_variables(weights_path, model)
  split = inception_evaluation.usual_protocol(dataset).reference_split
  available = len(image_data.RecordReader(dataset, split, data_dir))
  n = min(num_samples, available)
  reference = reference_features(
      dataset,
      split,
      n,
      data_dir,
      model,
      variables,
      digest,
      batch_size,
      resize,
      progress(n, f'{dataset}/{split} DINOv2 features'),
  )
  return DinoV2Evaluator(
      model,
      variables,
      weights_path,
      digest,
      reference,
      f'{dataset}/{split}, {n} of {available} images (features cached '
      f'under the data dir, {inception_evaluation.REFERENCE_CACHE}/)',
      batch_size,
      resize,
      (
          image_data.load_split(dataset, split, data_dir, limit=n)[1]
          if conditional
          else None
      ),
  )
