"""PacGAN's 2-D protocol (Lin et al. 2018, Table 1), from its public code.

Every number is from github.com/fjxmlzn/PacGAN, synthetic_data_experiments/
(``2DGrid_GAN&PacGAN/config.py`` and ``2DRing_GAN&PacGAN/config.py``, the
same settings for both; the networks and losses in ``pacgan_task.py`` and
``PacGAN/pacgan/bricks.py``):

* G: 2-D standard normal z; 4 hidden layers of 400 ReLU units, each
  linear without bias then batch norm; a linear output.
* D: 3 hidden maxout layers of 200 units with 5 pieces, no normalisation,
  no dropout; a linear logit. Its input is a pack of m samples, 2m wide.
* All weights N(0, 0.02), biases 0 (``weights_init_std``, ``biases_init``).
* Losses: D softplus(-l_real) + softplus(l_fake); G softplus(-l_fake) (the
  non-saturating game; its softplus(l_real) term has no gradient in G).
* Adam, learning rate 1e-4, beta1 0.8 (beta2 0.999, blocks' default) for
  both, constant.
* Batches of 100 packs (100 m samples); 400 epochs of 100,000 packs:
  400,000 updates of each network.
* The data in the code's own coordinates: grid25's centres at -4..4 and
  ring8's on the unit circle reach the networks as they are
  (``data.scale=1``, where gan_jax's other configs scale them to about
  unit size).
* Evaluated on 2,500 samples of the live generator; 10 trials.

Where gan_jax differs, and why it should not matter: D and G update in
turn (D first) where blocks applies both updates of a step at once; fresh
data every step rather than epochs over a fixed 100,000; flax's batch norm
momentum 0.9 and epsilon 1e-5 against blocks' running average at 0.95 and
epsilon 1e-4 (the eval-time statistics only).
"""

from experiments.configs import default
from experiments.configs.protocols import constant_adam

VARIANT = 'non_saturating'
# Packs per batch in the paper; train.batch_size is examples, 100 * pack.
PACKS_PER_BATCH = 100
PUBLISHED_STEPS = 400_000
FIELDS = {
    'model.latent_dim': 2,
    'model.width': 400,
    'model.depth': 4,
    'model.g_norm': 'batch',
    'model.d_width': 200,
    'model.d_depth': 3,
    'model.d_maxout_pieces': 5,
    'model.activation': 'relu',
    'model.weight_init': 'normal',
    'model.init_scale': 0.02,
    'model.pack': 1,
    'data.scale': 1.0,
    **constant_adam(g_lr=1e-4, d_lr=1e-4, b1=0.8),
    'train.batch_size': PACKS_PER_BATCH,
    'train.steps': PUBLISHED_STEPS,
    'train.eval_every': 10_000,
    'train.checkpoint_every': 10_000,
}


def packed(m: int):
  """The fields of PacGAN-m: packs of m, batches of 100 packs."""
  return {'model.pack': m, 'train.batch_size': PACKS_PER_BATCH * m}


def get_config():
  """PacGAN's protocol for one run (``--config.model.pack=2`` and
  ``--config.train.batch_size=200`` for PacGAN2); its variant's objective
  and optimizer are part of FIELDS, so pass no --variant."""
  config = default.get_config()
  config.variant = 'pacgan_protocol'
  config.objective.name = VARIANT
  config.update_from_flattened_dict(FIELDS)
  return config
