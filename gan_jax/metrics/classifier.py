"""The feature space of the image metrics: a small classifier trained on the
dataset's own labels, so no pretrained weights are downloaded.

FID uses an ImageNet Inception network; on 8x8 digits or 28x28 MNIST its
features mean little and its weights cannot be fetched here. As in the
Stacked MNIST protocol (Metz et al. 2017; VEEGAN; PacGAN), a classifier is
trained on the dataset itself; its penultimate layer gives the features
(Frechet distance, KID, precision/recall, density/coverage) and its softmax
the class probabilities (classifier score, modes). It is trained once per
dataset and cached in the data dir with its held-out accuracy, which every
summary reports.

Images go in as the networks see them: float [-1, 1], [B, H, W, C].
"""

import functools
import json
import os
from typing import Any, Callable, Dict, NamedTuple, Tuple

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import cache_files

from gan_jax.models.initializers import lecun_normal_kernel

# Bump when the network or its training changes. 2: the convolutions as
# patch products (Conv3x3): the same network, gradients rounded otherwise.
CACHE_VERSION = 2


def _same_padding(size: int, stride: int) -> Tuple[int, Tuple[int, int]]:
  """Output size and (before, after) padding of a 3x3 'SAME' window."""
  out = -(-size // stride)
  total = max((out - 1) * stride + 3 - size, 0)
  return out, (total // 2, total - total // 2)


def patches_3x3(x: jax.Array, stride: int) -> jax.Array:
  """[B, H, W, C] -> [B, H', W', 9C]: each output pixel's 3x3 'SAME'
  window, ordered (row, column, channel) as an HWIO kernel flattens."""
  height, (top, bottom) = _same_padding(x.shape[1], stride)
  width, (left, right) = _same_padding(x.shape[2], stride)
  x = jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
  return jnp.concatenate(
      [
          x[
              :,
              dy : dy + stride * (height - 1) + 1 : stride,
              dx : dx + stride * (width - 1) + 1 : stride,
          ]
          for dy in range(3)
          for dx in range(3)
      ],
      axis=-1,
  )


class Conv3x3(nn.Module):
  """``nn.Conv(features, (3, 3), strides=stride)`` -- the same parameters,
  initialisation and function -- computed as one product of the 3x3
  patches with the flattened kernel (im2col).

  Why: XLA:CPU's convolution gradients are slow on these small images. On
  a 2-core AMD EPYC CPU (docs/design.md), a training step's gradient at
  batch 128 takes 8.5 ms instead of 21.6 on 8x8 digits, 1.0 s instead of
  2.9 on 64x64 CelebA (1.2-2.8x over the image sizes); the forward pass is
  as fast or faster, and bit-equal to nn.Conv there
  (tests/test_image_evaluation.py)."""

  features: int
  stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param(
        'kernel', lecun_normal_kernel, (3, 3, x.shape[-1], self.features)
    )
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return (
        patches_3x3(x, self.stride) @ kernel.reshape(-1, self.features) + bias
    )


class ClassifierNet(nn.Module):
  """Three 3x3 convolutions (the last two stride 2), a 128-unit feature
  layer, and the class logits."""

  num_classes: int
  feature_dim: int = 128

  @nn.compact
  def __call__(self, x: jax.Array) -> Tuple[jax.Array, jax.Array]:
    for i, (width, stride) in enumerate(((32, 1), (64, 2), (128, 2))):
      x = nn.relu(Conv3x3(width, stride, name=f'Conv_{i}')(x))
    features = nn.relu(nn.Dense(self.feature_dim)(x.reshape((x.shape[0], -1))))
    return features, nn.Dense(self.num_classes)(features)


class TrainSettings(NamedTuple):
  steps: int = 2000
  batch_size: int = 128
  learning_rate: float = 1e-3
  weight_decay: float = 1e-4
  seed: int = 0


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    settings: TrainSettings = TrainSettings(),
) -> Any:
  """Params of a ClassifierNet fitted to (uint8 images, labels), trained
  with AdamW and random translations of up to one pixel (on device)."""
  net = ClassifierNet(num_classes)
  data = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
  key = jax.random.PRNGKey(settings.seed)
  params = net.init(key, to_network(data[0][:1]))['params']
  tx = optax.adamw(
      optax.cosine_decay_schedule(settings.learning_rate, settings.steps),
      weight_decay=settings.weight_decay,
  )

  def step(carry, key):
    params, opt_state = carry
    pick_key, shift_key = jax.random.split(key)
    index = jax.random.randint(
        pick_key, (settings.batch_size,), 0, data[0].shape[0]
    )
    x = _shift(to_network(data[0][index]), shift_key)

    def loss_fn(params):
      logits = net.apply({'params': params}, x)[1]
      return optax.softmax_cross_entropy_with_integer_labels(
          logits, data[1][index]
      ).mean()

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  # One jitted step per dispatch rather than a lax.scan: XLA:CPU runs
  # convolutions inside loop bodies many times slower (jax-ml/jax#12868).
  jit_step = jax.jit(step, donate_argnums=0)
  carry = (params, tx.init(params))
  for step_key in jax.random.split(jax.random.fold_in(key, 1), settings.steps):
    carry, _ = jit_step(carry, step_key)
  return carry[0]


def _shift(x: jax.Array, key: jax.Array) -> jax.Array:
  """Each image translated by -1, 0 or 1 pixel in each direction (edge
  padding)."""
  padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='edge')
  offsets = jax.random.randint(key, (x.shape[0], 2), 0, 3)

  def crop(image, offset):
    return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), x.shape[1:])

  return jax.vmap(crop)(padded, offsets)


