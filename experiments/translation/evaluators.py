"""Evaluating a translation run: the evaluator for its pair, the
translators of a state, reference translators, and the pictures.

Every evaluation writes ``translations_STEP.png`` (and the same picture to
TensorBoard): for image pairs, rows of x, G(x), F(G(x)), then y, F(y),
G(F(y)); for 2-D pairs, the points of each domain beside their
translations.
"""

import functools
import os
from typing import Any, Callable, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from experiments.runner import plots  # noqa: E402
from gan_jax.config import ConfigError  # noqa: E402
from gan_jax.data import pairs  # noqa: E402
from gan_jax.data.on_device import DeviceImages  # noqa: E402
from gan_jax.data.toy2d import Toy2D  # noqa: E402
from gan_jax.translation import evaluation  # noqa: E402
from gan_jax.translation.steps import translate  # noqa: E402

PICTURE_COLUMNS = 8


def features_for(config, data_dir: str, announce: Callable[[str], None]):
  """(features function or None, kind, description) as eval.features asks
  (experiments/configs/translate.py): the digit classifier for digits_rot,
  the FID Inception network for the others when its weights are found."""
  wanted = config.eval.features
  if wanted == 'none':
    return None, 'none', ''
  if config.pair == 'digits_rot' and wanted in ('auto', 'classifier'):
    from gan_jax import image_evaluation
    from gan_jax.metrics import classifier

    extractor = image_evaluation.build_feature_extractor(
        'digits',
        data_dir,
        classifier.TrainSettings(steps=config.eval.classifier_steps),
    )
    return (
        extractor,
        'classifier',
        (
            f'{extractor.description}; held-out accuracy '
            f'{extractor.accuracy:.3f}'
        ),
    )
  if wanted == 'classifier':
    raise ConfigError(
        f"eval.features='classifier' is not allowed with "
        f'pair={config.pair!r}: the digit classifier reads '
        "digits_rot only; use 'auto', 'inception' or 'none'"
    )
  from gan_jax import inception_evaluation as inception_eval
  from gan_jax.metrics import inception_weights

  settings = config.eval.inception
  # As the GAN runner (experiments/runner/evaluators.py): weights that are
  # named but missing or wrong are an error; weights found nowhere are one
  # only when Inception was asked for by name.
  named = settings.weights or os.environ.get(inception_weights.ENV_PATH)
  try:
    path = inception_weights.find_weights(settings.weights or None)
    variables, digest = inception_weights.load_variables(
        path, None if settings.any_weights else inception_weights.SHA256_PREFIX
    )
  except (
      inception_weights.WeightsNotFound,
      inception_weights.BadWeights,
  ) as error:
    if wanted == 'inception' or named:
      raise ConfigError(f'eval.inception.weights: {error}') from None
    announce(f'note: {error}; FID and KID are not computed')
    return None, 'none', f'Inception weights not found ({error})'
  batch = settings.batch_size or inception_eval.default_batch_size(
      jax.devices()[0].platform
  )

  def features(images):
    got = inception_eval.inception_features(
        variables, inception_eval.to_uint8_rgb(jax.device_get(images)), batch
    )
    return got['pool3'], None

  return (
      features,
      'inception',
      (f'FID Inception-v3 pool3 ({path}, sha256 {digest[:16]})'),
  )


def make_evaluator(
    config,
    pair: pairs.Pair,
    eval_rng: jax.Array,
    domains: Optional[pairs.ImageDomains],
    announce: Callable[[str], None] = lambda line: None,
):
  if pair.kind == 'points':
    return evaluation.PointPairEvaluator(
        pair, config.eval.points, config.eval.threshold, eval_rng
    )
  if domains is None:
    raise ValueError(f'pair {pair.name!r} needs its images to be evaluated')
  limit = config.eval.num_samples or None
  domains = domains._replace(
      x_test=domains.x_test[:limit],
      x_test_labels=domains.x_test_labels[:limit],
      y_test=domains.y_test[:limit],
      y_test_labels=domains.y_test_labels[:limit],
  )
  features, kind, description = features_for(
      config, config.data.dir or _default_dir(), announce
  )
  return evaluation.ImagePairEvaluator(
      pair,
      domains,
      features,
      kind,
      description,
      reference_count=min(len(domains.x_test), len(domains.y_test)),
  )


