"""Array types that name their shapes (jaxtyping), for the signatures of the
objectives and penalties.

A static checker reads each as an array type; a name shared by the
arguments of one call (``batch``, ``*sample``) must have one size in all of
them. The test suite checks this at run time on every call it makes into
gan_jax.losses and gan_jax.penalties (pytest.ini's --jaxtyping-packages),
and tests/test_shapes.py that a mismatch is caught.
"""

from typing import Union

import jax
import numpy as np
from jaxtyping import Float

# What the functions accept: device arrays (traced or not), or host arrays.
_Arrays = Union[jax.Array, np.ndarray]

# A scalar: a loss or a penalty.
Scalar = Float[jax.Array, '']
# D's outputs: one logit or critic value per example (per pack under
# PacGAN), or a map of them per example (CycleGAN's PatchGAN).
Outputs = Float[_Arrays, 'batch *patch']
# A batch of examples: points [batch, 2] or images [batch, H, W, C].
Samples = Float[_Arrays, 'batch *sample']
# One number per example, such as WGAN-GP's interpolation weights.
PerExample = Float[_Arrays, 'batch']
