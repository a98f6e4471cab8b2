"""The named GAN variants: config overrides carrying each paper's defaults.

A variant is a flat dict of config overrides applied on top of
``experiments/configs/default.py``; command-line ``--config.*`` flags apply
after it. Hyperparameters are the ones published for each method (optimizer,
learning rate, betas, n_critic, penalty weight); 2-D penalty weights follow
the official toy code where it differs from the image setting.
"""

import difflib
from typing import Any, Dict, Mapping, NamedTuple, Tuple


class Variant(NamedTuple):
  overrides: Mapping[str, Any]
  g_loss: str  # For the README table and summaries.
  d_loss: str
  reference: str
  # Applied after ``overrides`` on image datasets, where a paper's image
  # setting differs from its 2-D one.
  image_overrides: Mapping[str, Any] = {}
  # Applied after ``overrides`` on the 2-D benchmarks: values tuned with a
  # sweep for their short CPU budget (docs/results_2d.md), where the published
  # ones assume a far longer run.
  toy_overrides: Mapping[str, Any] = {}
  # A variant whose networks take images only (its 2-D runs are refused).
  images_only: bool = False
  # Applied after ``image_overrides`` where a paper's setting changes with
  # the resolution: (largest image side, overrides) pairs in increasing
  # order; the first whose side is at least the image's applies.
  side_overrides: Tuple[Tuple[int, Mapping[str, Any]], ...] = ()

  def overrides_for_side(self, side: int) -> Mapping[str, Any]:
    """The ``side_overrides`` entry for square images of ``side``."""
    return next(
        (values for largest, values in self.side_overrides if side <= largest),
        {},
    )


def _adam(lr: float, b1: float, b2: float) -> Dict[str, Any]:
  return {
      f'optim.{side}.{k}': v
      for side in ('g', 'd')
      for k, v in (('name', 'adam'), ('lr', lr), ('b1', b1), ('b2', b2))
  }


# DCGAN's Adam (Radford et al., 2016): lr 2e-4, beta1 0.5.
_DCGAN_ADAM = _adam(2e-4, 0.5, 0.999)