def _default_dir() -> str:
  from gan_jax.data.images import default_data_dir

  return default_data_dir()


@functools.partial(jax.jit, static_argnums=(0, 1))
def _translate(spec, direction: str, state, images):
  module, net = (spec.g, state.g) if direction == 'x2y' else (spec.f, state.f)
  return translate(module, net, net.params, images, spec.compute_dtype)


def translators(spec, state, size: int = 0):
  """(x2y, y2x) of ``state`` in inference mode; images are resized to the
  train ``size`` first when the test images are larger (the paper tests
  at the train size)."""
  from experiments.runner.inputs import resize

  return (
      lambda x: _translate(spec, 'x2y', state, resize(x, size)),
      lambda y: _translate(spec, 'y2x', state, resize(y, size)),
  )


def reference_translators(pair: pairs.Pair) -> Dict[str, Tuple]:
  """Translators whose scores a run is read against: the identity, and the
  pair's known correspondence where there is one (the best answer)."""
  same = lambda v: v
  references = {'identity': (same, same)}
  if pair.name == 'digits_rot':
    references['known_correspondence'] = (
        pairs.rotate_invert,
        lambda y: pairs.rotate_invert(y, inverse=True),
    )
  if pair.name == 'grid25_shear':
    scale = _points(pair).scale
    references['known_correspondence'] = (
        lambda x: pairs.shear(x / scale) * scale,
        lambda y: pairs.shear(y / scale, inverse=True) * scale,
    )
  return references


def _image_rows(images: Dict[str, Any]) -> np.ndarray:
  n = min(PICTURE_COLUMNS, images['x'].shape[0], images['y'].shape[0])
  rows = [
      np.asarray(images[key][:n])
      for key in ('x', 'g_x', 'f_g_x', 'y', 'f_y', 'g_f_y')
  ]
  # Domains of different channel counts: grey shown as RGB.
  channels = max(r.shape[-1] for r in rows)
  rows = [np.repeat(r, channels // r.shape[-1], -1) for r in rows]
  pixels = (
      np.asarray(DeviceImages.from_network(jnp.asarray(np.concatenate(rows))))
      .round()
      .astype(np.uint8)
  )
  return plots.image_grid(pixels, n, scale=max(1, 64 // pixels.shape[1]))


def _points(pair: pairs.Pair) -> Toy2D:
  if pair.points is None:
    raise ValueError(f'pair {pair.name!r} is not a pair of 2-D points')
  return pair.points


def _point_picture(
    pair: pairs.Pair, points: Dict[str, Any], step: int
) -> np.ndarray:
  scale = _points(pair).scale
  fig, axes = plt.subplots(1, 2, figsize=(10, 5), dpi=80)
  for ax, source, target, title in (
      (axes[0], 'x', 'g_x', 'X (grey) and G(x) (red)'),
      (axes[1], 'y', 'f_y', 'Y (grey) and F(y) (red)'),
  ):
    for key, colour in ((source, '0.6'), (target, 'tab:red')):
      p = np.asarray(points[key]) / scale
      ax.scatter(p[:, 0], p[:, 1], s=2, c=colour)
    ax.set_title(f'{title}, step {step}')
    ax.set_xlim(-7.5, 7.5)
    ax.set_ylim(-7.5, 7.5)
    ax.set_aspect('equal')
  fig.tight_layout()
  canvas = fig.canvas
  if not isinstance(canvas, FigureCanvasAgg):  # Agg (set above) or on it.
    raise TypeError(f'{type(canvas).__name__} is no Agg canvas to read')
  canvas.draw()
  picture = np.asarray(canvas.buffer_rgba())[..., :3].copy()
  plt.close(fig)
  return picture


def picture(
    pair: pairs.Pair, examples: Dict[str, Any], step: int
) -> np.ndarray:
  """The evaluation's picture, uint8 [H, W, 3] (module docstring)."""
  if pair.kind == 'points':
    return _point_picture(pair, examples, step)
  return _image_rows(examples)


def save_picture(workdir: str, step: int, grid: np.ndarray, writer) -> None:
  plots.save_image_grid(
      os.path.join(workdir, f'translations_{step:07d}.png'), grid
  )
  writer.write_image(step, 'translations', grid)
