"""Default translation experiment: CycleGAN on the embedded digits_rot pair.

``python -m experiments.translate --pair=NAME`` applies NAME's defaults
(PAIR_DEFAULTS below) over this file, then every ``--config.*`` flag. The
fields a pair does not set are the paper's (Zhu et al. 2017, Sec. 4):
least-squares adversarial loss, lambda 10, identity loss 0.5 lambda, a
history of 50 generated images, Adam 2e-4 with beta1 0.5, constant for
half of the run and then decaying linearly to 0.
"""

from typing import Any, Dict

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  # digits_rot | grid25_shear | a CycleGAN dataset (horse2zebra, ...) |
  # A:B of two image datasets (gan_jax/data/pairs.py).
  config.pair = 'digits_rot'
  config.seed = 0

  config.data = ml_collections.ConfigDict()
  config.data.dir = ''  # TFDS data dir; '' is $TFDS_DATA_DIR or the default.
  # How domains of different channel counts meet: '' (they must agree),
  # 'grey' (RGB to luma) or 'rgb' (grey repeated).
  config.data.channels = ''
  # Train on image_size x image_size crops of images resized to load_size
  # (the paper: 286, then random 256 crops); 0: the pair's own size, no
  # crop. Both on device, with the optional horizontal flip.
  config.data.image_size = 0
  config.data.load_size = 0
  config.data.random_flip = False

  config.objective = ml_collections.ConfigDict()
  config.objective.name = 'least_squares'  # gan_jax.losses.OBJECTIVES
  config.objective.real_target = 1.0
  config.objective.fake_target = 0.0

  config.loss = ml_collections.ConfigDict()
  config.loss.cycle_weight = 10.0  # lambda.
  config.loss.identity_weight = 0.5  # Times lambda; 0 turns it off.

  config.history = ml_collections.ConfigDict()
  config.history.size = 50  # Generated images D trains on; 0: none.

  config.model = ml_collections.ConfigDict()
  config.model.g_width = 64  # Channels of the first layer (the paper: 64).
  config.model.d_width = 64
  config.model.blocks = 0  # Residual blocks of G; 0: from the image size.
  config.model.depth = 3  # Hidden layers of the 2-D pairs' MLPs.

  config.optim = ml_collections.ConfigDict()
  for side in ('g', 'd'):
    config.optim[side] = ml_collections.ConfigDict(
        dict(
            name='adam',
            lr=2e-4,
            b1=0.5,
            b2=0.999,
            schedule='constant_then_linear',
        )
    )

  config.train = ml_collections.ConfigDict()
  config.train.steps = 3000
  config.train.batch_size = 32
  config.train.log_every = 100
  config.train.eval_every = 500
  config.train.checkpoint_every = 500
  config.train.keep_checkpoints = 2
  config.train.num_devices = 0  # 0: all.
  config.train.parallel = 'jit'  # jit | shard_map | pmap
  config.train.steps_per_dispatch = 0  # 0: as experiments.run.
  config.train.formulation = 'auto'  # auto | cpu | standard
  config.train.compute_dtype = 'float32'
  # The step factory (gan_jax.translation.steps.ALGORITHMS): cyclegan | a
  # registered one.
  config.train.algorithm = 'cyclegan'

  config.eval = ml_collections.ConfigDict()
  # Test images per domain (0: all of the test split).
  config.eval.num_samples = 0
  # 2-D pairs: points translated for the mode statistics.
  config.eval.points = 2500
  config.eval.threshold = 3.0
  # Image features of FD/KID: 'auto' (the digit classifier for pairs of
  # digits, Inception for the others when its weights are found), or
  # 'classifier', 'inception', 'none'.
  config.eval.features = 'auto'
  config.eval.classifier_steps = 2000
  config.eval.inception = ml_collections.ConfigDict(
      dict(weights='', any_weights=False, batch_size=0)
  )
  return config


_PUBLIC = {
    'data.image_size': 256,
    'data.load_size': 286,
    'data.random_flip': True,
    'train.batch_size': 1,
    'train.steps': 200 * 1000,
    'train.log_every': 100,
    'train.eval_every': 10_000,
    'train.checkpoint_every': 10_000,
}

# Flat overrides per pair. digits_rot: widths of 32 and batch 32 keep a run
# to minutes on a 2-core CPU (docs/translation.md). grid25_shear: the toy
# GAN's MLPs and batch.
PAIR_DEFAULTS: Dict[str, Dict[str, Any]] = {
    'digits_rot': {
        'model.g_width': 32,
        'model.d_width': 32,
        'train.steps': 3000,
    },
    'grid25_shear': {
        'train.batch_size': 256,
        'train.steps': 5000,
        'model.g_width': 128,
        'model.d_width': 128,
        'loss.identity_weight': 0.0,
        'optim.g.lr': 1e-3,
        'optim.d.lr': 1e-3,
        'train.log_every': 500,
        'train.eval_every': 1000,
        'train.checkpoint_every': 1000,
    },
}


def pair_defaults(name: str) -> Dict[str, Any]:
  """Flat overrides for pair ``name`` ({} for A:B pairs of image datasets,
  the paper's setting for the CycleGAN datasets)."""
  from gan_jax.data.pairs import CYCLE_GAN  # Keep --help fast.

  if name in CYCLE_GAN:
    return dict(_PUBLIC)
  return PAIR_DEFAULTS.get(name, {})
