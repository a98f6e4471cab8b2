"""The experiment runners around the gan_jax library.

Command lines (thin modules; ``python -m experiments.NAME --help``):

* ``run``: trains one GAN (runner/).
* ``sweep``: trains many runs of a grid as vmapped groups (sweeps/).
* ``evaluate``: a run's checkpoint in Inception or classifier features.
* ``theory``: checks the theory notes' claims numerically (theory_lab/).
* ``benchmark``: step time and memory against PyTorch (benchmarks/).

Packages:

* ``configs/``: the config files, the datasets' defaults, sweep files.
* ``runner/``: one run: config layers, launch, input, the training loop
  that a run and a sweep group share, evaluation, stop requests, plots.
* ``storage/``: what a run writes: checkpoints and their digests, metric
  logs and JSON, and the one-line reasons of a failed write.
* ``sweeps/``: the sweep spec, a vmapped group's training, the driver,
  results tables, figures and the published numbers they sit beside.
* ``theory_lab/``: the claims, their closed forms, the driver, figures.
"""