def to_network(images: jax.Array) -> jax.Array:
  return (images.astype(jnp.float32) - 127.5) / 127.5


@functools.partial(jax.jit, static_argnums=0)
def _apply(net: ClassifierNet, params, x: jax.Array):
  return net.apply({'params': params}, x)


class Classifier(NamedTuple):
  """A trained ClassifierNet, applied in batches on device."""

  net: ClassifierNet
  params: Any
  accuracy: float  # On the held-out split.

  def __call__(
      self, x: jax.Array, batch_size: int = 500
  ) -> Tuple[jax.Array, jax.Array]:
    """(features [N, 128], class probabilities [N, K]) of images in [-1, 1],
    in batches of one jitted call each (padded to one size: one compile).
    A Python loop, not lax.map: see train_classifier."""
    batch_size = min(batch_size, x.shape[0])
    count = x.shape[0]
    x = jnp.pad(x, ((0, -count % batch_size),) + ((0, 0),) * (x.ndim - 1))
    outputs = [
        _apply(self.net, self.params, x[i : i + batch_size])
        for i in range(0, x.shape[0], batch_size)
    ]
    features = jnp.concatenate([f for f, _ in outputs])[:count]
    logits = jnp.concatenate([out for _, out in outputs])[:count]
    return features, jax.nn.softmax(logits)


def accuracy(
    classifier: Classifier, images: np.ndarray, labels: np.ndarray
) -> float:
  _, probs = classifier(to_network(jnp.asarray(images)))
  return float(jnp.mean(jnp.argmax(probs, -1) == jnp.asarray(labels)))


def cache_path(data_dir: str, name: str, settings: TrainSettings) -> str:
  """Files differ by network version and training settings, so a changed
  setting trains a new classifier instead of reusing the old one. A
  folder's or tfds: dataset's name is its file label (no '/' or ':', and a
  hash of how its images were decoded: gan_jax.data.images.file_label)."""
  from gan_jax.data import images as image_data, own_images

  tag = '_'.join(f'{v:g}' if isinstance(v, float) else str(v) for v in settings)
  label = image_data.file_label(name) if own_images.is_own(name) else name
  return os.path.join(
      data_dir, 'gan_jax_classifiers', f'{label}_v{CACHE_VERSION}_{tag}'
  )


