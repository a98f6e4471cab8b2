"""Config validation: every bad value is one line naming field and range."""

import pytest

from experiments.runner.config_layers import (
    replaced_file_choices,
    resolve_config,
    unknown_field,
)
from experiments.configs import default
from experiments.runner import validation
from gan_jax import config as gan_config
from gan_jax.data import DATASETS
from gan_jax.variants import SEED_VARIANTS, VARIANTS, get_variant
from tests.helpers import small_config


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_every_variant_validates_and_builds(variant):
  images = get_variant(variant).images_only
  config = small_config(variant, **(dict(dataset='digits') if images else {}))
  gan_config.validate(config)
  spec, hparams, dataset = gan_config.build(config)
  assert spec.n_critic == config.objective.n_critic
  assert (dataset.tfds_name if images else dataset.name) == (
      'digits' if images else 'grid25'
  )


def test_seed_variants_carry_published_defaults():
  wgan = get_variant('wgan_gp').overrides
  assert wgan['objective.n_critic'] == 5
  assert wgan['optim.d.lr'] == 1e-4 and wgan['optim.d.b2'] == 0.9
  assert wgan['objective.penalty_weight'] == 0.1  # gan_toy.py's lambda.
  assert (
      get_variant('label_smoothing').overrides['objective.real_target'] == 0.9
  )
  assert get_variant('vanilla').overrides['objective.name'] == 'minimax'
  assert set(SEED_VARIANTS) <= set(VARIANTS)


@pytest.mark.parametrize(
    'field, hint',
    [
        ('train.num_steps', "(did you mean 'train.steps'?)"),  # Near a name.
        ('trian.steps', "(did you mean 'train.steps'?)"),  # A misspelt section.
        ('optim.d.momentum', '(optim.d has b1, b2, lr, name, schedule)'),
        ('sed', "(did you mean 'seed'?)"),
        (
            'nothing_like_it',
            "'nothing_like_it'; the fields are the config file's",
        ),
    ],
)
def test_unknown_config_field_names_what_is_near(field, hint):
  message = unknown_field(field)
  assert message.startswith(f'unknown config field {field!r}')
  assert hint in message, message


@pytest.mark.parametrize('dataset', DATASETS)
def test_no_variant_on_the_default_file_is_non_saturating(dataset):
  # experiments.run without --variant leaves the variant layer out; the
  # default file holds non_saturating's settings, so nothing changes there.
  without = resolve_config(default.get_config(), None, {}, dataset=dataset)
  named = resolve_config(
      default.get_config(), 'non_saturating', {}, dataset=dataset
  )
  assert without.to_dict() == named.to_dict()
  assert without.variant == 'non_saturating'


def test_a_config_file_of_its_own_stands_unless_a_variant_is_named():
  base = default.get_config()
  base.variant = 'my_gan'
  base.objective.name = 'hinge'
  base.optim.d.lr = 5e-3
  own = resolve_config(base, None, {'optim.g.lr': 1e-3})
  assert own.variant == 'my_gan' and own.objective.name == 'hinge'
  assert own.optim.d.lr == 5e-3 and own.optim.g.lr == 1e-3  # The flag too.
  named = resolve_config(base, 'wgan_gp', {'optim.g.lr': 1e-3})
  assert named.variant == 'wgan_gp'
  assert named.objective.name == 'wasserstein'  # The variant's over the file.
  assert named.optim.d.lr == get_variant('wgan_gp').toy_overrides['optim.d.lr']
  assert named.optim.g.lr == 1e-3  # Flags over the variant.


def test_the_file_choices_a_named_variant_replaces_are_named():
  # experiments.run prints them, so a layer never replaces a file's value
  # silently.
  base = default.get_config()
  base.variant = 'my_gan'
  base.objective.name = 'hinge'
  base.optim.d.lr = 5e-3
  base.optim.g.lr = 1e-3  # Also set on the command line: kept, not named.
  named = resolve_config(base, 'wgan_gp', {'optim.g.lr': 1e-3})
  assert replaced_file_choices(base, named, ['optim.g.lr']) == [
      "objective.name 'hinge' -> 'wasserstein'",
      'optim.d.lr 0.005 -> 0.01',
  ]
  assert replaced_file_choices(base, resolve_config(base, None, {}), []) == []
  # The default file has no choices of its own to replace.
  plain = default.get_config()
  images = resolve_config(plain, 'wgan_gp', {}, dataset='digits')
  assert replaced_file_choices(plain, images, ['dataset']) == []


@pytest.mark.parametrize('label', ['', 'a/b', '../up', 'my gan', None])
def test_a_run_label_that_cannot_name_a_directory_is_refused(label):
  base = default.get_config()
  base.variant = label
  with pytest.raises(
      gan_config.ConfigError,
      match=r'^variant=.* is not allowed: it names the run',
  ):
    resolve_config(base, None, {})


