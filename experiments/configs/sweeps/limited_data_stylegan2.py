"""limited_data.py's question for StyleGAN2, cut to fit its cost on a CPU:
all 1,437 ``digits`` training images and 10% of them, plain, DiffAugment
and ADA (StyleGAN2-ADA's own), one seed, 2,500 steps (a quarter of
DCGAN's: StyleGAN2 is 20 to 30 times slower a step on a CPU, and three
seeds of this would take two hours here). About 25 minutes on a 2-core
CPU (docs/images.md).

  python -m experiments.sweep --sweep=experiments/configs/sweeps/limited_data_stylegan2.py --cpu_devices=1
"""

from experiments.configs.sweeps import limited_data


def get_sweep():
  sweep = limited_data.get_sweep()
  return {
      **sweep,
      'variants': ['stylegan2'],
      'seeds': 1,
      'grid': {'data.subset': [0, round(0.10 * limited_data.TRAIN_IMAGES)]},
      'configs': limited_data.METHODS[:3],  # Plain, DiffAugment, ADA.
      'set': {
          'train.steps': 2500,
          'train.eval_every': 2500,
          'train.checkpoint_every': 2500,
      },
  }
