"""What the project's absl commands share: a flag error is one line.

absl's own parser prints two lines for a bad flag ("FATAL Flags parsing
error: ..." and a pointer to --helpfull); these commands print
``error: <absl's message>`` and exit with code 1, as every other refused
input does. (experiments.run has its own, which also names what is wrong
in a --config file.)
"""

import sys

from absl import flags


def parse_flags(argv):
  """absl's flag parser for ``app.run(main, flags_parser=parse_flags)``."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    sys.exit(f'error: {error}')
