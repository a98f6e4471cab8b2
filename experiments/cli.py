"""What the project's absl commands share: how they start, and a flag error
in one line.

absl's own parser prints two lines for a bad flag ("FATAL Flags parsing
error: ..." and a pointer to --helpfull); these commands print
``error: <absl's message>`` and exit with code 1, as every other refused
input does. (experiments.run has its own, which also names what is wrong
in a --config file.)
"""

import sys

from absl import flags, logging


def start(argv, example: str = '') -> None:
  """What a training command does first: the compilation cache on
  (experiments.runner.compilation_cache, before anything compiles), JAX's
  backend notes quiet unless ``--verbosity`` asks, and one line for
  arguments that are not flags (``example`` shows what flags look like)."""
  from experiments.runner import compilation_cache

  compilation_cache.configure()
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    sys.exit(
        f'error: unexpected arguments {argv[1:]}; options are flags'
        + (f' ({example})' if example else '')
    )


def parse_flags(argv):
  """absl's flag parser for ``app.run(main, flags_parser=parse_flags)``."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:
    sys.exit(f'error: {error}')


def refused(error: Exception, config_file_given: bool) -> str:
  """The one line a command exits with for ``error``: with a hint to give
  the run's config file where a saved run names a plug-in this process has
  not registered (a choice the config refuses: 'is not allowed')."""
  from gan_jax.config import PLUGIN_HINT, ConfigError

  hint = (
      ' (a run of a plug-in registered in a config file: give that file '
      'with --config)'
      if isinstance(error, ConfigError)
      and 'is not allowed' in str(error)
      and PLUGIN_HINT not in str(error)
      and not config_file_given
      else ''
  )
  return f'error: {error}{hint}'
