"""PacGAN's Table 1 GAN and PacGAN2 rows on grid25 at the published budget,
400,000 updates of each network (experiments/configs/protocols/pacgan.py),
with 2 seeds per row, the fewest that give a standard error: hours on a
2-core CPU (docs/results_2d.md, "What fits"). protocol_pacgan.py runs all
four rows, ten seeds each, where there is the time (7-11 hours per row
here).

  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_pacgan_full.py
"""

from experiments.configs.protocols import pacgan


def get_sweep():
  return {
      'variants': [pacgan.VARIANT],
      'seeds': 2,
      'dataset': 'grid25',
      'set': pacgan.FIELDS,
      'configs': [pacgan.packed(m) for m in (1, 2)],
      'published': 'PacGAN',
  }
