"""Plug-ins by name, their declared scalars, and the library's config as a
plain nested mapping: a scalar declared once has its config field, its
validation, its place in the state and its batchability; nothing else is
edited."""

import jax
import jax.numpy as jnp
import pytest

from experiments.configs import default
from experiments.runner import validation
from gan_jax import batched, config as gan_config, losses, penalties
from gan_jax import state as gan_state, steps
from gan_jax.hparams import HParam
from gan_jax.registry import Registry
from tests.helpers import small_config

MARGIN = HParam('test_margin', 1.0, low=0.0, low_open=True, doc='the margin')
WIDE = HParam('test_wide', 2, low=1, high=8, batchable=False, doc='a width')


def _margin_hinge(real, fake, ctx):
  margin = ctx.hparams['test_margin']
  return jnp.mean(jax.nn.relu(margin - real)) + jnp.mean(
      jax.nn.relu(margin + fake)
  )


@pytest.fixture(autouse=True, scope='module')
def margin_hinge():
  """A hinge loss with a margin, registered for this module's tests only
  (other tests in this process see the configs of the library alone)."""
  losses.OBJECTIVES.register(
      'test_margin_hinge',
      losses.Objective(
          _margin_hinge,
          losses.wasserstein_g_loss,
          False,
          hparams=(MARGIN, WIDE),
      ),
      replace=True,
  )
  yield
  del losses.OBJECTIVES['test_margin_hinge']


def test_a_registry_refuses_a_name_taken_and_suggests_a_near_one():
  registry = Registry('widget', {'sprocket': 1})
  with pytest.raises(ValueError, match="widget 'sprocket' is already"):
    registry.register('sprocket', 2)
  registry.register('sprocket', 2, replace=True)
  assert registry['sprocket'] == 2
  with pytest.raises(ValueError, match="'sprockt' \\(did you mean 'sprocket'"):
    registry.lookup('sprockt')

  @registry.register('cog')
  def cog():
    return 'turns'

  assert registry.lookup('cog') is cog


def test_a_declared_scalar_has_its_field_validation_and_place():
  # The field exists in every config built after the registration.
  config = default.get_config()
  assert config.objective.test_margin == 1.0
  assert config.objective.test_wide == 2
  config.objective.name = 'test_margin_hinge'
  config.objective.test_margin = 0.5
  validation.validate(config)
  spec, hparams, _ = gan_config.build(config)
  assert hparams['test_margin'] == 0.5  # Batchable: in the state.
  assert 'test_wide' not in hparams
  assert dict(spec.options) == {'test_wide': 2}  # Static: in the spec.
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  assert float(state.hparams['test_margin']) == 0.5
  # Validated from the declaration, in one line.
  config.objective.test_margin = 0.0
  with pytest.raises(
      gan_config.ConfigError,
      match=r'^objective.test_margin=0.0 is not allowed: a finite number > 0 '
      r'\(the margin\)$',
  ):
    validation.validate(config)
  config.objective.test_margin = 1.0
  config.objective.test_wide = 9
  with pytest.raises(
      gan_config.ConfigError,
      match='^objective.test_wide=9 is not allowed: an integer from 1 to 8',
  ):
    validation.validate(config)


def test_a_sweep_vmaps_a_batchable_scalar_and_splits_on_a_static_one():
  def config(**fields):
    c = small_config(objective__name='test_margin_hinge')
    c.update_from_flattened_dict(fields)
    return c

  assert batched.group_key(config(**{'objective.test_margin': 0.5})) == (
      batched.group_key(config(**{'objective.test_margin': 2.0}))
  )
  assert batched.group_key(config(**{'objective.test_wide': 3})) != (
      batched.group_key(config(**{'objective.test_wide': 4}))
  )


def test_the_scalar_reaches_the_loss():
  config = small_config(
      objective__name='test_margin_hinge', objective__test_margin=3.0
  )
  spec, hparams, dataset = gan_config.build(config)
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  batch = dataset.to_network(dataset.sample(jax.random.PRNGKey(1), (1, 16)))
  train_step = jax.jit(steps.make_steps(spec).train_step)
  _, metrics = train_step(state, batch, jax.random.PRNGKey(2))
  # Small initial outputs: each hinge term is about the margin.
  assert 5.0 < float(metrics['d_loss']) < 7.0
  _, metrics = train_step(
      state.replace(hparams={**state.hparams, 'test_margin': 1.0}),
      batch,
      jax.random.PRNGKey(2),
  )
  assert 1.0 < float(metrics['d_loss']) < 3.0


def test_two_declarations_of_one_name_must_agree():
  penalties.D_PENALTIES.register(
      'test_clash',
      penalties.Penalty(
          lambda ctx: jnp.zeros(()), hparams=(HParam('test_margin', 5.0),)
      ),
      replace=True,
  )
  try:
    with pytest.raises(
        ValueError,
        match="hyperparameter 'test_margin' is declared differently by "
        "objective 'test_margin_hinge' .* and by penalty 'test_clash'",
    ):
      gan_config.defaults()
  finally:
    del penalties.D_PENALTIES['test_clash']


@pytest.mark.parametrize(
    'default, batchable, message',
    [
        (1, True, 'a batchable scalar is a float'),
        (True, True, 'a batchable scalar is a float'),
        (-1.0, True, 'default -1.0 is not allowed: a finite number >= 0'),
    ],
)
def test_a_declaration_that_cannot_hold_is_refused(default, batchable, message):
  with pytest.raises(ValueError, match=message):
    HParam('x', default, low=0.0, batchable=batchable)


def test_the_library_takes_a_plain_nested_dict_and_fills_the_rest():
  spec, hparams, dataset = gan_config.build(
      {'objective': {'name': 'hinge'}, 'train': {'batch_size': 64}}
  )
  assert spec.objective == 'hinge' and spec.algorithm == 'alternating'
  assert dataset.name == 'grid25' and spec.n_critic == 1
  gan_config.validate({'objective': {'penalty': 'r1', 'penalty_weight': 1.0}})
  with pytest.raises(
      gan_config.ConfigError,
      match=r"^unknown config field 'objective.penalty_wieght' \(did you "
      r"mean 'objective.penalty_weight'\?\)",
  ):
    gan_config.validate({'objective': {'penalty_wieght': 1.0}})
  with pytest.raises(
      gan_config.ConfigError, match=r"^train.algorithm='nope' is not allowed"
  ):
    gan_config.validate({'train': {'algorithm': 'nope'}})
