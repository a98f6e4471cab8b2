"""The sweep behind wgan_gp's 2-D learning rate (gan_jax/variants.py): the
same rate for G and D, decaying linearly over the default train.steps (3,000
when the rate was chosen, docs/results_2d.md; 3,500 since).

Every configuration differs only in learning rates, numbers the optimizer
state holds, so all of them train as one vmapped group.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/tune_wgan_gp_lr.py
"""


def get_sweep():
  return {
      'variants': ['wgan_gp'],
      'seeds': 2,
      'dataset': 'grid25',
      'configs': [
          {'optim.g.lr': lr, 'optim.d.lr': lr}
          for lr in (1e-4, 1e-3, 3e-3, 1e-2)
      ],
  }
