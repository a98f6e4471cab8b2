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


def _relativistic(name: str, d: str, g: str) -> Variant:
  # The paper's CIFAR-10 setting: DCGAN's Adam, n_D = 1.
  return Variant(
      {'objective.name': name, **_DCGAN_ADAM},
      g_loss=g,
      d_loss=d,
      reference='Jolicoeur-Martineau 2019, The relativistic discriminator',
  )


def _on_non_saturating(overrides: Mapping[str, Any], **fields) -> Variant:
  """A regulariser or augmentation on DCGAN's non-saturating game."""
  return Variant(
      {'objective.name': 'non_saturating', **_DCGAN_ADAM, **overrides},
      g_loss=fields.pop('g_loss', 'min E[softplus(-l)]'),
      **fields,
  )


def _stylegan2_with(overrides: Mapping[str, Any], reference: str) -> Variant:
  base = VARIANTS['stylegan2']
  return base._replace(
      overrides={**base.overrides, **overrides},
      d_loss=base.d_loss + ', on augmented images',
      reference=reference,
  )


_DIFFAUGMENT = {'augment.name': 'diffaugment'}  # color,translation,cutout.

VARIANTS = {
    **VARIANTS,
    # "Ra" is relative to the average of the other side's outputs, C~.
    'rsgan': _relativistic(
        'rsgan',
        d='E[softplus(-(C(x) - C(G(z))))]',
        g='E[softplus(-(C(G(z)) - C(x)))]',
    ),
    'ragan': _relativistic(
        'ragan',
        d='E[softplus(-C~(x))] + E[softplus(C~(G(z)))]',
        g="D's with real and fake swapped",
    ),
    'ralsgan': _relativistic(
        'ralsgan',
        d='E[(C~(x) - 1)^2] + E[(C~(G(z)) + 1)^2]',
        g="D's with real and fake swapped",
    ),
    'rahinge': _relativistic(
        'rahinge',
        d='E[relu(1 - C~(x))] + E[relu(1 + C~(G(z)))]',
        g="D's with real and fake swapped",
    ),
    'dragan': _on_non_saturating(
        {
            'objective.penalty': 'dragan',
            'objective.penalty_weight': 10.0,
            **_adam(1e-4, 0.5, 0.9),
        },
        d_loss='BCE game + lambda E[(||grad D(x + a c std(x) u)|| - 1)^2]',
        reference='Kodali et al. 2017, On Convergence and Stability of '
        "GANs (lambda 10, c 0.5, their code's Adam)",
    ),
    'cr': _on_non_saturating(
        {'objective.regularizers': 'cr'},
        d_loss='BCE game + 10 E[(D(x) - D(T(x)))^2]',
        reference='Zhang et al. 2020, Consistency Regularization for GANs',
    ),
    'bcr': _on_non_saturating(
        {'objective.regularizers': 'bcr'},
        d_loss='BCE game + 10 E[(D(x) - D(T(x)))^2] + 10 E[(D(G(z)) - '
        'D(T(G(z))))^2]',
        reference='Zhao et al. 2021, Improved Consistency Regularization '
        'for GANs (bCR)',
    ),
    'zcr': _on_non_saturating(
        {'objective.regularizers': 'zcr'},
        d_loss='BCE game + 5 E[(D(G(z)) - D(G(z + dz)))^2], dz ~ N(0, '
        '0.03^2)',
        g_loss='E[softplus(-l)] - 0.5 E[(G(z) - G(z + dz))^2]',
        reference='Zhao et al. 2021, Improved Consistency Regularization '
        'for GANs (zCR)',
    ),
    'lecam': _on_non_saturating(
        {'objective.regularizers': 'lecam'},
        d_loss='BCE game + 0.3 (E[relu(D(x) - a_F)^2] + E[relu(a_R - '
        'D(G(z)))^2]), a: moving means of D',
        reference='Tseng et al. 2021, Regularizing GANs under Limited Data',
    ),
    'topk': _on_non_saturating(
        # A 2-D sampler has no epochs: k decays every 25 steps and reaches
        # its minimum (0.99^69 < 0.5) halfway through the 3,500-step
        # default.
        {'objective.regularizers': 'topk', 'objective.topk_epoch_steps': 25},
        d_loss='BCE game',
        g_loss='E[softplus(-l)] over the k fakes D rates highest, k = '
        'B max(0.99^epoch, 0.5)',
        reference='Sinha et al. 2020, Top-k Training of GANs',
        # Images: an epoch of the training set, as the paper.
        image_overrides={'objective.topk_epoch_steps': 0},
    ),
    'dcgan_diffaugment': _on_non_saturating(
        _DIFFAUGMENT,
        d_loss='BCE game on T(x), T(G(z)); T: color, translation, cutout',
        g_loss='E[softplus(-l)] on T(G(z))',
        reference='Zhao et al. 2020, Differentiable Augmentation for '
        'Data-Efficient GAN Training',
        images_only=True,
    ),
    'lecam_diffaugment': _on_non_saturating(
        {'objective.regularizers': 'lecam', **_DIFFAUGMENT},
        d_loss='BCE game + LeCam (0.3), on T(x), T(G(z)) (DiffAugment)',
        g_loss='E[softplus(-l)] on T(G(z))',
        reference='Tseng et al. 2021 (their best: LeCam + DiffAugment)',
        images_only=True,
    ),
    'stylegan2_ada': _stylegan2_with(
        {'augment.name': 'ada'},
        reference='Karras et al. 2020, Training GANs with Limited Data '
        '(ADA, target 0.6)',
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
