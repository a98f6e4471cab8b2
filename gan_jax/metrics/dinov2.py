"""The DINOv2 vision transformers of FD-DINOv2, in Flax.

Stein et al. 2023 ("Exposing flaws of generative model evaluation
metrics", the dgm-eval code) and torch-fidelity 0.4 compare generated and
real images in the features of DINOv2 (Oquab et al. 2023) instead of the
FID Inception's: the CLS token of the released ViT-S/14, B/14, L/14 or
g/14 after its final layer norm. The network is the ViT of Dosovitskiy et
al. 2021 as the DINOv2 release builds it:

* a 14x14, stride-14 convolution (with bias) cutting the image into
  patches, a learned CLS token in front of them, learned position
  embeddings for the 37x37 patches of a 518x518 image;
* for another grid (16x16 at the 224x224 input of the evaluations) the
  patch embeddings are resampled as the release does it: PyTorch's bicubic
  (A = -0.75, borders replicated, align_corners false) with the *scale
  factor* (grid + 0.1) / 37, so output cell i samples position
  (i + 0.5) * 37 / (grid + 0.1) - 0.5 (``offset`` 0.1; Hugging Face's
  port passes the size instead: ``offset`` 0.0); an unchanged 37x37 grid
  is used as it is;
* pre-norm blocks: x + ls1 * attn(norm1(x)), x + ls2 * mlp(norm2(x)),
  with LayerScale vectors ``ls.gamma``, layer norms of epsilon 1e-6,
  multi-head attention with one qkv projection (with biases), an MLP of
  4x width with exact (erf) GELU, or for g/14 SwiGLU (silu(x W1) * x W2,
  the two halves of ``w12``, of width 4096);
* a final layer norm; the feature is the CLS token.

The parameter tree follows the release's state dict
(``blocks.3.attn.qkv.weight`` -> params ``blocks_3/attn/qkv/kernel``):
:func:`variables_from_state_dict`. The mask token (training only) is
read and dropped.

Input (:func:`preprocess`): uint8 [N, H, W, 3] resized to 224x224, either
as dgm-eval does (``'pil_bicubic'``: Pillow's bicubic on the uint8 image,
its fixed-point arithmetic and uint8 rounding reproduced exactly) or as
torch-fidelity 0.4 does (``'tf1_bilinear'``: TensorFlow 1's bilinear,
as for the FID Inception), then scaled to [0, 1] and normalised with the
ImageNet mean and standard deviation.
"""

import functools
from typing import Dict, Mapping, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics import inception, inception_weights

INPUT_SIZE = 224  # The evaluations' input (dgm-eval, torch-fidelity).
PATCH = 14
TRAIN_GRID = 37  # 518 / 14: the grid the position embeddings were learnt at.
OFFSET = 0.1  # The release's interpolate_offset.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZES = ('pil_bicubic', 'tf1_bilinear')
_HIGHEST = jax.lax.Precision.HIGHEST  # As PyTorch: no TF32 in matmuls.


class Architecture(NamedTuple):
  width: int
  depth: int
  heads: int
  swiglu: bool = False


ARCHITECTURES = {
    'vits14': Architecture(384, 12, 6),
    'vitb14': Architecture(768, 12, 12),
    'vitl14': Architecture(1024, 24, 16),
    'vitg14': Architecture(1536, 40, 24, swiglu=True),
}


def _dense(features: int, name: str) -> nn.Dense:
  return nn.Dense(features, precision=_HIGHEST, name=name)


def _norm(name: str) -> nn.LayerNorm:
  return nn.LayerNorm(epsilon=1e-6, name=name)


class Attention(nn.Module):
  heads: int

  @nn.compact
  def __call__(self, x):
    n, tokens, width = x.shape
    head = width // self.heads
    qkv = _dense(3 * width, 'qkv')(x).reshape(n, tokens, 3, self.heads, head)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    logits = jnp.einsum(
        'nqhd,nkhd->nhqk', q * head**-0.5, k, precision=_HIGHEST
    )
    weights = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum('nhqk,nkhd->nqhd', weights, v, precision=_HIGHEST)
    return _dense(width, 'proj')(out.reshape(n, tokens, width))


