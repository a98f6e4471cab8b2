"""PacGAN's Table 1 GAN and PacGAN2 rows on grid25 at the published budget,
400,000 updates of each network (experiments/configs/protocols/pacgan.py),
one seed per row: 1.7-1.9 hours a row and seed on a 2-core CPU
(docs/results_2d.md, "What fits"); --seeds=2 takes about 1.5 times as
long (vmapped, the seeds share the cores). protocol_pacgan.py runs all four
rows, ten seeds each, where there is the time (7-11 hours per row here).

  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_pacgan_full.py

Interrupted, the same command resumes it from its last checkpoint (every
10,000 steps).
"""

from experiments.configs.protocols import pacgan


def get_sweep():
  return {
      'variants': [pacgan.VARIANT],
      'seeds': 1,
      'dataset': 'grid25',
      'set': pacgan.FIELDS,
      'configs': [pacgan.packed(m) for m in (1, 2)],
      'published': 'PacGAN',
  }
