"""VEEGAN's Table 1 GAN and Unrolled GAN rows under the Unrolled GAN's
reference protocol, which VEEGAN used (experiments/configs/protocols/
unrolled.py): ten seeds each, with D and G updated at once from the same
parameters as the reference notebook does (``train.algorithm=
'simultaneous'``, the algorithm plug-in of examples/forks/simultaneous.py)
and in turn (the library's ``'alternating'``), so the table shows whether
the order matters. results.md puts each row beside the published one.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_unrolled.py
  python -m experiments.sweep --sweep=experiments/configs/sweeps/protocol_unrolled.py \
      --dataset=ring8 --workdir=sweeps/protocol_unrolled_ring8
"""

from experiments.configs.protocols import unrolled


def get_sweep():
  return {
      # The fork's file registers 'simultaneous'; the variant lays the
      # protocol's saturating game over it.
      'config': 'examples/forks/simultaneous.py',
      'variants': [unrolled.VARIANT],
      'seeds': 10,
      'dataset': 'grid25',
      'set': unrolled.FIELDS,
      'configs': [
          {'train.algorithm': algorithm, 'objective.unroll_steps': k}
          for algorithm in ('simultaneous', 'alternating')
          for k in (0, 5)
      ],
      'published': 'VEEGAN',
  }
