"""gan_jax's best 2-D setting, ten seeds: the R1 game (non-saturating
cross-entropy with gamma/2 E||grad D(x)||^2 on real data; Mescheder et al.
2018) at gamma 1, Adam 2e-3 with betas (0, 0.99) decaying linearly to 0
over 40,000 steps, batch 256, the default 3x128 ReLU networks, evaluated
on the EMA of G at decay 0.999. How it was found and what it reaches
beside the published tables: docs/results_2d.md.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/beat_2d.py
  python -m experiments.sweep --sweep=experiments/configs/sweeps/beat_2d.py \
      --dataset=ring8 --workdir=sweeps/beat_2d_ring8
"""


def get_sweep():
  return {
      'variants': ['r1'],
      'seeds': 10,
      'dataset': 'grid25',
      'set': {
          'objective.penalty_weight': 1.0,
          'optim.g.lr': 2e-3,
          'optim.d.lr': 2e-3,
          'ema.decay': 0.999,
          'train.steps': 40_000,
          'train.eval_every': 5000,
          'train.checkpoint_every': 5000,
      },
  }
