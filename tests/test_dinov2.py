"""The Flax DINOv2 equals a reference run side by side, on random weights.

References:

* the network: Hugging Face transformers' ``Dinov2Model`` (5.23.0), built
  from a ``Dinov2Config`` with ViT-S/14's width and heads (2 blocks, to
  stay fast) and *random* weights (LayerScale and layer norms included),
  its state dict converted to the DINOv2 release's layout and read by
  :func:`dinov2.variables_from_state_dict`. Transformers resamples the
  position embeddings by size, the release by scale factor with an offset
  of 0.1: the whole-network comparison uses ``offset=0.0`` and the
  release's resampling is checked alone, against
  ``torch.nn.functional.interpolate`` called as the release calls it;
* the resize: Pillow's ``Image.resize(BICUBIC)`` (dgm-eval's transform,
  exactly equal) and torch-fidelity 0.4's TF1 bilinear (its DINOv2
  extractor's).

PyTorch, transformers and Pillow are test-only (.ci/run installs them
where it can); without them those tests are skipped.
"""

import importlib.util

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics import dinov2
from tests import helpers


def _transformers():
  """transformers, importable beside a torchvision that does not match
  the CPU torch (its image utilities import torchvision when installed;
  the model does not need it)."""
  pytest.importorskip('torch')
  helpers.import_torchvision()
  return pytest.importorskip('transformers')


def _hf_to_release(state) -> dict:
  """A transformers Dinov2Model state dict -> the release's names."""
  out = {}
  for stored_name, stored in state.items():
    value = stored.detach().numpy().astype(np.float32)
    name = (
        stored_name.replace('embeddings.cls_token', 'cls_token')
        .replace('embeddings.mask_token', 'mask_token')
        .replace('embeddings.position_embeddings', 'pos_embed')
        .replace('embeddings.patch_embeddings.projection', 'patch_embed.proj')
        .replace('encoder.layer.', 'blocks.')
        .replace('attention.o_proj', 'attn.proj')
        .replace('layer_scale1.lambda1', 'ls1.gamma')
        .replace('layer_scale2.lambda1', 'ls2.gamma')
        .replace('mlp.down_proj', 'mlp.w3')
    )
    if name.startswith('layernorm.'):
      name = name.replace('layernorm.', 'norm.', 1)
    out[name] = value
  for prefix in sorted({k.rsplit('.attention.', 1)[0] for k in out}):
    for leaf in ('weight', 'bias'):
      parts = [f'{prefix}.attention.{p}_proj.{leaf}' for p in 'qkv']
      if parts[0] in out:
        out[f'{prefix}.attn.qkv.{leaf}'] = np.concatenate(
            [out.pop(p) for p in parts]
        )
      gate = f'{prefix}.mlp.gate_proj.{leaf}'
      if gate in out:  # SwiGLU: w12 holds the gate, then the up projection.
        out[f'{prefix}.mlp.w12.{leaf}'] = np.concatenate(
            [out.pop(gate), out.pop(f'{prefix}.mlp.up_proj.{leaf}')]
        )
  return out


def _random_hf_model(width, layers, heads, swiglu=False):
  transformers = _transformers()
  import torch  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  config = transformers.Dinov2Config(
      hidden_size=width,
      num_hidden_layers=layers,
      num_attention_heads=heads,
      image_size=518,
      patch_size=14,
      use_swiglu_ffn=swiglu,
  )
  model = transformers.Dinov2Model(config).eval()
  with torch.no_grad():  # Every parameter random, gains about 1.
    for name, p in model.named_parameters():
      if name.endswith('lambda1') or (
          'norm' in name and name.endswith('weight')
      ):
        p.copy_(torch.rand_like(p) + 0.5)
      elif 'position_embeddings' in name or 'token' in name:
        p.copy_(torch.randn_like(p))
      else:
        p.copy_(torch.randn_like(p) * 0.05)
  return model, torch


