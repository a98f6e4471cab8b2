"""Default experiment: a GAN on the 2-D grid of 25 Gaussians.

Variants (``--variant=...``, see gan_jax/variants.py) override this; any field
can be overridden after that from the command line:

  python -m experiments.run --variant=wgan_gp
  python -m experiments.run --variant=vanilla --config.train.steps=2000 \
      --config.optim.d.lr=1e-4

With ``--variant=wgan_gp`` this covers all 25 modes of grid25 in under a
minute on a 2-core CPU (measured numbers in docs/results_2d.md).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  # Names the run (runs/<variant>_<dataset>_seed<seed>, tables). --variant
  # sets it and applies that variant's published settings; this file holds
  # non_saturating's, so without --variant it trains non_saturating.
  config.variant = 'non_saturating'
  config.seed = 0
  # grid25 | ring8 | swiss_roll, or an image dataset: digits |
  # stacked_digits (embedded) | mnist | fashion_mnist | cifar10 | celeb_a.
  # --dataset=NAME also applies NAME's defaults (configs/datasets.py).
  config.dataset = 'grid25'

  config.data = ml_collections.ConfigDict()
  # TFDS data dir; '' means $TFDS_DATA_DIR, else ~/tensorflow_datasets.
  config.data.dir = ''
  # Image data up to this size lives in device memory; larger data streams.
  config.data.in_memory_limit_mb = 1024
  config.data.random_flip = False  # Random horizontal flips, on device.
  # Train at this side length (resized on device, e.g. 32 to train MNIST
  # with the 32x32 networks); 0 keeps the dataset's own size. Metrics are computed at
  # the dataset's size.
  config.data.image_size = 0

  config.objective = ml_collections.ConfigDict()
  config.objective.name = 'non_saturating'  # gan_jax.losses.OBJECTIVES
  config.objective.penalty = 'none'  # none | gradient_penalty | r1
  config.objective.penalty_weight = 0.0  # lambda (GP) or gamma (R1)
  config.objective.gp_target = 1.0
  config.objective.one_sided = False  # One-sided gradient penalty.
  config.objective.real_target = 1.0  # 1 - s for one-sided label smoothing.
  config.objective.fake_target = 0.0
  config.objective.clip_weights = False  # Original WGAN weight clipping.
  config.objective.clip_value = 0.01
  config.objective.n_critic = 1
  # Lazy regularisation (Karras et al. 2020, Sec. 3.1): D's penalty on the
  # D steps of every penalty_every-th train step only, its weight times
  # penalty_every.
  config.objective.penalty_every = 1
  # G's regulariser: none | path_length (StyleGAN2's path-length
  # regularisation, weight 2, every 4th G step, gan_jax/penalties.py).
  config.objective.g_penalty = 'none'
  config.objective.g_penalty_weight = 2.0
  config.objective.g_penalty_every = 4
  # Unrolled GAN (Metz et al. 2017): G's loss through D after this many
  # look-ahead updates of D on the step's batch, differentiated through
  # D's optimizer; 0: the plain step.
  config.objective.unroll_steps = 0

  # The WGAN-GP toy networks (3 hidden ReLU layers, 2-D latent) at width
  # 128 rather than 512: a quarter of the cost, no worse in the tuning sweep
  # at this budget (docs/results_2d.md).
  config.model = ml_collections.ConfigDict()
  config.model.name = 'mlp'
  config.model.latent_dim = 2
  config.model.width = 128
  config.model.depth = 3
  config.model.g_norm = 'none'  # none | batch | layer
  config.model.d_norm = 'none'  # none | batch | layer (dcgan: spectral)
  # PacGAN (Lin et al. 2018): D judges packs of this many samples,
  # concatenated along the last axis (features, or image channels); real
  # and fake batches are packed alike. 1: no packing.
  config.model.pack = 1
  # The MLP only (the published 2-D protocols, experiments/configs/
  # protocols/): D's own width and depth (0: model.width / model.depth),
  # the hidden activation (relu | tanh), D's maxout pieces (0: none), and
  # the kernel initialiser (default: LeCun normal | normal: std init_scale
  # | orthogonal: gain init_scale).
  config.model.d_width = 0
  config.model.d_depth = 0
  config.model.activation = 'relu'
  config.model.d_maxout_pieces = 0
  config.model.weight_init = 'default'
  config.model.init_scale = 1.0
  # Class-conditional G and D (image datasets: their labels).
  config.model.conditional = False
  # StyleGAN2 (model.name='stylegan2'): the chance that a training sample
  # takes its later styles from a second z, and the truncation psi of
  # evaluations and sample grids (1: none).
  config.model.mixing_prob = 0.9
  config.model.truncation_psi = 1.0
  # StyleGAN2: tanh on its images. The paper's are linear (clipped when
  # shown); the near-binary digit datasets turn it on (configs/datasets.py,
  # docs/images.md says why). The DCGAN and SNGAN families end in tanh.
  config.model.squash_output = False

  # Learning rates decay linearly to 0 over the run on the 2-D benchmarks:
  # the generator settles on the modes instead of circling them (image
  # datasets keep constant rates, configs/datasets.py).
  config.optim = ml_collections.ConfigDict()
  for side in ('g', 'd'):
    config.optim[side] = ml_collections.ConfigDict(
        dict(name='adam', lr=2e-4, b1=0.5, b2=0.999, schedule='linear')
    )

  # Evaluate an exponential moving average of G's weights. On the 2-D
  # benchmarks the live generator oscillates around the modes and its
  # coverage jumps from one evaluation to the next; the average settles
  # (Yazici et al. 2019, "The Unusual Effectiveness of Averaging in GAN
  # Training"). ema.enabled=False evaluates the live G, as VEEGAN and PacGAN
  # did.
  config.ema = ml_collections.ConfigDict()
  config.ema.enabled = True
  config.ema.decay = 0.99

  config.train = ml_collections.ConfigDict()
  # G updates. 3,500 is where wgan_gp passes 90% high-quality samples on
  # grid25 over 10 seeds (90.9%; 89.8% at 3,000), the target.
  config.train.steps = 3500
  config.train.batch_size = 256
  config.train.log_every = 100  # Steps per dispatch (one lax.scan).
  config.train.eval_every = 500
  config.train.checkpoint_every = 500
  config.train.keep_checkpoints = 2
  config.train.num_devices = 0  # Data-parallel devices; 0 means all.
  # How the batch is split over them (gan_jax/parallel.py): jit (sharded
  # arrays, XLA's collectives) | shard_map | pmap (per-device steps).
  config.train.parallel = 'jit'
  # Train steps per jitted dispatch. 0: the whole log interval in one
  # lax.scan, except convolutional models on CPU, which run one step per
  # dispatch because XLA:CPU runs convolutions inside loops many times
  # slower (jax-ml/jax#12868).
  config.train.steps_per_dispatch = 0
  # Formulations tuned for XLA:CPU (models/conv_transpose.py's 4x4 stride-2
  # layers, unrolled critic loops, one step per dispatch for image models)
  # or the standard ones (flax's layers, lax.scan) that cuDNN and the TPU
  # compiler are built for. auto: 'cpu' on a CPU, 'standard' elsewhere;
  # the same numbers either way (tests/test_formulations.py).
  config.train.formulation = 'auto'  # auto | cpu | standard
  # Matrix products and convolutions in this dtype; parameters, optimizer
  # states, EMA, losses and penalties stay float32 (gan_jax/precision.py).
  # float16 needs loss scaling, which gan_jax does not do: refused.
  config.train.compute_dtype = 'float32'  # float32 | bfloat16
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
  # Weights not found: the classifier, said in summary.json.
  config.eval.features = 'auto'
  config.eval.inception = ml_collections.ConfigDict(
      dict(
          weights='',  # '' looks them up (gan_jax/metrics/inception_weights.py).
          any_weights=False,  # Accept a file that is not the standard one.
          num_samples=0,  # 0: the dataset's usual protocol (10,000 on a CPU).
          batch_size=0,
      )
  )  # Images per call; 0: 50 on a CPU, 250 elsewhere.
  return config
