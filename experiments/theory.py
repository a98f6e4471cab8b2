r"""The theory lab: the seed papers' claims, checked on this library's code.

  python -m experiments.theory [--workdir=theory] [--seeds=3]

Five claims, each measured with the library's own steps, losses, penalty
and metrics and set beside its closed form:

1. the discriminator trained against a fixed generator approaches
   D* = p_data / (p_data + p_g) (Goodfellow et al., 2014, Prop. 1);
2. with it, the game's value is -log 4 + 2 JSD(p_data || p_g) (Theorem 1);
3. the saturating G loss has logit gradient -D(G(z)), the non-saturating
   one -(1 - D(G(z))) (Sec. 3), and real runs in which D wins early show
   the saturating generator's gradient collapsing;
4. for distributions on parallel lines, JSD is log 2 at every distance while
   W1 = |theta| (Arjovsky et al., 2017, Example 1), which a WGAN-GP critic
   estimates;
5. on ring8, modes covered over training by ``vanilla`` and ``wgan_gp``
   (runs of the sweep machinery, seeds as a band).

Writes one PNG per claim, ``theory.json`` (every number) and
``theory.md`` (the table, also printed) into ``--workdir``; exits 1 if a
claim fails its tolerance. Takes a few minutes on 2 CPU cores.
"""

import os
import sys

from absl import app, flags, logging

from experiments import cli
from experiments.runner import compilation_cache

_WORKDIR = flags.DEFINE_string('workdir', 'theory', 'Output directory.')
_SEEDS = flags.DEFINE_integer(
    'seeds', 3, 'Seeds per variant in claims 3 and 5 (the training runs).'
)
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of claims 1, 2 and 4.')


def main(argv):
  compilation_cache.configure()  # Before anything compiles.
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; options are flags')
  if _SEEDS.value < 1:
    sys.exit(f'error: --seeds={_SEEDS.value}: give a positive number')
  logging.set_verbosity(logging.WARNING)
  import jax
  # As experiments.sweep does: the training runs of claims 3 and 5 split
  # their runs over one CPU device per core.
  jax.config.update('jax_num_cpu_devices', os.cpu_count() or 1)
  from experiments.theory_lab import claims as theory_claims
  from experiments.theory_lab import driver as theory_lab
  from experiments.sweeps.spec import SweepError
  from experiments.storage.workdir_lock import hold_for_job

  with hold_for_job(_WORKDIR.value):  # One live process per workdir.
    try:
      claims = theory_lab.run_theory(_WORKDIR.value, _SEEDS.value, _SEED.value)
    except SweepError as error:  # E.g. the workdir's runs had other seeds.
      sys.exit(f'error: {error}')
  print(theory_claims.summarize(claims))
  print(f'figures, theory.json and theory.md in {_WORKDIR.value}')
  if not all(c.passed for c in claims):
    sys.exit(1)


if __name__ == '__main__':
  app.run(main, flags_parser=cli.parse_flags)