def _images(count=3, side=32, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (count, side, side, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    'width,layers,heads,swiglu', [(384, 2, 6, False), (48, 1, 4, True)]
)
def test_cls_features_equal_transformers(width, layers, heads, swiglu):
  """ViT-S/14 (2 blocks) and a small SwiGLU ViT (g/14's MLP): the CLS
  features after the final norm, through the whole preprocessing (Pillow
  bicubic to 224, ImageNet normalisation), within 1e-4 relative."""
  Image = pytest.importorskip('PIL.Image')

  model, torch = _random_hf_model(width, layers, heads, swiglu)
  state = _hf_to_release(model.state_dict())
  variables = dinov2.variables_from_state_dict(state)
  images = _images()
  # The reference's input: Pillow's resize (dgm-eval), to [0, 1], ImageNet.
  resized = np.stack(
      [
          np.asarray(
              Image.fromarray(x).resize((224, 224), Image.Resampling.BICUBIC)
          )
          for x in images
      ]
  ).astype(np.float32)
  x = (resized / 255.0 - np.float32(dinov2.IMAGENET_MEAN)) / np.float32(
      dinov2.IMAGENET_STD
  )
  with torch.no_grad():
    expected = model(
        pixel_values=torch.from_numpy(x.transpose(0, 3, 1, 2))
    ).pooler_output.numpy()
  arch = dinov2.Architecture(width, layers, heads, swiglu)
  got = dinov2.DinoV2(arch, offset=0.0).apply(
      variables, dinov2.preprocess(jnp.asarray(images))
  )
  scale = np.abs(expected).max()
  np.testing.assert_allclose(np.asarray(got), expected, atol=1e-4 * scale)
  assert np.abs(np.asarray(got) - expected).max() / scale < 1e-4


@pytest.mark.parametrize('grid', [16, 37, 9])
def test_position_resampling_equals_the_releases_call(grid):
  """The release's interpolate_pos_encoding: bicubic, scale factor
  (grid + 0.1) / 37, no antialias; the 37x37 grid unchanged."""
  torch = pytest.importorskip('torch')
  rng = np.random.default_rng(1)
  table = rng.normal(size=(37, 37, 5)).astype(np.float32)
  if grid == 37:
    expected = table
  else:
    factor = (grid + dinov2.OFFSET) / 37
    expected = (
        torch.nn.functional.interpolate(
            torch.from_numpy(table.transpose(2, 0, 1))[None],
            scale_factor=(factor, factor),
            mode='bicubic',
            antialias=False,
        )[0]
        .numpy()
        .transpose(1, 2, 0)
    )
  matrix = dinov2._cubic_matrix(37, grid, dinov2.OFFSET)  # pylint: disable=protected-access
  got = np.einsum('ik,jl,kld->ijd', matrix, matrix, table)
  np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize('side', [32, 8, 300, 224])
def test_pil_bicubic_equals_pillow(side):
  """Pillow's bicubic, up and down (antialiased), exactly."""
  Image = pytest.importorskip('PIL.Image')

  images = _images(2, side, seed=side)
  expected = np.stack(
      [
          np.asarray(
              Image.fromarray(x).resize((224, 224), Image.Resampling.BICUBIC)
          )
          for x in images
      ]
  )
  got = np.asarray(dinov2.resize_pil_bicubic(jnp.asarray(images)))
  np.testing.assert_array_equal(got, expected)


def test_tf1_bilinear_equals_torch_fidelity():
  """torch-fidelity 0.4's DINOv2 input: its TF1 bilinear to 224, then the
  ImageNet normalisation in [0, 255] units."""
  torch = pytest.importorskip('torch')
  spec = importlib.util.find_spec('torch_fidelity')
  if spec is None:
    pytest.skip('torch-fidelity is not installed')
  (location,) = spec.submodule_search_locations
  # Loaded alone: the package's __init__ imports torchvision.
  module_spec = importlib.util.spec_from_file_location(
      '_tf1_resize', f'{location}/interpolate_compat_tensorflow.py'
  )
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  images = _images()
  x = torch.from_numpy(images.transpose(0, 3, 1, 2)).float()
  x = module.interpolate_bilinear_2d_like_tensorflow1x(
      x, size=(224, 224), align_corners=False
  )
  mean = torch.tensor(dinov2.IMAGENET_MEAN).view(1, 3, 1, 1) * 255
  std = torch.tensor(dinov2.IMAGENET_STD).view(1, 3, 1, 1) * 255
  expected = ((x - mean) / std).numpy().transpose(0, 2, 3, 1)
  got = dinov2.preprocess(jnp.asarray(images), 'tf1_bilinear')
  np.testing.assert_allclose(np.asarray(got), expected, atol=2e-5)


def test_state_dict_round_trip_and_architectures():
  """Release names and shapes in, the same out (mask token zero); the
  architecture told from the weights; a wrong shape named."""
  variables = jax.eval_shape(
      dinov2.DinoV2(dinov2.ARCHITECTURES['vits14']).init,
      jax.random.PRNGKey(0),
      jnp.zeros((1, 224, 224, 3)),
  )
  zeros = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), variables)
  state = dinov2.state_dict_from_variables(zeros)
  assert 'blocks.11.attn.qkv.weight' in state
  assert state['blocks.0.ls1.gamma'].shape == (384,)
  assert state['patch_embed.proj.weight'].shape == (384, 3, 14, 14)
  assert state['pos_embed'].shape == (1, 1370, 384)
  assert state['mask_token'].shape == (1, 384)
  assert dinov2.architecture_of(state) == 'vits14'
  back = dinov2.variables_from_state_dict(state)
  dinov2.check_variables(back, 'vits14')
  assert dinov2.swiglu_width(1536) == 4096
  state['blocks.0.attn.qkv.weight'] = np.zeros((3, 3), np.float32)
  with pytest.raises(ValueError, match='qkv'):
    dinov2.check_variables(dinov2.variables_from_state_dict(state), 'vits14')


