"""The Unrolled GAN's reference 2-D protocol, which VEEGAN's Table 1 used.

VEEGAN (Srivastava et al. 2017, Sec. 5.1) set "the number of unrolling
steps to five as suggested in the authors' reference implementation":
github.com/poolio/unrolled_gan, ``Unrolled GAN demo.ipynb`` (Metz et al.
2017's demo; it says its networks are not exactly the paper's). Every
number here is from that notebook:

* z: 256-D standard normal.
* G and D: 2 hidden layers of 128 tanh units, linear outputs; weights
  orthogonal with gain 1.4, biases 0.
* Loss: the minimax value f = E log D(x) + E log(1 - D(G(z))); D
  maximises it, G minimises f through D after 5 look-ahead Adam updates
  (differentiated through), i.e. ``vanilla`` with
  ``objective.unroll_steps=5`` (0 for the plain GAN, saturating).
* The data in the coordinates the networks were given there: the ring's
  centres on the unit circle as they are (``data.scale=1``, where
  gan_jax's other configs scale 2-D data to about unit size); grid25's
  centres at -4..4 as they are too, as in PacGAN's code for VEEGAN's grid
  (VEEGAN's own grid code was not read).
* Adam: D 1e-4, G 1e-3, beta1 0.5 (beta2 0.999, epsilon 1e-8: keras'
  and TensorFlow's defaults), constant; batch 512; 25,000 iterations.

VEEGAN's paper describes the networks of its own GAN row in an appendix
that could not be read from this machine (no network); its project page
names only the unrolling. This protocol uses the reference
implementation's networks for both the GAN and the Unrolled GAN rows, and
VEEGAN averaged 5 runs where this sweep runs 10. The notebook updates D
and G at once from the same parameters: ``train.algorithm='simultaneous'``
(examples/forks/simultaneous.py; the sweep runs both orders), where the
library's default alternates. Where gan_jax differs: the notebook's ring is
``linspace(0, 2 pi, 8)``, whose first and last centres coincide (7
modes), and radius 1, sigma 0.01: gan_jax's ring8 has the 8 distinct
centres PacGAN and VEEGAN count; and simultaneously, G's update draws a
z of its own where the notebook's one loss gives both updates the same z.
"""

from experiments.configs import default
from experiments.configs.protocols import constant_adam

VARIANT = 'vanilla'
PUBLISHED_STEPS = 25_000
FIELDS = {
    'model.latent_dim': 256,
    'model.width': 128,
    'model.depth': 2,
    'model.activation': 'tanh',
    'model.weight_init': 'orthogonal',
    'model.init_scale': 1.4,
    'data.scale': 1.0,
    'objective.unroll_steps': 5,
    **constant_adam(g_lr=1e-3, d_lr=1e-4, b1=0.5),
    'train.batch_size': 512,
    'train.steps': PUBLISHED_STEPS,
    'train.eval_every': 5000,
    'train.checkpoint_every': 5000,
}


def get_config():
  """The Unrolled GAN of the reference code for one run
  (``--config.objective.unroll_steps=0`` for its plain GAN); pass no
  --variant."""
  config = default.get_config()
  config.variant = 'unrolled_protocol'
  config.objective.name = 'minimax'
  config.update_from_flattened_dict(FIELDS)
  return config
