"""VEEGAN's Table 1 GAN and Unrolled GAN rows under the Unrolled GAN's
reference protocol, which VEEGAN used (experiments/configs/protocols/
unrolled.py): ten seeds each; results.md puts each row beside the
published one.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_unrolled.py
  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_unrolled.py \
      --dataset=ring8 --workdir=sweeps/protocol_unrolled_ring8
"""

from experiments.configs.protocols import unrolled


def get_sweep():
  return {
      'variants': [unrolled.VARIANT],
      'seeds': 10,
      'dataset': 'grid25',
      'set': unrolled.FIELDS,
      'configs': [{'objective.unroll_steps': 0}, {'objective.unroll_steps': 5}],
      'published': 'VEEGAN',
  }
