"""WGAN-GP's three knobs on grid25: learning rate x n_critic x lambda, three
seeds each (36 runs).

The learning rates and lambdas of one n_critic differ only in numbers the
train state holds, so each n_critic trains as one vmapped group of 18 runs.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/wgan_gp_grid.py
"""


def get_sweep():
  return {
      'variants': ['wgan_gp'],
      'seeds': 3,
      'dataset': 'grid25',
      'grid': {
          'optim.g.lr': [1e-4, 3e-4, 1e-3],
          'objective.n_critic': [1, 5],
          'objective.penalty_weight': [0.1, 1.0],
      },
      # D's rate follows G's: a list entry per pair would be
      # 'configs': [{'optim.g.lr': 1e-4, 'optim.d.lr': 1e-4}, ...].
  }