def load_or_train(
    name: str,
    data_dir: str,
    num_classes: int,
    train: Tuple[np.ndarray, np.ndarray],
    held_out: Tuple[np.ndarray, np.ndarray],
    settings: TrainSettings = TrainSettings(),
    announce: Callable[[str], None] = cache_files.to_stderr,
) -> Classifier:
  """The cached classifier of dataset ``name``, or a new one trained on
  ``train`` = (images, labels), measured on ``held_out`` and cached.

  The cache (weights ``.msgpack``, accuracy ``.json``) is sealed with its
  SHA-256 (``.sha256``) and checked on load (gan_jax.cache_files.load). A
  damaged cache -- a digest that differs, or files that do not parse -- is
  renamed aside (``.damaged-<n>``) and the classifier trained again (the
  same network: fixed seed and settings), with a ``warning:`` line to
  ``announce`` naming the file. A cache of an older version, without a
  digest, is used if it parses and still scores the held-out accuracy it
  records (within ``OLD_CACHE_TOLERANCE``: a flipped byte that matters
  moves it), and sealed (a ``note:``). A cache that cannot be read or
  written (permission denied, a read-only data dir) is left alone: the
  classifier is trained for this run, with a warning."""
  path = cache_path(data_dir, name, settings)
  net = ClassifierNet(num_classes)
  files = [path + '.msgpack', path + '.json']
  what = f'the cached {name} classifier'

  def read(sealed: bool) -> Classifier:
    params, held_out_accuracy = _read(path, net, held_out[0].shape[1:])
    cached = Classifier(net, params, held_out_accuracy)
    if not sealed:  # Nothing vouches for the bytes: check what can be.
      _check_recorded_accuracy(cached, held_out)
    return cached

  cached, writable = cache_files.load(files, read, what, announce)
  if cached is not None:
    return cached
  params = train_classifier(*train, num_classes, settings)
  held_out_accuracy = accuracy(Classifier(net, params, 0.0), *held_out)
  if writable:
    info: Dict[str, Any] = {
        'dataset': name,
        'held_out_accuracy': held_out_accuracy,
        'train_examples': int(len(train[0])),
        'held_out_examples': int(len(held_out[0])),
        'settings': settings._asdict(),
    }
    cache_files.save(
        [
            (files[0], flax.serialization.to_bytes(params)),
            (files[1], json.dumps(info, indent=2).encode()),
        ],
        what,
        announce,
    )
  return Classifier(net, params, held_out_accuracy)


# How far an unsealed cache's held-out accuracy may be from the one it
# records: a platform's rounding may move an image or two across a class
# boundary, a damaged weight moves many.
OLD_CACHE_TOLERANCE = 0.005


def _check_recorded_accuracy(
    classifier: Classifier, held_out: Tuple[np.ndarray, np.ndarray]
) -> None:
  measured = accuracy(classifier, *held_out)
  if abs(measured - classifier.accuracy) > OLD_CACHE_TOLERANCE:
    raise ValueError(
        f'held-out accuracy {measured:.4f}, its .json records '
        f'{classifier.accuracy:.4f}'
    )


def _read(
    path: str, net: ClassifierNet, image_shape: Tuple[int, ...]
) -> Tuple[Any, float]:
  """(params, held-out accuracy) of a cached classifier; one of
  cache_files.DAMAGED if its files do not hold them."""
  # The params' tree, without running the initialisers (~4 s eagerly).
  template = jax.eval_shape(
      net.init, jax.random.PRNGKey(0), jnp.zeros((1, *image_shape))
  )['params']
  with open(path + '.msgpack', 'rb') as f:
    params = flax.serialization.from_bytes(template, f.read())
  # from_bytes takes arrays of any shape into the tree.
  for (where, like), leaf in zip(
      jax.tree_util.tree_leaves_with_path(template), jax.tree.leaves(params)
  ):
    got = np.asarray(leaf)
    if got.shape != like.shape or got.dtype != like.dtype:
      raise ValueError(
          f'{jax.tree_util.keystr(where)} is {got.dtype}{list(got.shape)}, '
          f'expected {like.dtype}{list(like.shape)}'
      )
  with open(path + '.json', 'rb') as f:
    held_out_accuracy = json.load(f)['held_out_accuracy']
  if not (
      isinstance(held_out_accuracy, (int, float))
      and 0.0 <= held_out_accuracy <= 1.0
  ):
    raise ValueError(f'held_out_accuracy {held_out_accuracy!r}')
  return params, float(held_out_accuracy)
