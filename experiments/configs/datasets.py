"""Per-dataset defaults, applied when ``--dataset=NAME`` picks the dataset.

The 2-D benchmarks use experiments/configs/default.py as it is. Image
datasets get the DCGAN setting of Radford et al. (2016): batch 64, z of 100
dimensions from N(0, I), batch norm in G; the variants keep their published
optimizers (DCGAN's Adam 2e-4, beta1 0.5 for the cross-entropy games).

D uses layer norm rather than DCGAN's batch norm, for every objective: batch
norm makes D(x_i) depend on the rest of the batch, which the per-example
gradient penalty of WGAN-GP and R1 cannot have (Gulrajani et al. used layer
norm for this reason), and one critic for all objectives keeps an ablation
about the objective alone. ``--config.model.d_norm=batch`` restores DCGAN's
for the games without a penalty.

Sizes are chosen so the embedded datasets train in minutes on a laptop CPU
and the public ones run the usual length on an accelerator.
"""

from typing import Any, Dict

_IMAGE = {
    'model.name': 'dcgan',
    'model.latent_dim': 100,
    'model.width': 64,
    'model.g_norm': 'batch',
    'model.d_norm': 'layer',
    'train.batch_size': 64,
    'ema.decay': 0.999,
    'eval.num_samples': 10_000,
    # Constant learning rates, as DCGAN (the 2-D default decays linearly).
    'optim.g.schedule': 'constant',
    'optim.d.schedule': 'constant',
}

# Digits are nearly binary (each pixel ink or background): StyleGAN2's
# linear output collapsed on them (docs/images.md); tanh, as the DCGAN
# family's, did not. Only StyleGAN2 reads the field.
_DIGITS = {'model.squash_output': True}

DATASET_DEFAULTS: Dict[str, Dict[str, Any]] = {
    'digits': {
        **_IMAGE,
        **_DIGITS,
        'model.width': 32,
        'train.steps': 10_000,
        'train.log_every': 100,
        'train.eval_every': 2000,
        'train.checkpoint_every': 2000,
    },
    'stacked_digits': {
        **_IMAGE,
        **_DIGITS,
        'model.width': 32,
        'train.steps': 10_000,
        'train.log_every': 100,
        'train.eval_every': 2000,
        'train.checkpoint_every': 2000,
        'eval.mode_samples': 26_000,
    },
    'mnist': {
        **_IMAGE,
        **_DIGITS,
        'train.steps': 20_000,
        'train.log_every': 100,
        'train.eval_every': 2000,
        'train.checkpoint_every': 2000,
    },
    'fashion_mnist': {
        **_IMAGE,
        'train.steps': 20_000,
        'train.log_every': 100,
        'train.eval_every': 2000,
        'train.checkpoint_every': 2000,
    },
    'cifar10': {
        **_IMAGE,
        'train.steps': 50_000,
        'train.log_every': 100,
        'train.eval_every': 5000,
        'train.checkpoint_every': 5000,
        'data.random_flip': True,
    },
    'celeb_a': {
        **_IMAGE,
        'train.steps': 50_000,
        'train.log_every': 100,
        'train.eval_every': 5000,
        'train.checkpoint_every': 5000,
        'data.random_flip': True,
    },
}


# Your own images (folder:PATH, tfds:NAME) take the defaults of the named
# dataset closest in side: up to 16 the 8x8 digits' schedule (without
# their squashed output, for images that are not nearly binary), up to 32
# CIFAR-10's, larger CelebA's.
OWN_BY_SIDE = ((16, 'digits'), (32, 'cifar10'), (None, 'celeb_a'))


def dataset_defaults(name: str, side: int = 0) -> Dict[str, Any]:
  """Flat config overrides for dataset ``name`` ({} for the 2-D ones);
  ``side``: the images' side, for a folder: or tfds: dataset."""
  from gan_jax.data.own_images import is_own

  if is_own(name):
    like = next(n for limit, n in OWN_BY_SIDE if limit is None or side <= limit)
    own = dict(DATASET_DEFAULTS[like])
    if like == 'digits':
      own.pop('model.squash_output')
    return own
  return DATASET_DEFAULTS.get(name, {})
