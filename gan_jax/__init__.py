"""gan_jax: GAN objectives, penalties and pure training steps in JAX/Flax.

The pieces, each importable on its own:

* :mod:`gan_jax.losses` -- objectives on D's outputs, looked up by name;
* :mod:`gan_jax.relativistic` -- the relativistic objectives (RSGAN,
  RaGAN, RaLSGAN, RaHinge), registered with the others;
* :mod:`gan_jax.penalties` -- D's and G's penalties (WGAN-GP, R1, R2,
  DRAGAN, path length), looked up by name;
* :mod:`gan_jax.regularizers` -- terms joining the losses (CR, bCR, zCR,
  LeCam, top-k), any number of them;
* :mod:`gan_jax.augment` -- differentiable augmentations of what D sees
  (DiffAugment, ADA);
* :mod:`gan_jax.algorithms` -- training algorithms (step factories) by name;
* :mod:`gan_jax.hparams`, :mod:`gan_jax.context`, :mod:`gan_jax.contract`
  -- the scalars a plug-in declares, what a loss sees, what a step
  factory must return (docs/forking.md);
* :mod:`gan_jax.state` -- ``GANSpec`` (static) and ``GANState`` (a pytree);
* :mod:`gan_jax.steps` -- ``make_steps`` and the pieces of a step (d_step,
  g_step, train_step, train_loop): the part to fork;
* :mod:`gan_jax.variants` -- named variants with their published defaults;
* :mod:`gan_jax.config` -- the library's config fields and defaults;
  validate a config (any nested mapping) and build the objects above;
* :mod:`gan_jax.data`, :mod:`gan_jax.metrics`, :mod:`gan_jax.evaluation`.
"""

from gan_jax import relativistic  # noqa: F401  (registers its objectives)
from gan_jax.losses import OBJECTIVES, Objective, get_objective
from gan_jax.state import GANSpec, GANState, init_state
from gan_jax.steps import make_steps

__all__ = [
    'OBJECTIVES',
    'Objective',
    'get_objective',
    'GANSpec',
    'GANState',
    'init_state',
    'make_steps',
]
