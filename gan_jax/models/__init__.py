"""Generator and discriminator modules, looked up by name.

Every model pair follows one interface so new families drop in:

* ``generator(z, labels=None, train) -> x`` with z of shape [B, latent_dim]
  and x of the data's shape [B, ...];
* ``discriminator(x, labels=None, train) -> outputs`` of shape [B] (logits or
  critic values).

``labels`` [B] are passed exactly when the pair is class-conditional
(``num_classes > 0``, see :mod:`gan_jax.models.conditioning`).

Non-trainable collections a module creates (``batch_stats``, spectral-norm
vectors) are carried in the train state's ``model_state`` and updated by the
step functions, so image models with normalisation need no new plumbing.
"""

from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import flax.linen as nn

from gan_jax.models import conv_transpose, dcgan, mlp, sngan, stylegan2
from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator


def _mlp(
    config: Mapping[str, Any],
    data_shape: Sequence[int],
    axis_name: Optional[str],
    num_classes: int,
    cpu_layers: bool,
) -> Tuple[nn.Module, nn.Module]:
  del cpu_layers  # Dense layers only.
  shared = dict(
      batch_axis_name=axis_name,
      num_classes=num_classes,
      activation=config.get('activation', 'relu'),
      weight_init=config.get('weight_init', 'default'),
      init_scale=config.get('init_scale', 1.0),
  )
  return (
      MLPGenerator(
          output_shape=tuple(data_shape),
          width=config['width'],
          depth=config['depth'],
          norm=config['g_norm'],
          **shared,
      ),
      MLPDiscriminator(
          width=config.get('d_width') or config['width'],
          depth=config.get('d_depth') or config['depth'],
          norm=config['d_norm'],
          maxout_pieces=config.get('d_maxout_pieces', 0),
          **shared,
      ),
  )


def _dcgan(
    config: Mapping[str, Any],
    data_shape: Sequence[int],
    axis_name: Optional[str],
    num_classes: int,
    cpu_layers: bool,
) -> Tuple[nn.Module, nn.Module]:
  up, down = conv_transpose.layers_4x4(cpu_layers)
  return (
      DCGANGenerator(
          output_shape=tuple(data_shape),
          width=config['width'],
          norm=config['g_norm'],
          batch_axis_name=axis_name,
          num_classes=num_classes,
          conv_transpose=up,
      ),
      DCGANDiscriminator(
          width=config['width'],
          norm=config['d_norm'],
          batch_axis_name=axis_name,
          num_classes=num_classes,
          conv=down,
      ),
  )


def _sngan(generator, discriminator):
  def build(
      config: Mapping[str, Any],
      data_shape: Sequence[int],
      axis_name: Optional[str],
      num_classes: int,
      cpu_layers: bool,
  ) -> Tuple[nn.Module, nn.Module]:
    up, down = conv_transpose.layers_4x4(cpu_layers)
    return (
        generator(
            output_shape=tuple(data_shape),
            width=config['width'],
            norm=config['g_norm'],
            batch_axis_name=axis_name,
            num_classes=num_classes,
            conv_transpose=up,
        ),
        discriminator(
            width=config['width'],
            norm=config['d_norm'],
            num_classes=num_classes,
            conv=down,
        ),
    )

  return build


def _stylegan2(
    config: Mapping[str, Any],
    data_shape: Sequence[int],
    axis_name: Optional[str],
    num_classes: int,
    cpu_layers: bool,
) -> Tuple[nn.Module, nn.Module]:
  del cpu_layers  # No layer with a CPU formulation.
  return (
      stylegan2.StyleGAN2Generator(
          output_shape=tuple(data_shape),
          width=config['width'],
          depth=config['depth'],
          w_dim=config['latent_dim'],
          num_classes=num_classes,
          mixing_prob=config.get('mixing_prob', 0.9),
          truncation_psi=config.get('truncation_psi', 1.0),
          squash_output=config.get('squash_output', False),
          batch_axis_name=axis_name,
      ),
      stylegan2.StyleGAN2Discriminator(
          width=config['width'],
          num_classes=num_classes,
          batch_axis_name=axis_name,
      ),
  )


# name -> (model config, data shape, axis name, num_classes, cpu_layers)
#      -> (generator, discriminator)
MODELS: Mapping[str, Callable[..., Tuple[nn.Module, nn.Module]]] = {
    'mlp': _mlp,
    'dcgan': _dcgan,
    'sngan_cnn': _sngan(sngan.SNGANCNNGenerator, sngan.SNGANCNNDiscriminator),
    'sngan_resnet': _sngan(
        sngan.SNGANResNetGenerator, sngan.SNGANResNetDiscriminator
    ),
    'stylegan2': _stylegan2,
}

# The image families, and which images each can take (None: these, else
# why not).
IMAGE_MODELS: Mapping[str, Callable[[Sequence[int]], Optional[str]]] = {
    'dcgan': dcgan.check_image_shape,
    'sngan_cnn': sngan.check_image_shape,
    'sngan_resnet': sngan.check_image_shape,
    'stylegan2': stylegan2.check_image_shape,
}

# The families whose generator maps z to styles w (``mapping_ws``) and
# synthesises from them (``synthesis``): path-length regularisation and
# truncation apply.
STYLE_MODELS = ('stylegan2',)

# The normalisations each family offers, (generator's, discriminator's),
# for config validation.
NORMS: Mapping[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    'mlp': (mlp.NORMS, mlp.NORMS),
    'dcgan': (dcgan.G_NORMS, dcgan.D_NORMS),
    'sngan_cnn': (sngan.G_NORMS, sngan.D_NORMS),
    'sngan_resnet': (sngan.G_NORMS, sngan.D_NORMS),
    'stylegan2': (stylegan2.NORMS, stylegan2.NORMS),
}


def build_models(
    config: Mapping[str, Any],
    data_shape: Sequence[int],
    axis_name: Optional[str] = None,
    num_classes: int = 0,
    cpu_layers: bool = True,
) -> Tuple[nn.Module, nn.Module]:
  """Returns (generator, discriminator) for ``config['name']``.

  ``axis_name`` names the device axis that batch statistics are averaged
  over when the steps run under pmap or shard_map; ``num_classes > 0`` makes
  the pair class-conditional; ``cpu_layers`` picks the XLA:CPU
  formulations of the 4x4 stride-2 layers over flax's own
  (models/conv_transpose.py; same params and outputs).
  """
  name = config['name']
  if name not in MODELS:
    raise ValueError(f'unknown model {name!r}; valid: {", ".join(MODELS)}')
  return MODELS[name](config, data_shape, axis_name, num_classes, cpu_layers)
