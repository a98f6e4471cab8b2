"""The PyTorch baseline: the benchmark's GANs in eager PyTorch, trained the
way the seed papers' code trains them (zero_grad / backward / step, fakes
detached for D, ``autograd.grad(create_graph=True)`` for the gradient
penalty, D's params frozen during G's step as in the WGAN-GP code).

Same layer shapes, initial scales aside, as gan_jax's models:

* toy: MLPs 2-512-512-512-2 (G) and 2-512-512-512-1 (D), ReLU, z in R^2;
* DCGAN 28x28: G = Linear(100, 7*7*128, no bias), [BN, ReLU, ConvT 128->64
  (4, 2, 1, no bias)], [BN, ReLU, ConvT 64->1 (4, 2, 1)], tanh; D = Conv
  1->64 (4, 2, 1), LeakyReLU(0.2), Conv 64->128, GroupNorm(1, 128) (flax's
  LayerNorm over H, W, C with per-channel affine), LeakyReLU(0.2), Linear
  (7*7*128, 1).

Everything is created on ``device`` ('cpu', or 'cuda' when the JAX side
runs on a GPU: ``python -m benchmarks`` picks it). PyTorch is an optional
benchmark dependency (``pip install torch==2.13.0``), never needed for
training.
"""

import torch
from torch import nn
from torch.nn import functional as F


def mlp(inputs: int, outputs: int, width: int = 512, depth: int = 3):
  layers, size = [], inputs
  for _ in range(depth):
    layers += [nn.Linear(size, width), nn.ReLU()]
    size = width
  return nn.Sequential(*layers, nn.Linear(size, outputs))


class DCGANGenerator(nn.Module):

  def __init__(self, latent: int = 100, width: int = 64, channels: int = 1):
    super().__init__()
    self.width = width
    self.project = nn.Linear(latent, 7 * 7 * 2 * width, bias=False)
    self.body = nn.Sequential(
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, 2, 1),
        nn.Tanh(),
    )

  def forward(self, z):
    return self.body(self.project(z).view(-1, 2 * self.width, 7, 7))


def dcgan_discriminator(width: int = 64, channels: int = 1):
  return nn.Sequential(
      nn.Conv2d(channels, width, 4, 2, 1),
      nn.LeakyReLU(0.2),
      nn.Conv2d(width, 2 * width, 4, 2, 1),
      nn.GroupNorm(1, 2 * width),
      nn.LeakyReLU(0.2),
      nn.Flatten(),
      nn.Linear(7 * 7 * 2 * width, 1),
  )


def d_loss(variant: str, real_out, fake_out, real_target: float = 0.9):
  if variant == 'wgan_gp':
    return fake_out.mean() - real_out.mean()
  target = real_target if variant == 'label_smoothing' else 1.0
  return F.binary_cross_entropy_with_logits(
      real_out, torch.full_like(real_out, target)
  ) + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))


def g_loss(variant: str, fake_out):
  if variant == 'wgan_gp':
    return -fake_out.mean()
  if variant == 'vanilla':  # Minimise E[log(1 - D(G(z)))] = -E[softplus(l)].
    return -F.softplus(fake_out).mean()
  return F.softplus(-fake_out).mean()  # -E[log D(G(z))]


def gradient_penalty(D, real, fake, weight: float):
  eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), device=real.device)
  x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
  (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
  return weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class Trainer:
  """One GAN and its two Adam optimizers; ``iteration()`` is n_critic D
  steps then one G step."""

  def __init__(
      self,
      variant: str,
      G,
      D,
      latent: int,
      sample_real,
      n_critic: int,
      batch: int,
      lr: float,
      betas,
      penalty: float,
      device: str = 'cpu',
  ):
    self.device = torch.device(device)
    G, D = G.to(self.device), D.to(self.device)
    self.variant, self.G, self.D = variant, G, D
    self.latent, self.sample_real = latent, sample_real
    self.n_critic, self.batch, self.penalty = n_critic, batch, penalty
    self.opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    self.opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)

  def iteration(self) -> float:
    G, D = self.G, self.D
    for p in D.parameters():
      p.requires_grad_(True)
    for _ in range(self.n_critic):
      real = self.sample_real(self.batch)
      fake = G(self.noise()).detach()
      self.opt_d.zero_grad()
      loss = d_loss(self.variant, D(real).squeeze(1), D(fake).squeeze(1))
      if self.variant == 'wgan_gp':
        loss = loss + gradient_penalty(D, real, fake, self.penalty)
      loss.backward()
      self.opt_d.step()
    for p in D.parameters():
      p.requires_grad_(False)
    self.opt_g.zero_grad()
    loss_g = g_loss(self.variant, D(G(self.noise())).squeeze(1))
    loss_g.backward()
    self.opt_g.step()
    return float(loss_g.detach())  # A host sync per iteration, as eager
    # code has (printing or logging the loss); on a GPU it also makes the
    # host's clock see the iteration's end.

  def noise(self):
    return torch.randn(self.batch, self.latent, device=self.device)


def grid25_sampler(device: str = 'cpu'):
  """25 Gaussians on {-4, -2, 0, 2, 4}^2, sigma 0.05, scaled by 1/2.828
  (gan_jax.data.toy2d's network coordinates)."""
  axis = torch.arange(-4.0, 5.0, 2.0, device=device)
  centers = torch.cartesian_prod(axis, axis)

  def sample(batch):
    index = torch.randint(0, 25, (batch,), device=device)
    return (
        centers[index] + 0.05 * torch.randn(batch, 2, device=device)
    ) / 2.828

  return sample


def toy_trainer(
    variant: str,
    n_critic: int,
    lr: float,
    betas,
    penalty: float,
    batch: int = 256,
    width: int = 512,
    device: str = 'cpu',
):
  return Trainer(
      variant,
      mlp(2, 2, width),
      mlp(2, 1, width),
      2,
      grid25_sampler(device),
      n_critic,
      batch,
      lr,
      betas,
      penalty,
      device,
  )


def dcgan_trainer(
    variant: str,
    n_critic: int,
    lr: float,
    betas,
    penalty: float,
    batch: int = 64,
    device: str = 'cpu',
):
  # Stand-in images in [-1, 1], in the device's memory.
  pool = torch.rand(1024, 1, 28, 28, device=device) * 2 - 1

  def sample(size):
    return pool[torch.randint(0, pool.shape[0], (size,), device=device)]

  return Trainer(
      variant,
      DCGANGenerator(),
      dcgan_discriminator(),
      100,
      sample,
      n_critic,
      batch,
      lr,
      betas,
      penalty,
      device,
  )
