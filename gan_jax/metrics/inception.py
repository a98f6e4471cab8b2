"""The Inception-v3 network of FID and the Inception score, in Flax.

Papers report FID and IS with the network of the TTUR / TensorFlow code
(the 2015-12-05 Inception graph), which pytorch-fid, torch-fidelity,
StudioGAN and mimicry load as ``pt_inception-2015-12-05-6726825d.pth``.
That graph is Inception-v3 (Szegedy et al. 2016, "Rethinking the
Inception Architecture") with these differences from the published one,
all kept here:

* 1008 classes (1000 and some unused), and the logits for the Inception
  score taken *without* the final layer's bias (the TF IS code multiplies
  pool3 by the softmax weights alone): ``logits_unbiased``;
* the average pools of the A and C blocks and of the first E block
  (Mixed_7b) leave the padding out of their mean (``count_include_pad``
  false), and the second E block (Mixed_7c) max-pools its pool branch;
* batch norm with epsilon 1e-3;
* the input resized to 299x299 by TensorFlow 1's bilinear resize (corners
  not aligned, no half-pixel offset: output pixel i samples input position
  i * in / out), then scaled from [0, 255] to [-1, 1] as (x - 128) / 128.

That preprocessing (TTUR, torch-fidelity, StyleGAN2-ADA) is the default,
``tensorflow``, of :data:`RESIZE_MODES`; the others give pytorch-fid's
(``pytorch``: ``F.interpolate`` bilinear, align_corners=False, output i
samples (i + 0.5) * in / out - 0.5; scaled as 2 x / 255 - 1) and
clean-fid's (``clean``: PIL's antialiased bicubic resize of each channel as
float32, clipped to [0, 255]; scaled as (x - 128) / 128): :func:`preprocess`.

The parameter tree follows the reference state dict's names
(``Mixed_5b.branch1x1.conv.weight`` -> params ``Mixed_5b/branch1x1/conv``),
so a weights file maps over by name: :func:`variables_from_state_dict`.
Outputs: ``pool3`` (2048, for FID, KID, precision and recall),
``logits_unbiased`` and ``logits`` (1008).
"""

from typing import Dict, Mapping, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics import inception_weights

INPUT_SIZE = 299
NUM_CLASSES = 1008
POOL3_FEATURES = 2048


