"""What the data-efficiency methods do on limited data: DCGAN on the
embedded ``digits``, with all 1,437 training images, 25% (359) and 10%
(144) of them (``data.subset``: the same images in every run), plain and
with DiffAugment, ADA, bCR and LeCam + DiffAugment, each with its paper's
defaults, and bCR without its flip and DiffAugment with translation only;
three seeds, the digits default of 10,000 steps each (docs/images.md has
the table it made and its time); limited_data_stylegan2.py asks the same
of StyleGAN2.

  python -m experiments.sweep --sweep=experiments/configs/sweeps/limited_data.py --cpu_devices=1

(``--cpu_devices=1``: with two CPU devices one of these groups stopped at
an XLA:CPU collective that one device never reached, 2026-12-06.)

FD, KID, precision/recall and the mode counts are against the whole
held-out split, as every digits run's; n = 360.
"""

TRAIN_IMAGES = 1437  # digits' train split.

# The methods, each a set of fields over the model's variant: the papers'
# defaults, then two fitted to digits (a flip changes a digit's meaning;
# colour jitter and a cutout of a quarter of an 8x8 image are harsh).
METHODS = [
    {},  # Plain.
    {'augment.name': 'diffaugment'},
    {'augment.name': 'ada'},
    {'objective.regularizers': 'bcr'},
    {'objective.regularizers': 'lecam', 'augment.name': 'diffaugment'},
    {'objective.regularizers': 'bcr', 'objective.cr_flip': False},
    {
        'augment.name': 'diffaugment',
        'augment.color': False,
        'augment.cutout': False,
    },
]


def get_sweep():
  return {
      # DCGAN is the digits default under non_saturating.
      'variants': ['non_saturating'],
      'dataset': 'digits',
      'seeds': 3,
      'grid': {
          'data.subset': [
              0,
              round(0.25 * TRAIN_IMAGES),
              round(0.10 * TRAIN_IMAGES),
          ]
      },
      'configs': METHODS,
      # The digits default of 10,000 steps, evaluated every 2,500.
      'set': {'train.eval_every': 2500, 'train.checkpoint_every': 2500},
  }