class Mlp(nn.Module):

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    h = nn.gelu(_dense(4 * width, 'fc1')(x), approximate=False)
    return _dense(width, 'fc2')(h)


def swiglu_width(width: int) -> int:
  """The release's SwiGLU hidden width: 2/3 of 4x, up to a multiple of 8."""
  return (int(4 * width * 2 / 3) + 7) // 8 * 8


class SwiGLU(nn.Module):

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    gate, up = jnp.split(_dense(2 * swiglu_width(width), 'w12')(x), 2, -1)
    return _dense(width, 'w3')(nn.silu(gate) * up)


class LayerScale(nn.Module):

  @nn.compact
  def __call__(self, x):
    gamma = self.param('gamma', nn.initializers.ones, (x.shape[-1],))
    return x * gamma


class Block(nn.Module):
  heads: int
  swiglu: bool = False

  @nn.compact
  def __call__(self, x):
    x = x + LayerScale(name='ls1')(
        Attention(self.heads, name='attn')(_norm('norm1')(x))
    )
    mlp = SwiGLU(name='mlp') if self.swiglu else Mlp(name='mlp')
    return x + LayerScale(name='ls2')(mlp(_norm('norm2')(x)))


def _cubic_matrix(size_in: int, size_out: int, offset: float) -> np.ndarray:
  """[size_out, size_in]: PyTorch's bicubic (A = -0.75, align_corners
  false, indices clamped) with scale factor (size_out + offset) / size_in
  as the source positions' step."""
  if size_out == size_in:  # The release leaves an unchanged grid as is.
    return np.eye(size_in, dtype=np.float32)
  a = -0.75
  step = size_in / (size_out + offset)
  source = (np.arange(size_out) + 0.5) * step - 0.5
  low = np.floor(source)
  t = source - low
  near = lambda d: ((a + 2) * d - (a + 3)) * d * d + 1  # |d| <= 1
  far = lambda d: ((a * d - 5 * a) * d + 8 * a) * d - 4 * a  # 1 < |d| < 2
  weights = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], -1)
  matrix = np.zeros((size_out, size_in))
  for tap in range(4):
    index = np.clip(low.astype(int) + tap - 1, 0, size_in - 1)
    np.add.at(matrix, (np.arange(size_out), index), weights[:, tap])
  return matrix.astype(np.float32)


class DinoV2(nn.Module):
  """CLS features [N, width] of images already preprocessed,
  [N, H, W, 3] with H and W multiples of 14."""

  architecture: Architecture
  offset: float = OFFSET

  @nn.compact
  def __call__(self, x) -> jax.Array:
    width = self.architecture.width
    n, height, breadth, _ = x.shape
    rows, columns = height // PATCH, breadth // PATCH
    patches = nn.Conv(
        width,
        (PATCH, PATCH),
        strides=PATCH,
        padding='VALID',
        precision=_HIGHEST,
        name='patch_embed_proj',
    )(x).reshape(n, rows * columns, width)
    cls = self.param('cls_token', nn.initializers.zeros, (1, 1, width))
    positions = self.param(
        'pos_embed',
        nn.initializers.normal(0.02),
        (1, 1 + TRAIN_GRID**2, width),
    )
    grid = positions[0, 1:].reshape(TRAIN_GRID, TRAIN_GRID, width)
    if (rows, columns) != (TRAIN_GRID, TRAIN_GRID):
      grid = jnp.einsum(
          'ik,jl,kld->ijd',
          _cubic_matrix(TRAIN_GRID, rows, self.offset),
          _cubic_matrix(TRAIN_GRID, columns, self.offset),
          grid,
          precision=_HIGHEST,
      )
    positions = jnp.concatenate(
        [positions[:, :1], grid.reshape(1, rows * columns, width)], axis=1
    )
    x = jnp.concatenate([jnp.broadcast_to(cls, (n, 1, width)), patches], 1)
    x = x + positions
    for i in range(self.architecture.depth):
      x = Block(
          self.architecture.heads, self.architecture.swiglu, name=f'blocks_{i}'
      )(x)
    return _norm('norm')(x)[:, 0]


