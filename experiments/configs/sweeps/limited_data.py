"""What the data-efficiency methods do on limited data: DCGAN and
StyleGAN2 on the embedded ``digits``, with all 1,437 training images, 25%
(359) and 10% (144) of them (``data.subset``: the same images in every
run), plain and with DiffAugment, ADA, bCR and LeCam + DiffAugment, three
seeds, at equal steps. About an hour on a 2-core CPU (docs/images.md has
the table it made and the measured time).

  python -m experiments.sweep --sweep=experiments/configs/sweeps/limited_data.py

FD, KID, precision/recall and the mode counts are against the whole
held-out split, as every digits run's; n = 360.
"""

TRAIN_IMAGES = 1437  # digits' train split.

# The methods, each a set of fields over the model's variant.
METHODS = [
    {},  # Plain.
    {'augment.name': 'diffaugment'},
    {'augment.name': 'ada'},
    {'objective.regularizers': 'bcr'},
    {'objective.regularizers': 'lecam', 'augment.name': 'diffaugment'},
]


def get_sweep():
  return {
      # DCGAN is the digits default under non_saturating.
      'variants': ['non_saturating', 'stylegan2'],
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
      'set': {
          'train.steps': 2500,
          'train.eval_every': 2500,
          'train.checkpoint_every': 2500,
      },
  }