class BasicConv(nn.Module):
  """Convolution without bias, batch norm (inference), ReLU."""

  features: int
  kernel: Tuple[int, int]
  strides: int = 1
  padding: Tuple[int, int] = (0, 0)

  @nn.compact
  def __call__(self, x):
    x = nn.Conv(
        self.features,
        self.kernel,
        strides=self.strides,
        padding=[(p, p) for p in self.padding],
        use_bias=False,
        name='conv',
    )(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool_3x3(x, fid: bool):
  """3x3, stride 1, padded by 1; the FID graph leaves the padding out of
  the mean, the published network counts it."""
  return nn.avg_pool(
      x,
      (3, 3),
      strides=(1, 1),
      padding=((1, 1), (1, 1)),
      count_include_pad=not fid,
  )


def _max_pool_3x3(x, stride: int):
  return nn.max_pool(x, (3, 3), strides=(stride, stride))


class InceptionA(nn.Module):
  """Mixed_5b-d: 1x1, 5x5, double 3x3 and pooled branches."""

  pool_features: int
  fid: bool = True

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv(64, (1, 1), name='branch1x1')(x)
    b5 = BasicConv(48, (1, 1), name='branch5x5_1')(x)
    b5 = BasicConv(64, (5, 5), padding=(2, 2), name='branch5x5_2')(b5)
    b3 = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(b3)
    b3 = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_3')(b3)
    bp = BasicConv(self.pool_features, (1, 1), name='branch_pool')(
        _avg_pool_3x3(x, self.fid)
    )
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
  """Mixed_6a: the grid from 35x35 to 17x17."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(384, (3, 3), strides=2, name='branch3x3')(x)
    bd = BasicConv(64, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(96, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = BasicConv(96, (3, 3), strides=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool_3x3(x, 2)], axis=-1)


class InceptionC(nn.Module):
  """Mixed_6b-e: 7x7 convolutions factorised into 1x7 and 7x1."""

  channels_7x7: int
  fid: bool = True

  @nn.compact
  def __call__(self, x):
    c = self.channels_7x7
    b1 = BasicConv(192, (1, 1), name='branch1x1')(x)
    b7 = BasicConv(c, (1, 1), name='branch7x7_1')(x)
    b7 = BasicConv(c, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv(c, (1, 1), name='branch7x7dbl_1')(x)
    bd = BasicConv(c, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv(c, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv(c, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv(192, (1, 1), name='branch_pool')(_avg_pool_3x3(x, self.fid))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
  """Mixed_7a: the grid from 17x17 to 8x8."""

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv(192, (1, 1), name='branch3x3_1')(x)
    b3 = BasicConv(320, (3, 3), strides=2, name='branch3x3_2')(b3)
    b7 = BasicConv(192, (1, 1), name='branch7x7x3_1')(x)
    b7 = BasicConv(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv(192, (3, 3), strides=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool_3x3(x, 2)], axis=-1)


class InceptionE(nn.Module):
  """Mixed_7b-c: expanded 3x3 branches; the FID graph's Mixed_7c
  max-pools its pool branch."""

  max_pool: bool
  fid: bool = True

  @nn.compact
  def __call__(self, x):
    def split(y, prefix):  # A 3x3 as 1x3 and 3x1 side by side.
      return jnp.concatenate(
          [
              BasicConv(384, (1, 3), padding=(0, 1), name=f'{prefix}a')(y),
              BasicConv(384, (3, 1), padding=(1, 0), name=f'{prefix}b')(y),
          ],
          axis=-1,
      )

    b1 = BasicConv(320, (1, 1), name='branch1x1')(x)
    b3 = split(BasicConv(384, (1, 1), name='branch3x3_1')(x), 'branch3x3_2')
    bd = BasicConv(448, (1, 1), name='branch3x3dbl_1')(x)
    bd = BasicConv(384, (3, 3), padding=(1, 1), name='branch3x3dbl_2')(bd)
    bd = split(bd, 'branch3x3dbl_3')
    pooled = (
        nn.max_pool(x, (3, 3), strides=(1, 1), padding=((1, 1), (1, 1)))
        if self.max_pool
        else _avg_pool_3x3(x, self.fid)
    )
    bp = BasicConv(192, (1, 1), name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """Images [N, 299, 299, 3] scaled to [-1, 1] -> pool3, logits.

  ``fid=False`` builds the published Inception-v3's pools instead (as
  torchvision has them), with the same parameters: only to show that the
  difference matters."""

  fid: bool = True

  @nn.compact
  def __call__(self, x) -> Dict[str, jax.Array]:
    fid = self.fid
    x = BasicConv(32, (3, 3), strides=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv(32, (3, 3), name='Conv2d_2a_3x3')(x)
    x = BasicConv(64, (3, 3), padding=(1, 1), name='Conv2d_2b_3x3')(x)
    x = _max_pool_3x3(x, 2)
    x = BasicConv(80, (1, 1), name='Conv2d_3b_1x1')(x)
    x = BasicConv(192, (3, 3), name='Conv2d_4a_3x3')(x)
    x = _max_pool_3x3(x, 2)
    x = InceptionA(32, fid, name='Mixed_5b')(x)
    x = InceptionA(64, fid, name='Mixed_5c')(x)
    x = InceptionA(64, fid, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    x = InceptionC(128, fid, name='Mixed_6b')(x)
    x = InceptionC(160, fid, name='Mixed_6c')(x)
    x = InceptionC(160, fid, name='Mixed_6d')(x)
    x = InceptionC(192, fid, name='Mixed_6e')(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE(False, fid, name='Mixed_7b')(x)
    x = InceptionE(fid, fid, name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    unbiased, logits = Logits(name='fc')(pool3)
    return {'pool3': pool3, 'logits_unbiased': unbiased, 'logits': logits}


class Logits(nn.Module):
  """The final dense layer, its output with and without the bias."""

  @nn.compact
  def __call__(self, pool3):
    kernel = self.param(
        'kernel', nn.initializers.lecun_normal(), (POOL3_FEATURES, NUM_CLASSES)
    )
    bias = self.param('bias', nn.initializers.zeros, (NUM_CLASSES,))
    unbiased = pool3 @ kernel
    return unbiased, unbiased + bias


def _source_positions(size_in: int, size_out: int):
  """TF1 bilinear (no corner alignment, no half-pixel offset): output i
  samples input i * in / out; its two neighbours and the weight of the
  second."""
  position = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
  low = np.floor(position).astype(np.int32)
  high = np.minimum(low + 1, size_in - 1)
  return low, high, (position - low).astype(np.float32)


def resize_bilinear_tf1(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """[N, H, W, C] -> [N, size, size, C] as TensorFlow 1's
  ``resize_bilinear`` (align_corners=False) computes it."""
  for axis in (1, 2):
    low, high, weight = _source_positions(images.shape[axis], size)
    shape = [1, 1, 1, 1]
    shape[axis] = size
    weight = jnp.asarray(weight).reshape(shape)
    images = (
        jnp.take(images, low, axis=axis) * (1 - weight)
        + jnp.take(images, high, axis=axis) * weight
    )
  return images


def resize_bilinear_pytorch(
    images: jax.Array, size: int = INPUT_SIZE
) -> jax.Array:
  """[N, H, W, C] -> [N, size, size, C] as PyTorch's ``F.interpolate(mode=
  'bilinear', align_corners=False)`` computes it (pytorch-fid's resize):
  output i samples input position (i + 0.5) * in / out - 0.5, clamped at 0;
  no antialiasing when shrinking. The positions in float32, as PyTorch
  computes them (at 1000 px float64 ones differ by 1e-4 of the range)."""
  f32 = np.float32
  for axis in (1, 2):
    n = images.shape[axis]
    scale = f32(n) / f32(size)
    position = np.maximum(
        scale * (np.arange(size, dtype=f32) + f32(0.5)) - f32(0.5), f32(0)
    )
    low = np.minimum(np.floor(position).astype(np.int32), n - 1)
    high = np.minimum(low + 1, n - 1)
    shape = [1, 1, 1, 1]
    shape[axis] = size
    weight = jnp.asarray((position - low).astype(np.float32)).reshape(shape)
    images = (
        jnp.take(images, low, axis=axis) * (1 - weight)
        + jnp.take(images, high, axis=axis) * weight
    )
  return images


def _pil_bicubic(x: np.ndarray) -> np.ndarray:
  """PIL's bicubic kernel (Keys, a = -0.5)."""
  a, x = -0.5, np.abs(x)
  return np.where(
      x < 1.0,
      ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
      np.where(x < 2.0, (((x - 5.0) * x + 8.0) * x - 4.0) * a, 0.0),
  )


def pil_bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[size_out, size_in] weights of PIL's ``Image.resize(BICUBIC)`` along
  one axis, computed as Pillow's ``precompute_coeffs`` does (float64): the
  kernel widened by the shrink factor (antialiasing), centred on
  (i + 0.5) * in / out, cut to the taps inside the image and each row
  normalised to sum 1."""
  scale = size_in / size_out
  filter_scale = max(scale, 1.0)
  support = 2.0 * filter_scale
  matrix = np.zeros((size_out, size_in))
  for i in range(size_out):
    center = (i + 0.5) * scale
    # C's (int) cast truncates toward zero.
    first = max(int(center - support + 0.5), 0)
    last = min(int(center + support + 0.5), size_in)
    taps = np.arange(first, last)
    weights = _pil_bicubic((taps - center + 0.5) / filter_scale)
    total = weights.sum()
    matrix[i, first:last] = weights / total if total != 0.0 else weights
  return matrix


def resize_bicubic_pil(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """[N, H, W, C] -> [N, size, size, C] as clean-fid's resize: PIL's
  bicubic resize of each channel as a float32 ('F') image, clipped to
  [0, 255]. A matrix product per axis with PIL's weights
  (:func:`pil_bicubic_matrix`); PIL sums in float64, this in float32 at
  full precision (no TF32): they agree to ~1e-5 of the pixel range."""
  rows = jnp.asarray(pil_bicubic_matrix(images.shape[1], size), jnp.float32)
  columns = jnp.asarray(pil_bicubic_matrix(images.shape[2], size), jnp.float32)
  out = jnp.einsum(
      'oh,nhwc,pw->nopc',
      rows,
      images,
      columns,
      precision=jax.lax.Precision.HIGHEST,
  )
  return jnp.clip(out, 0.0, 255.0)


# Preprocessing modes (config eval.inception.resize): the tool whose
# numbers each reproduces.
RESIZE_MODES = ('tensorflow', 'pytorch', 'clean')
RESIZE_DESCRIPTIONS = {
    'tensorflow': 'TF1 bilinear to 299x299 (align_corners=False, no '
    'half-pixel offset), (x - 128) / 128: TTUR, torch-fidelity, '
    'StyleGAN2-ADA',
    'pytorch': 'PyTorch bilinear to 299x299 (F.interpolate, '
    'align_corners=False), 2 x / 255 - 1: pytorch-fid',
    'clean': 'PIL bicubic (antialiased) to 299x299 of each channel as '
    'float32, clipped to [0, 255], (x - 128) / 128: clean-fid (mode clean)',
}


def check_resize(mode: str) -> str:
  if mode not in RESIZE_MODES:
    raise ValueError(
        f'Inception resize {mode!r}: give one of {", ".join(RESIZE_MODES)}'
    )
  return mode


def preprocess(images: jax.Array, resize: str = 'tensorflow') -> jax.Array:
  """Images in [0, 255] (uint8 or float), [N, H, W, 3] -> the network's
  input: resized to 299x299 and scaled to [-1, 1] as ``resize`` (one of
  :data:`RESIZE_MODES`) says."""
  x = images.astype(jnp.float32)
  if check_resize(resize) == 'pytorch':
    return resize_bilinear_pytorch(x) * (2.0 / 255.0) - 1.0
  x = resize_bicubic_pil(x) if resize == 'clean' else resize_bilinear_tf1(x)
  return (x - 128.0) / 128.0


# --- Weights ----------------------------------------------------------------


def _set(tree: dict, path: Sequence[str], value) -> None:
  for key in path[:-1]:
    tree = tree.setdefault(key, {})
  tree[path[-1]] = value


def variables_from_state_dict(state: Mapping[str, np.ndarray]) -> dict:
  """The reference state dict (names as pytorch-fid and torch-fidelity
  save them, arrays as NumPy) -> this module's variables: convolutions
  OIHW -> HWIO, the dense layer transposed, batch norm's running
  statistics as batch_stats."""
  params: dict = {}
  stats: dict = {}
  for name, stored in state.items():
    value = np.asarray(stored, np.float32)
    *path, leaf = name.split('.')
    if leaf == 'num_batches_tracked':
      continue
    if path[-1] == 'conv' and leaf == 'weight':
      _set(params, path + ['kernel'], value.transpose(2, 3, 1, 0))
    elif path[-1] == 'bn':
      if leaf in ('running_mean', 'running_var'):
        _set(
            stats,
            path + [{'running_mean': 'mean', 'running_var': 'var'}[leaf]],
            value,
        )
      else:
        _set(params, path + [{'weight': 'scale', 'bias': 'bias'}[leaf]], value)
    elif path == ['fc']:
      _set(
          params,
          path + [{'weight': 'kernel', 'bias': 'bias'}[leaf]],
          value.T if leaf == 'weight' else value,
      )
    else:
      raise ValueError(f'unexpected entry {name!r} in the Inception weights')
  return {'params': params, 'batch_stats': stats}


def state_dict_from_variables(variables) -> Dict[str, np.ndarray]:
  """The inverse of :func:`variables_from_state_dict` (to write weights in
  the reference layout, e.g. random ones for tests)."""
  state = {}
  flat = jax.tree_util.tree_flatten_with_path(jax.device_get(variables))[0]
  for path, stored in flat:
    collection, *names, leaf = [p.key for p in path]
    value = np.asarray(stored, np.float32)
    prefix = '.'.join(names)
    if collection == 'batch_stats':
      state[f'{prefix}.running_{leaf}'] = value
    elif leaf == 'kernel' and names[-1] == 'conv':
      state[f'{prefix}.weight'] = value.transpose(3, 2, 0, 1)
    elif leaf == 'kernel':  # fc
      state[f'{prefix}.weight'] = value.T
    else:
      state[f'{prefix}.{"weight" if leaf == "scale" else leaf}'] = value
  return state


def abstract_variables():
  """The variables' shapes (no computation)."""
  return jax.eval_shape(
      FIDInceptionV3().init,
      jax.random.PRNGKey(0),
      jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32),
  )


def check_variables(variables) -> None:
  """Raises ValueError naming the first entry whose name or shape differs
  from the network's."""
  inception_weights.check_shapes(variables, abstract_variables())


@jax.jit
def _network(variables, x):
  return FIDInceptionV3().apply(variables, x)


# Compiled once per input shape and mode.
_preprocess = jax.jit(preprocess, static_argnames='resize')


def features(
    variables, images: jax.Array, resize: str = 'tensorflow'
) -> Dict[str, jax.Array]:
  """pool3 [N, 2048], logits_unbiased and logits [N, 1008] of images in
  [0, 255], [N, H, W, 3], preprocessed as ``resize`` says
  (:func:`preprocess`). The resize compiles per input size, the network
  once per batch size."""
  return _network(variables, _preprocess(images, resize=resize))
