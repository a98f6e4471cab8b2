"""gan_jax's best 2-D setting, ten seeds: the relativistic pairing game
(RpGAN: D minimises E softplus(-(C(x) - C(G(z)))), G the same with x and
G(z) swapped; Jolicoeur-Martineau 2019, the ``rsgan`` objective) with R1 on
real data (gamma/2 E||grad C(x)||^2; Mescheder et al. 2018) at gamma 1,
Adam 2e-3 with betas (0, 0.99) decaying linearly to 0 over 40,000 steps,
batch 256, the default 3x128 ReLU networks, evaluated on the EMA of G at
decay 0.9995. The same setting on grid25 and ring8; how it was found and
what it reaches beside the published tables: docs/results_2d.md.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/beat_2d.py
  python -m experiments.sweep --sweep=experiments/configs/sweeps/beat_2d.py \
      --dataset=ring8 --workdir=sweeps/beat_2d_ring8
"""


def get_sweep():
  return {
      # r1's penalty and Adam betas (0, 0.99); the objective swapped for
      # the relativistic pairing one.
      'variants': ['r1'],
      'seeds': 10,
      'dataset': 'grid25',
      'set': {
          'objective.name': 'rsgan',
          'objective.penalty_weight': 1.0,
          'optim.g.lr': 2e-3,
          'optim.d.lr': 2e-3,
          'ema.decay': 0.9995,
          'train.steps': 40_000,
          'train.eval_every': 5000,
          'train.checkpoint_every': 5000,
      },
  }
