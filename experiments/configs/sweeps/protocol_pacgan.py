"""PacGAN's Table 1 under its own protocol: GAN and PacGAN2-4, ten seeds
each, its networks, optimizer and budget (experiments/configs/protocols/
pacgan.py); results.md puts each row beside the published one.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_pacgan.py
  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_pacgan.py \
      --dataset=ring8 --workdir=sweeps/protocol_pacgan_ring8

The published budget is 400,000 steps; docs/results_2d.md gives the time
per step here and the shorter budget it was run with
(``--set=train.steps=N``).
"""

from experiments.configs.protocols import pacgan


def get_sweep():
  return {
      'variants': [pacgan.VARIANT],
      'seeds': 10,
      'dataset': 'grid25',
      'set': pacgan.FIELDS,
      'configs': [pacgan.packed(m) for m in (1, 2, 3, 4)],
      'published': 'PacGAN',
  }
