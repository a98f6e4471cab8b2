"""Small configs shared by the tests (tiny networks compile fast)."""

from experiments.configs import default
from gan_jax.variants import get_variant


# experiments.run's flags for a tiny run (4 steps, one evaluation).
SMALL_RUN_FLAGS = ['--config.model.width=16', '--config.model.depth=2',
                   '--config.train.batch_size=16', '--config.train.steps=4',
                   '--config.train.log_every=2', '--config.train.eval_every=4',
                   '--config.train.checkpoint_every=4',
                   '--config.eval.num_samples=100', '--progress=false']


def small_config(variant: str = 'non_saturating', **overrides):
  """The default config with ``variant`` applied, shrunk for tests.

  ``overrides`` are flattened field paths with '__' for '.', e.g.
  ``model__d_norm='batch'``.
  """
  config = default.get_config()
  config.variant = variant
  config.update_from_flattened_dict(dict(get_variant(variant).overrides))
  config.update_from_flattened_dict({
      'model.width': 16, 'model.depth': 2, 'train.batch_size': 16,
      'train.steps': 8, 'train.log_every': 2, 'train.eval_every': 4,
      'train.checkpoint_every': 4, 'eval.num_samples': 200,
      'train.num_devices': 1})
  config.update_from_flattened_dict(
      {k.replace('__', '.'): v for k, v in overrides.items()})
  return config
