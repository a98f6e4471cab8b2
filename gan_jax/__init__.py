"""gan_jax: GAN objectives, penalties and pure training steps in JAX/Flax.

The pieces, each importable on its own:

* :mod:`gan_jax.losses` -- objectives on D's outputs, looked up by name;
* :mod:`gan_jax.penalties` -- gradient penalty (WGAN-GP) and R1;
* :mod:`gan_jax.state` -- ``GANSpec`` (static) and ``GANState`` (a pytree);
* :mod:`gan_jax.steps` -- ``make_steps``: d_step, g_step, train_step,
  train_loop, the part to fork;
* :mod:`gan_jax.variants` -- named variants with their published defaults;
* :mod:`gan_jax.config` -- validate a config and build the objects above;
* :mod:`gan_jax.data`, :mod:`gan_jax.metrics`, :mod:`gan_jax.evaluation`.
"""

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