def test_weights_read_from_the_release_layout(tmp_path, monkeypatch):
  """A file saved by torch.save with the release's names loads (zip .pth
  without PyTorch, and .npz); another architecture, a foreign file and a
  missing one are one line each."""
  torch = pytest.importorskip('torch')
  from gan_jax.metrics import dinov2_weights  # pylint: disable=g-import-not-at-top

  shapes = dinov2.abstract_variables('vits14')
  rng = np.random.default_rng(0)
  state = dinov2.state_dict_from_variables(
      jax.tree.map(
          lambda s: rng.normal(size=s.shape).astype(np.float32), shapes
      )
  )
  path = tmp_path / 'dinov2_vits14_pretrain.pth'
  torch.save({k: torch.from_numpy(v) for k, v in state.items()}, str(path))
  variables, digest = dinov2_weights.load_variables(str(path), 'vits14')
  assert len(digest) == 64
  np.testing.assert_array_equal(
      variables['params']['blocks_3']['attn']['qkv']['kernel'],
      state['blocks.3.attn.qkv.weight'].T,
  )
  np.savez(tmp_path / 'w.npz', **state)
  again, _ = dinov2_weights.load_variables(str(tmp_path / 'w.npz'), 'vits14')
  np.testing.assert_array_equal(
      again['params']['pos_embed'], state['pos_embed']
  )
  with pytest.raises(dinov2_weights.BadWeights, match='vits14 weights, not'):
    dinov2_weights.load_variables(str(path), 'vitl14')
  (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
  with pytest.raises(dinov2_weights.BadWeights, match='DINOv2 weights'):
    dinov2_weights.load_variables(str(tmp_path / 'junk.pth'), 'vits14')
  monkeypatch.setenv('GAN_JAX_CACHE', str(tmp_path / 'cache'))
  monkeypatch.delenv(dinov2_weights.ENV_PATH, raising=False)
  with pytest.raises(dinov2_weights.WeightsNotFound) as absent:
    dinov2_weights.find_weights('vitl14', download=False)
  assert 'dinov2_vitl14_pretrain.pth' in str(absent.value)
  assert '\n' not in str(absent.value)
  monkeypatch.setenv(dinov2_weights.ENV_PATH, str(path))
  assert dinov2_weights.find_weights('vitl14') == str(path)
