"""The loss comparison of SNGAN's Table 2 and compare_gan, in shape: the
objectives on CIFAR-10 with the SNGAN networks and spectral normalisation
in D (Miyato et al. 2018), three seeds each.

  python -m experiments.sweep \
      --sweep=experiments/configs/sweeps/sngan_cifar10_losses.py \
      --set=data.dir=/data/tfds

Each run keeps its variant's published optimizer; WGAN-GP keeps its
gradient penalty (lambda 10 on images) on top of the spectral norm, as
compare_gan's "SN + GP" rows. The paper trains 100,000 G steps at batch 64
(``train.steps`` below); on a 2-core CPU one step of the ResNet pair takes
seconds, so this is an accelerator's sweep (an evaluation of 50,000
images through the Inception network is ~550 TFLOP). Change ``model.name`` to
``sngan_cnn`` for the standard CNN of the paper's Table 3.
"""


def get_sweep():
  return {
      'variants': ['non_saturating', 'hinge', 'wgan_gp', 'least_squares'],
      'seeds': 3,
      'dataset': 'cifar10',
      'set': {
          'model.name': 'sngan_resnet',
          'model.width': 64,  # G 256 and D 128 channels.
          'model.latent_dim': 128,
          'model.g_norm': 'batch',
          'model.d_norm': 'spectral',
          'train.batch_size': 64,
          'train.steps': 100_000,
          'train.eval_every': 10_000,
          'train.checkpoint_every': 5_000,
          # FID and IS as the paper reports them, at every evaluation: 50k
          # images against the train split (the classifier's metrics,
          # said in the summary, where the weights are not found).
          'eval.features': 'inception',
      },
  }
