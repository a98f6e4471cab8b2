"""What runs and sweeps write, and how a failed write is reported.

* ``checkpoints``: orbax checkpoints with a room check, digests and a
  fallback past a damaged step.
* ``state_digests``: the digest of a state, equal on every host.
* ``writers``: metrics.jsonl, TensorBoard, whole-file JSON.
* ``failed_writes``: one line for a full disk or a removed directory.
"""
