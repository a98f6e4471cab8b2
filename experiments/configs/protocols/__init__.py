"""The published 2-D protocols as config fields (docs/results_2d.md).

Each module holds ``FIELDS`` (flattened config fields over the default
config, after its ``VARIANT``'s settings), the ``SOURCE`` of every number,
and ``get_config()`` for ``experiments.run --config=...``. The sweep files
``experiments/configs/sweeps/protocol_*.py`` run them over 10 seeds
(``protocol_pacgan_full.py``, 400,000 steps a row: one).
"""

from typing import Any, Dict


def constant_adam(g_lr: float, d_lr: float, b1: float) -> Dict[str, Any]:
  """Both papers' optimizers and evaluation: Adam with beta2 0.999 at
  constant rates, and the live generator (no EMA of its weights)."""
  fields: Dict[str, Any] = {'ema.enabled': False}
  for side, lr in (('g', g_lr), ('d', d_lr)):
    fields.update(
        {
            f'optim.{side}.lr': lr,
            f'optim.{side}.b1': b1,
            f'optim.{side}.b2': 0.999,
            f'optim.{side}.schedule': 'constant',
        }
    )
  return fields
