"""The DINOv2 weights of FD-DINOv2: where they are looked for, checked
and read, without PyTorch.

The files are the release's backbones, as torch.hub loads them
(``dinov2_vits14_pretrain.pth`` and the B/14, L/14, g/14 ones from
dl.fbaipublicfiles.com/dinov2/): PyTorch state dicts with the release's
names (``cls_token``, ``pos_embed``, ``patch_embed.proj.weight``,
``blocks.N.attn.qkv.weight``, ``blocks.N.ls1.gamma``, ``mask_token``, ...).
The release publishes no digest and its names carry none: a file is
checked by its entries' names and shapes (every one of the architecture,
nothing else), and its SHA-256 is recorded in the evaluation's protocol.

Lookup (:func:`find_weights`): a path given by the caller (the config),
else ``$GAN_JAX_DINOV2_WEIGHTS``, else the cache directory (``$GAN_JAX_CACHE``,
else ``~/.cache/gan_jax``, as the Inception weights), else a download
into it where a network exists (from ``$GAN_JAX_DINOV2_URL`` if set: a
mirror's directory). Absent and offline: :class:`WeightsNotFound`, one
line saying where to put the file and where to get it.

The reader is the Inception weights' (:func:`inception_weights.read_state_dict`:
PyTorch's zip format or a NumPy ``.npz`` of the same names, unpickled
without PyTorch). A ``.npz`` from a ``.pth``, where PyTorch is at hand::

    python -c "import sys, numpy, torch; numpy.savez(sys.argv[2], **{k: v.float().numpy() for k, v in torch.load(sys.argv[1], map_location='cpu').items()})" dinov2_vits14_pretrain.pth dinov2_vits14_pretrain.npz
"""

import os
from typing import Optional, Tuple

from gan_jax.cache_files import sha256
from gan_jax.metrics import inception_weights

# Reused, so callers catch one kind of error for either network.
WeightsNotFound = inception_weights.WeightsNotFound
BadWeights = inception_weights.BadWeights

MODELS = ('vits14', 'vitb14', 'vitl14', 'vitg14')
URL_ROOT = 'https://dl.fbaipublicfiles.com/dinov2'
ENV_PATH = 'GAN_JAX_DINOV2_WEIGHTS'
ENV_URL = 'GAN_JAX_DINOV2_URL'  # A mirror's directory of the files.


def weights_file(model: str) -> str:
  return f'dinov2_{model}_pretrain.pth'


def weights_url(model: str, root: Optional[str] = None) -> str:
  if root:
    return f'{root.rstrip("/")}/{weights_file(model)}'
  return f'{URL_ROOT}/dinov2_{model}/{weights_file(model)}'


def _check_model(model: str) -> None:
  if model not in MODELS:
    raise ValueError(f'DINOv2 model {model!r}: expected one of {MODELS}')


def find_weights(
    model: str, path: Optional[str] = None, download: bool = True
) -> str:
  """The weights file of ``model`` (one of MODELS), by the lookup order
  above."""
  _check_model(model)
  path = path or os.environ.get(ENV_PATH)
  if path:
    if not os.path.isfile(path):
      raise WeightsNotFound(f'no DINOv2 weights file at {path}')
    return path
  directory = inception_weights.cache_dir()
  cached = os.path.join(directory, weights_file(model))
  if os.path.isfile(cached):
    return cached
  url = weights_url(model, os.environ.get(ENV_URL))
  if download and inception_weights.fetch(url, cached):
    return cached
  raise WeightsNotFound(
      f'no DINOv2 weights: put {weights_file(model)} (from '
      f'{weights_url(model)}) in {directory}, or name the file with '
      f'${ENV_PATH}'
  )


def load_variables(path: str, model: str) -> Tuple[dict, str]:
  """(variables, the file's SHA-256) of ``model`` from the file at
  ``path``; BadWeights, one line, if it cannot be read or is not that
  architecture (every entry's name and shape checked)."""
  from gan_jax.metrics import dinov2  # pylint: disable=g-import-not-at-top

  _check_model(model)
  try:
    digest = sha256(path)
  except OSError as error:
    raise BadWeights(
        f'cannot read the DINOv2 weights {path}: '
        f'{error.strerror or type(error).__name__}'
    ) from None
  state = inception_weights.read_state_dict(path, 'DINOv2 weights')
  try:
    found = dinov2.architecture_of(state)
    if found != model:
      raise ValueError(f'these are {found} weights, not {model}')
    variables = dinov2.variables_from_state_dict(state)
    dinov2.check_variables(variables, model)
  except (ValueError, KeyError) as error:
    raise BadWeights(f'{path}: {error}') from None
  return variables, digest
