"""What runs and sweeps write, and how a failed write is reported.

* ``checkpoints``: orbax checkpoints with a room check, digests and a
  fallback past a damaged step.
* ``state_digests``: the digest of a state, equal on every host.
* ``writers``: metrics.jsonl (and its repair on resume), TensorBoard,
  whole-file JSON.
* ``history``: a run's earlier config, last evaluation and summary, read
  back on resume.
* ``failed_writes``: one line for a full disk or a removed directory.
"""
