"""The four seed variants, ten seeds each, on grid25 with the defaults:
"which objective, how reliably".

  python -m experiments.sweep --sweep=experiments/configs/sweeps/seed_variants.py
  python -m experiments.sweep --sweep=experiments/configs/sweeps/seed_variants.py \
      --dataset=ring8 --workdir=sweeps/seed_variants_ring8
"""


def get_sweep():
  return {
      'variants': ['vanilla', 'non_saturating', 'wgan_gp', 'label_smoothing'],
      'seeds': 10,
      'dataset': 'grid25',
  }
