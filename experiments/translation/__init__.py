"""The translation runner (``python -m experiments.translate``): its input
(``inputs``), evaluation and pictures (``evaluators``), one run
(``train``) and vmapped sweeps (``sweep``). The shared training loop,
checkpoints and writers are the GAN runner's (experiments.runner.loop,
experiments.storage)."""
