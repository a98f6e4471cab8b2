"""The theory lab (``python -m experiments.theory``): the GAN theory notes'
claims, each measured against its closed form.

* ``closed_forms``: the optimal discriminator, the Jensen-Shannon value,
  and the other formulas the claims are checked against.
* ``claims``: one function per claim, measuring it numerically.
* ``driver``: runs every claim (with sweeps for the training ones) and
  writes theory.json, theory.md and the figures.
* ``figures``: one figure per claim.
"""