# --- Preprocessing ----------------------------------------------------------

_PRECISION_BITS = 22  # Pillow's 8-bit resampling: 32 - 8 - 2.


def _pil_bicubic(x: float) -> float:
  a = -0.5
  x = abs(x)
  if x < 1:
    return ((a + 2) * x - (a + 3)) * x * x + 1
  if x < 2:
    return (((x - 5) * x + 8) * x - 4) * a
  return 0.0


def pil_bicubic_coefficients(size_in: int, size_out: int) -> np.ndarray:
  """[size_out, size_in] int32: Pillow's bicubic resampling (a = -0.5,
  widened by the scale when shrinking: antialiased; taps outside the
  image dropped and the rest renormalised) in its 22-bit fixed point."""
  scale = size_in / size_out
  filter_scale = max(scale, 1.0)
  support = 2.0 * filter_scale
  matrix = np.zeros((size_out, size_in), np.int64)
  for out in range(size_out):
    center = (out + 0.5) * scale
    low = max(int(center - support + 0.5), 0)
    high = min(int(center + support + 0.5), size_in)
    taps = [
        _pil_bicubic((i - center + 0.5) / filter_scale)
        for i in range(low, high)
    ]
    total = sum(taps)
    for i, tap in zip(range(low, high), taps):
      fixed = (tap / total if total else tap) * (1 << _PRECISION_BITS)
      matrix[out, i] = int(fixed + 0.5) if fixed >= 0 else int(fixed - 0.5)
  return matrix.astype(np.int32)


def _pil_pass(images: jax.Array, axis: int, size: int) -> jax.Array:
  if images.shape[axis] == size:
    return images
  matrix = jnp.asarray(pil_bicubic_coefficients(images.shape[axis], size))
  moved = jnp.moveaxis(images.astype(jnp.int32), axis, -1)
  total = jnp.einsum('...i,oi->...o', moved, matrix)
  total = (total + (1 << (_PRECISION_BITS - 1))) >> _PRECISION_BITS
  return jnp.moveaxis(jnp.clip(total, 0, 255), -1, axis).astype(jnp.uint8)


