"""Default experiment: a GAN on the 2-D grid of 25 Gaussians.

Variants (``--variant=...``, see gan_jax/variants.py) override this; any field
can be overridden after that from the command line:

  python -m experiments.run --variant=wgan_gp
  python -m experiments.run --variant=vanilla --config.train.steps=2000 \
      --config.optim.d.lr=1e-4

With ``--variant=wgan_gp`` this covers all 25 modes of grid25 in under a
minute on a 2-core CPU (measured numbers in docs/results_2d.md).

The config is the library's fields (gan_jax/config.py documents each: the
dataset, objective, model, optimizers, EMA, and train's steps, batch size,
algorithm, precision and formulation; and the scalars that the registered
objectives, penalties and algorithms declare, such as
``objective.penalty_weight``, gan_jax/hparams.py) and the runners' own
fields below: names, data paths, logging, checkpoints, devices,
evaluation. A plug-in registered before ``get_config()`` runs (in a config
file of your own, docs/forking.md) has its fields here too.
"""

import ml_collections

from gan_jax import config as gan_config


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(gan_config.defaults())
  # Names the run (runs/<variant>_<dataset>_seed<seed>, tables). --variant
  # sets it and applies that variant's published settings; this file holds
  # non_saturating's, so without --variant it trains non_saturating.
  config.variant = 'non_saturating'
  config.seed = 0
  # --dataset=NAME also applies NAME's defaults (configs/datasets.py).

  # TFDS data dir; '' means $TFDS_DATA_DIR, else ~/tensorflow_datasets.
  config.data.dir = ''
  # Image data up to this size lives in device memory; larger data streams.
  config.data.in_memory_limit_mb = 1024
  config.data.random_flip = False  # Random horizontal flips, on device.
  # A folder: dataset's fingerprint (its files' paths, sizes and times),
  # set when the config is made: resuming after the files changed is
  # refused. Not set by hand.
  config.data.fingerprint = ''

  # The train loop's cadence, in train steps (G updates).
  config.train.log_every = 100  # Metrics: means over each interval.
  config.train.eval_every = 500
  config.train.checkpoint_every = 500
  config.train.keep_checkpoints = 2
  config.train.num_devices = 0  # Data-parallel devices; 0 means all.
  # How the batch is split over them (gan_jax/parallel.py): jit (sharded
  # arrays, XLA's collectives) | shard_map | pmap (per-device steps).
  config.train.parallel = 'jit'
  # Train steps per jitted dispatch (one lax.scan). 0: a whole log
  # interval, except convolutional models on CPU, which run one step per
  # dispatch because XLA:CPU runs convolutions inside loops many times
  # slower (jax-ml/jax#12868).
  config.train.steps_per_dispatch = 0
  # A jax.profiler trace of this many train steps, after the first
  # interval (compilation), into WORKDIR/profile; 0: none.
  config.train.profile_steps = 0

  config.eval = ml_collections.ConfigDict()
  config.eval.num_samples = 2500  # VEEGAN / PacGAN protocol.
  config.eval.threshold = 3.0  # High quality: within 3 sigma of a centre.
  # Images: generated samples for the mode count (26,000 on stacked_digits,
  # the Stacked MNIST protocol); training steps of the feature classifier.
  config.eval.mode_samples = 0
  config.eval.classifier_steps = 2000
  # Image features of the metrics: 'classifier' (the dataset's own small
  # classifier: fast, good for comparing runs here, not comparable to
  # papers), 'inception' (the FID Inception network: FID, KID and IS as
  # papers report them, gan_jax/inception_evaluation.py), or 'auto':
  # inception on a GPU or TPU when the weights are found, the classifier on
  # a CPU, where one Inception evaluation of 10,000 images takes ~15 min.
  # Weights not found: the classifier, said in summary.json. 'dinov2':
  # FD-DINOv2 (eval.dinov2 below), never chosen by 'auto'.
  config.eval.features = 'auto'
  config.eval.inception = ml_collections.ConfigDict(
      dict(
          # '' looks them up (gan_jax/metrics/inception_weights.py).
          weights='',
          any_weights=False,  # Accept a file that is not the standard one.
          num_samples=0,  # 0: the dataset's usual protocol (10,000 on a CPU).
          batch_size=0,  # Images per call; 0: 50 on a CPU, 250 elsewhere.
          # The input's resize and scaling, as the tool whose numbers are
          # compared: 'tensorflow' (TTUR, torch-fidelity, StyleGAN2-ADA),
          # 'pytorch' (pytorch-fid) or 'clean' (clean-fid's clean mode);
          # gan_jax/metrics/inception.py.
          resize='tensorflow',
      )
  )
  # eval.features='dinov2': FD-DINOv2 (Stein et al. 2023), with KID and
  # precision/recall in the same features; gan_jax/dinov2_evaluation.py.
  config.eval.dinov2 = ml_collections.ConfigDict(
      dict(
          # 'vits14' (fast: while training), 'vitb14', 'vitl14' (dgm-eval's
          # choice, for numbers to report) or 'vitg14'.
          model='vits14',
          # '' looks them up (gan_jax/metrics/dinov2_weights.py).
          weights='',
          num_samples=0,  # 0: as for Inception (10,000 on a CPU).
          batch_size=0,  # Images per call; 0: 32 on a CPU, 250 elsewhere.
          # 'pil_bicubic' (dgm-eval) or 'tf1_bilinear' (torch-fidelity 0.4).
          resize='pil_bicubic',
      )
  )
  return config
