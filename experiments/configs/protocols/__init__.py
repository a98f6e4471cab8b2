"""The published 2-D protocols as config fields (docs/results_2d.md).

Each module holds ``FIELDS`` (flattened config fields over the default
config, after its ``VARIANT``'s settings), the ``SOURCE`` of every number,
and ``get_config()`` for ``experiments.run --config=...``. The sweep files
``experiments/configs/sweeps/protocol_*.py`` run them over 10 seeds.
"""
