"""FLOPs of one GAN iteration, counted from the layer shapes.

How: a layer's forward pass costs 2 x its multiply-adds (dense: in x out
per example; convolution: k x k x C_in x C_out per output pixel; 4x4
stride-2 transposed convolution: 16 x C_in x C_out per *input* pixel, its
non-zero products). A backward pass costs 2 x the forward (input and
weight gradients) where the weights are trained, 1 x where only the input
gradient is needed (G's step through D). Activations, normalisation,
losses and Adam are elementwise and left out (under 2% here). So, with F_G
and F_D one forward pass of G and D on one batch of B:

* D step: G forward (fakes) + D forward on real and fake + D backward
  = F_G + 2 F_D + 4 F_D;
* gradient penalty (WGAN-GP): D forward on the interpolates, its input
  gradient, and the weight gradient of that pair = F_D + F_D + 2 F_D.
  (Reverse mode differentiates the pair with one more input-gradient and
  one weight-gradient pass: the forward's own weight gradient is not
  needed. XLA's count of the compiled step agrees within 2% on the toy;
  the rule of 2 x for both would say 6 F_D.);
* G step: G forward + D forward + D input gradient + G backward
  = F_G + F_D + F_D + 2 F_G.

One iteration is n_critic D steps and one G step. The penalty's count is
the usual autodiff estimate; XLA's own count of the compiled program
(``cost_analysis``) is reported beside it as a check.
"""

from typing import Sequence


def mlp_forward(batch: int, sizes: Sequence[int]) -> float:
  """Dense layers sizes[0] -> sizes[1] -> ... on ``batch`` examples."""
  return sum(2.0 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:]))


def dcgan28_forward(batch: int, latent: int = 100, width: int = 64) -> tuple:
  """(F_G, F_D) of the 28x28 DCGAN pair (gan_jax.models.dcgan)."""
  f_g = (
      2.0 * batch * latent * 7 * 7 * 2 * width  # project
      + 2.0 * batch * 7 * 7 * 16 * 2 * width * width  # 7 -> 14
      + 2.0 * batch * 14 * 14 * 16 * width * 1
  )  # 14 -> 28
  f_d = (
      2.0 * batch * 14 * 14 * 16 * 1 * width  # 28 -> 14
      + 2.0 * batch * 7 * 7 * 16 * width * 2 * width  # 14 -> 7
      + 2.0 * batch * 7 * 7 * 2 * width
  )  # linear
  return f_g, f_d


def iteration(f_g: float, f_d: float, n_critic: int, penalty: bool) -> float:
  d_step = f_g + 6 * f_d + (4 * f_d if penalty else 0.0)
  g_step = 3 * f_g + 2 * f_d
  return n_critic * d_step + g_step