VARIANTS: Mapping[str, Variant] = {
    'vanilla': Variant(
        {'objective.name': 'minimax', **_DCGAN_ADAM},
        g_loss='min E[log(1 - D(G(z)))] = -E[softplus(l)]',
        d_loss='BCE(real, 1) + BCE(fake, 0)',
        reference='Goodfellow et al. 2014, Generative Adversarial Nets',
    ),
    'non_saturating': Variant(
        {'objective.name': 'non_saturating', **_DCGAN_ADAM},
        g_loss='max E[log D(G(z))] = min E[softplus(-l)]',
        d_loss='BCE(real, 1) + BCE(fake, 0)',
        reference='Goodfellow et al. 2014, Sec. 3',
    ),
    'wgan_gp': Variant(
        {
            'objective.name': 'wasserstein',
            'objective.penalty': 'gradient_penalty',
            # lambda = 0.1 in the official 2-D toy code; 10 for images.
            'objective.penalty_weight': 0.1,
            'objective.n_critic': 5,
            **_adam(1e-4, 0.5, 0.9),
        },
        g_loss='-E[f(G(z))]',
        d_loss='E[f(G(z))] - E[f(x)] + lambda E[(||grad f(x_hat)|| - 1)^2]',
        reference='Gulrajani et al. 2017, Improved Training of Wasserstein '
        'GANs',
        image_overrides={'objective.penalty_weight': 10.0},
        # The official toy code runs 100,000 steps at 1e-4; in the 2-D
        # default of 3,500 steps, decaying linearly, 1e-2 sharpens the modes
        # (tuned at 3,000: experiments/configs/sweeps/tune_wgan_gp_lr.py,
        # docs/results_2d.md).
        toy_overrides=_adam(1e-2, 0.5, 0.9),
    ),
    'label_smoothing': Variant(
        {
            'objective.name': 'non_saturating',
            'objective.real_target': 0.9,
            **_DCGAN_ADAM,
        },
        g_loss='min E[softplus(-l)]',
        d_loss='BCE(real, 1 - s) + BCE(fake, 0), s = 0.1 (one-sided)',
        reference='Salimans et al. 2016, Improved Techniques for Training '
        'GANs, Sec. 3.4',
    ),
    'hinge': Variant(
        {'objective.name': 'hinge', **_DCGAN_ADAM},
        g_loss='-E[D(G(z))]',
        d_loss='E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]',
        reference='Lim & Ye 2017, Geometric GAN; Miyato et al. 2018',
    ),
    'least_squares': Variant(
        {'objective.name': 'least_squares', **_DCGAN_ADAM},
        g_loss='1/2 E[(D(G(z)) - 1)^2]',
        d_loss='1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]',
        reference='Mao et al. 2017, Least Squares GANs',
    ),
    'wgan_clip': Variant(
        {
            'objective.name': 'wasserstein',
            'objective.clip_weights': True,
            'objective.clip_value': 0.01,
            'objective.n_critic': 5,
            **{
                f'optim.{side}.{k}': v
                for side in ('g', 'd')
                for k, v in (('name', 'rmsprop'), ('lr', 5e-5), ('b2', 0.99))
            },
        },
        g_loss='-E[f(G(z))]',
        d_loss='E[f(G(z))] - E[f(x)], weights clipped to [-c, c], c = 0.01',
        reference='Arjovsky et al. 2017, Wasserstein GAN (Alg. 1)',
    ),
    'r1': Variant(
        {
            'objective.name': 'non_saturating',
            'objective.penalty': 'r1',
            'objective.penalty_weight': 10.0,
            **_adam(1e-4, 0.0, 0.99),
        },
        g_loss='min E[softplus(-l)]',
        d_loss='BCE(real, 1) + BCE(fake, 0) + gamma/2 E[||grad D(x)||^2]',
        reference='Mescheder et al. 2018, Which Training Methods for GANs '
        'do actually Converge?',
    ),
    'stylegan2': Variant(
        {
            'objective.name': 'non_saturating',
            'objective.penalty': 'r1',
            'objective.penalty_weight': 0.01,
            'objective.penalty_every': 16,
            'objective.g_penalty': 'path_length',
            'objective.g_penalty_weight': 2.0,
            'objective.g_penalty_every': 4,
            'model.name': 'stylegan2',
            'model.depth': 8,
            'model.latent_dim': 128,
            'model.g_norm': 'none',
            'model.d_norm': 'none',
            'model.mixing_prob': 0.9,
            'ema.decay': 0.999,
            # The paper's Adam. Its k / (k + 1) correction of the rate and
            # betas is for a regulariser applied as an extra optimizer step;
            # here it joins that step's loss (one update per step), so none.
            **_adam(2e-3, 0.0, 0.99),
        },
        g_loss='min E[softplus(-l)] + path-length regulariser (every 4)',
        d_loss='BCE(real, 1) + BCE(fake, 0) + gamma/2 E[||grad D(x)||^2] '
        '(lazy, every 16)',
        reference='Karras et al. 2020, Analyzing and Improving the Image '
        'Quality of StyleGAN (config F; gamma 0.01 and a 128-d w '
        'as their CIFAR-10 setting)',
        images_only=True,
        # Config F is for 256-1024 pixels. StyleGAN2-ADA (Karras et al.
        # 2020b, "Training Generative Adversarial Networks with Limited
        # Data", App. D) published the small-image settings: for CIFAR-10
        # a 2-layer mapping, no style mixing, no path-length term, lr
        # 2.5e-3; from 64 pixels its heuristic gamma = 2e-4 side^2 / batch
        # (0.0128 at 64x64, batch 64) with a 2-layer mapping. On 8x8
        # digits the CIFAR-10 setting learned twice as fast as config F
        # (docs/images.md).
        side_overrides=(
            (
                32,
                {
                    'model.depth': 2,
                    'model.mixing_prob': 0.0,
                    'objective.g_penalty': 'none',
                    'objective.penalty_weight': 0.01,
                    **_adam(2.5e-3, 0.0, 0.99),
                },
            ),
            (
                64,
                {
                    'model.depth': 2,
                    'objective.penalty_weight': 0.0128,
                    **_adam(2.5e-3, 0.0, 0.99),
                },
            ),
        ),
    ),
}

SEED_VARIANTS = ('vanilla', 'non_saturating', 'wgan_gp', 'label_smoothing')
# The variants that also train on the 2-D benchmarks.
VARIANTS_2D = tuple(name for name, v in VARIANTS.items() if not v.images_only)


def unknown_variant(name) -> str:
  """Says that ``name`` is no variant, suggesting the one it most likely
  means (``wgan-gp`` and ``WGAN_GP`` mean ``wgan_gp``), and lists them."""
  spelled = str(name).strip().lower().replace('-', '_')
  close = (
      [spelled]
      if spelled in VARIANTS
      else difflib.get_close_matches(spelled, list(VARIANTS), n=1)
  )
  hint = f' (did you mean {close[0]}?)' if close else ''
  return f'unknown variant {name!r}{hint}; valid: {", ".join(VARIANTS)}'


def get_variant(name: str) -> Variant:
  """Looks a variant up by name; an unknown name lists the valid ones."""
  if name not in VARIANTS:
    raise ValueError(unknown_variant(name))
  return VARIANTS[name]