def resize_pil_bicubic(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """uint8 [N, H, W, C] -> uint8 [N, size, size, C] as Pillow's
  ``Image.resize((size, size), BICUBIC)`` (what torchvision's Resize does
  to the PIL images dgm-eval reads): the horizontal pass, rounded and
  clipped to uint8, then the vertical one."""
  return _pil_pass(_pil_pass(images, 2, size), 1, size)


def preprocess(
    images: jax.Array, resize: str = 'pil_bicubic', size: int = INPUT_SIZE
) -> jax.Array:
  """uint8 [N, H, W, 3] -> the network's input: resized to size x size
  (``resize``: one of RESIZES), in [0, 1], ImageNet-normalised."""
  if resize == 'pil_bicubic':
    x = resize_pil_bicubic(images.astype(jnp.uint8), size).astype(jnp.float32)
  elif resize == 'tf1_bilinear':
    x = inception.resize_bilinear_tf1(images.astype(jnp.float32), size)
  else:
    raise ValueError(f'resize {resize!r}: expected one of {RESIZES}')
  mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
  std = jnp.asarray(IMAGENET_STD, jnp.float32)
  return (x / 255.0 - mean) / std


# --- Weights ----------------------------------------------------------------


def _set(tree: dict, path: Sequence[str], value) -> None:
  for key in path[:-1]:
    tree = tree.setdefault(key, {})
  tree[path[-1]] = value


def architecture_of(state: Mapping[str, np.ndarray]) -> str:
  """Which of ARCHITECTURES a release state dict holds (by width, depth
  and MLP); ValueError if none."""
  if 'cls_token' not in state:
    raise ValueError('no cls_token: not a DINOv2 state dict')
  width = int(np.shape(state['cls_token'])[-1])
  depth = 1 + max(
      (int(k.split('.')[1]) for k in state if k.startswith('blocks.')),
      default=-1,
  )
  swiglu = any('.mlp.w12.' in k for k in state)
  for name, arch in ARCHITECTURES.items():
    if (arch.width, arch.depth, arch.swiglu) == (width, depth, swiglu):
      return name
  raise ValueError(
      f'weights of width {width}, depth {depth}: not one of '
      f'{sorted(ARCHITECTURES)}'
  )


def variables_from_state_dict(state: Mapping[str, np.ndarray]) -> dict:
  """The release's state dict (arrays as NumPy) -> this module's
  variables: Linear weights transposed, the patch convolution OIHW ->
  HWIO, layer norms' weight -> scale; the mask token dropped."""
  params: dict = {}
  for name, stored in state.items():
    value = np.asarray(stored, np.float32)
    parts = name.split('.')
    if parts == ['mask_token']:
      continue
    if parts[0] == 'blocks':
      parts = [f'blocks_{parts[1]}', *parts[2:]]
    elif parts[:2] == ['patch_embed', 'proj']:
      parts = ['patch_embed_proj', *parts[2:]]
    *path, leaf = parts
    if not path:  # cls_token, pos_embed
      params[leaf] = value
    elif leaf == 'gamma':
      _set(params, path + [leaf], value)
    elif leaf == 'bias':
      _set(params, path + [leaf], value)
    elif leaf == 'weight' and path[-1].startswith('norm'):
      _set(params, path + ['scale'], value)
    elif leaf == 'weight' and value.ndim == 4:
      _set(params, path + ['kernel'], value.transpose(2, 3, 1, 0))
    elif leaf == 'weight' and value.ndim == 2:
      _set(params, path + ['kernel'], value.T)
    else:
      raise ValueError(f'unexpected entry {name!r} in the DINOv2 weights')
  return {'params': params}


def state_dict_from_variables(variables) -> Dict[str, np.ndarray]:
  """The inverse of :func:`variables_from_state_dict`, with a zero mask
  token: weights in the release's layout (e.g. random ones for tests)."""
  state = {}
  flat = jax.tree_util.tree_flatten_with_path(jax.device_get(variables))[0]
  for path, stored in flat:
    _, *names, leaf = [p.key for p in path]
    value = np.asarray(stored, np.float32)
    names = [
        n.replace('blocks_', 'blocks.').replace('_embed_proj', '_embed.proj')
        for n in names
    ]
    prefix = '.'.join(names + [''])
    if leaf == 'kernel' and value.ndim == 4:
      state[f'{prefix}weight'] = value.transpose(3, 2, 0, 1)
    elif leaf == 'kernel':
      state[f'{prefix}weight'] = value.T
    elif leaf == 'scale':
      state[f'{prefix}weight'] = value
    else:
      state[f'{prefix}{leaf}'] = value
  state['mask_token'] = np.zeros((1, state['cls_token'].shape[-1]), np.float32)
  return state


def abstract_variables(model: str):
  """The variables' shapes of ``model`` (a key of ARCHITECTURES)."""
  return jax.eval_shape(
      DinoV2(ARCHITECTURES[model]).init,
      jax.random.PRNGKey(0),
      jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32),
  )


def check_variables(variables, model: str) -> None:
  """ValueError naming the first entry whose name or shape differs from
  ``model``'s."""
  inception_weights.check_shapes(variables, abstract_variables(model))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _features(model: str, variables, images, resize: str):
  x = preprocess(images, resize)
  return DinoV2(ARCHITECTURES[model]).apply(variables, x)


def features(
    model: str, variables, images: jax.Array, resize: str = 'pil_bicubic'
) -> jax.Array:
  """CLS features [N, width] of uint8 images [N, H, W, 3] through
  ``model`` (a key of ARCHITECTURES) with ``variables``; compiled once per
  model, input shape and resize."""
  return _features(model, variables, images, resize)