def test_unknown_variant_lists_valid_ones():
  with pytest.raises(ValueError, match='valid: vanilla, non_saturating'):
    get_variant('wgan')


@pytest.mark.parametrize(
    'name, meant',
    [
        ('wgan-gp', 'wgan_gp'),
        ('WGAN_GP', 'wgan_gp'),
        (' Hinge ', 'hinge'),
        ('non-saturating', 'non_saturating'),
        ('least_square', 'least_squares'),
        ('wgan', 'wgan_gp'),
    ],
)
def test_an_unknown_variant_suggests_the_one_meant(name, meant):
  # Refused all the same: a suggestion, not a silent correction.
  with pytest.raises(ValueError, match=rf"'{name}' \(did you mean {meant}\?\)"):
    get_variant(name)


def test_an_unknown_variant_far_from_all_suggests_none():
  with pytest.raises(ValueError) as error:
    get_variant('vae')
  assert 'did you mean' not in str(error.value)


BAD_VALUES = [
    ('dataset', 'mnist3', 'dataset=.*one of grid25, ring8, swiss_roll'),
    ('optim.d.lr', -1.0, r'optim.d.lr=-1.0 .*\(0, inf\)'),
    ('optim.g.lr', 0.0, r'optim.g.lr=0.0 .*\(0, inf\)'),
    ('optim.g.lr', float('nan'), 'optim.g.lr=nan'),
    ('objective.n_critic', 0, 'objective.n_critic=0 .*an integer from 1 to'),
    (
        'objective.n_critic',
        2**40,
        'objective.n_critic=1099511627776 .*to 2147483647',
    ),
    (
        'objective.n_critic',
        2**30,  # x 8 steps: D's update count overflows.
        'objective.n_critic=1073741824 .*at most 268435455 with train.steps=8',
    ),
    ('objective.real_target', 1.5, r'real_target=1.5 .*\[0, 1\]'),
    (
        'objective.penalty_weight',
        1e300,
        r'penalty_weight=1e\+300 .*float32 range',
    ),
    ('objective.name', 'wgan', 'objective.name=.*one of'),
    ('optim.d.b1', 1.0, r'optim.d.b1=1.0 .*\[0, 1\)'),
    ('optim.d.schedule', 'step', 'schedule=.*constant, linear, cosine'),
    ('model.d_norm', 'group', 'model.d_norm=.*none, batch, layer'),
    ('train.steps', 0, 'train.steps=0'),
    (
        'train.eval_every',
        3,
        r'train.eval_every=3 .*multiple of train.log_every \(2\)',
    ),
    ('ema.decay', 1.0, r'ema.decay=1.0 .*\[0, 1\)'),
    ('model.pack', 0, 'model.pack=0 .*an integer from 1'),
    (
        'objective.unroll_steps',
        101,
        r'objective.unroll_steps=101 .*from 0 \(no unrolling\) to 100',
    ),
    ('model.activation', 'gelu', 'model.activation=.*one of relu, tanh'),
    (
        'model.weight_init',
        'xavier',
        'model.weight_init=.*one of default, normal, orthogonal',
    ),
    ('model.init_scale', 0.0, r'model.init_scale=0.0 .*\(0, inf\)'),
    # Samples are divided by the scale on the way out: 1e-45 made them inf.
    ('data.scale', 1e-45, r"data.scale=1e-45 .*0 \(the dataset's own"),
    ('data.scale', 1e4, r'data.scale=10000.0 .*\[0.001, 1000\]'),
    (
        'train.algorithm',
        'simultaneous',
        'one of alternating; a plug-in registered in a file needs that file',
    ),
]


@pytest.mark.parametrize('field,value,message', BAD_VALUES)
def test_bad_value_is_one_line_naming_the_field(field, value, message):
  config = small_config('non_saturating')
  with config.ignore_type():
    config.update_from_flattened_dict({field: value})
  with pytest.raises(gan_config.ConfigError, match=message) as error:
    validation.validate(config)
  assert '\n' not in str(error.value)


def test_batch_norm_refused_in_a_penalised_critic():
  config = small_config('wgan_gp', model__d_norm='batch')
  with pytest.raises(
      gan_config.ConfigError,
      match="d_norm='batch' is not allowed with "
      "objective.penalty='gradient_penalty'",
  ):
    gan_config.validate(config)
  gan_config.validate(small_config('wgan_gp', model__d_norm='layer'))
  gan_config.validate(small_config('non_saturating', model__d_norm='batch'))


def test_batch_must_divide_over_devices():
  config = small_config('non_saturating', train__batch_size=10)
  with pytest.raises(
      gan_config.ConfigError, match=r'train.batch_size=10 .*device count \(4\)'
  ):
    gan_config.validate(config, num_devices=4)
  gan_config.validate(config, num_devices=2)
