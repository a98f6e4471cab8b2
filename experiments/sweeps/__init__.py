"""Sweeps (``python -m experiments.sweep``): a grid of runs trained as
vmapped groups.

* ``spec``: a sweep file's spec, validated and expanded into runs and
  groups.
* ``training``: one group as one vmapped program (the shared loop of
  experiments.runner.loop, with a run axis).
* ``driver``: claims the directory, trains every unfinished group, writes
  the results and figures.
* ``results``: results.csv and results.md (mean and standard error).
* ``figures``: curves and sample grids of a sweep.
* ``published``: published 2-D numbers printed beside a sweep's own.
"""
