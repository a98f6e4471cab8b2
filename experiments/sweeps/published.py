"""Published results on the 2-D benchmarks, printed beside a sweep's own.

Transcribed by hand from the papers' tables (no network here to re-check
them against the PDFs: compare before quoting). Both papers evaluate 2,500
samples of the *live* generator, a sample being high quality within three
standard deviations of a centre; PacGAN reports mean +- standard error over
10 trials, VEEGAN a single number. Each row: (method, modes, modes s.e.,
high-quality %, its s.e., reverse KL, its s.e.); None where the paper has no
value.
"""

from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple


class Source(NamedTuple):
  """A paper's table: its citation, its training budget in G steps (as
  the protocol configs state it; None where unknown), trials per row, and
  rows per dataset."""

  citation: str
  steps: Optional[int]
  trials: int
  tables: Dict[str, List[Tuple]]


# VEEGAN's budget is in the appendix that could not be read here (see
# experiments/configs/protocols/unrolled.py).
VEEGAN = Source(
    'VEEGAN (Srivastava et al. 2017), Table 1',
    None,
    5,
    {
        'ring8': [
            ('GAN', 1.0, None, 99.3, None, None, None),
            ('ALI', 2.8, None, 0.13, None, None, None),
            ('Unrolled GAN', 7.6, None, 35.6, None, None, None),
            ('VEEGAN', 8.0, None, 52.9, None, None, None),
        ],
        'grid25': [
            ('GAN', 3.3, None, 0.5, None, None, None),
            ('ALI', 15.8, None, 1.6, None, None, None),
            ('Unrolled GAN', 23.6, None, 16.0, None, None, None),
            ('VEEGAN', 24.6, None, 40.0, None, None, None),
        ],
    },
)

PACGAN = Source(
    'PacGAN (Lin et al. 2018), Table 1',
    400_000,
    10,
    {
        'ring8': [
            ('GAN', 6.3, 0.5, 98.2, 0.2, 0.45, 0.09),
            ('ALI', 6.6, 0.3, 97.6, 0.4, 0.36, 0.04),
            ('Minibatch Disc.', 4.3, 0.8, 36.6, 8.8, 1.93, 0.11),
            ('PacGAN2', 7.9, 0.1, 95.6, 2.0, 0.07, 0.03),
            ('PacGAN3', 7.8, 0.1, 97.7, 0.3, 0.10, 0.02),
            ('PacGAN4', 7.8, 0.1, 95.9, 1.4, 0.07, 0.02),
        ],
        'grid25': [
            ('GAN', 17.3, 0.8, 94.2, 0.1, 0.70, 0.07),
            ('ALI', 24.1, 0.4, 95.7, 0.6, 0.14, 0.03),
            ('Minibatch Disc.', 23.8, 0.5, 79.9, 3.2, 0.17, 0.03),
            ('PacGAN2', 23.8, 0.7, 91.3, 0.8, 0.13, 0.04),
            ('PacGAN3', 24.6, 0.4, 94.2, 0.4, 0.06, 0.02),
            ('PacGAN4', 24.8, 0.2, 93.6, 0.6, 0.04, 0.01),
        ],
    },
)

SOURCES = {'VEEGAN': VEEGAN, 'PacGAN': PACGAN}


def rows_for(dataset: str):
  """[(citation, rows)] of the published tables that report ``dataset``."""
  return [
      (source.citation, source.tables[dataset])
      for source in SOURCES.values()
      if dataset in source.tables
  ]


def method_of(config: Mapping[str, Any]) -> str:
  """The published method a run's config reproduces: 'PacGAN<m>' when D
  judges packs of m > 1, 'Unrolled GAN' when G looks ahead, else 'GAN'."""
  # .get: summaries written before these fields existed lack them.
  pack = config.get('model', {}).get('pack', 1)
  if pack > 1:
    return f'PacGAN{pack}'
  if config.get('objective', {}).get('unroll_steps', 0) > 0:
    return 'Unrolled GAN'
  return 'GAN'


def row(source: str, dataset: str, method: str) -> Optional[Tuple]:
  """The published row of ``method`` in ``source``'s ``dataset`` table."""
  for entry in SOURCES[source].tables.get(dataset, []):
    if entry[0] == method:
      return entry
  return None
