"""Plug-ins by name, their declared scalars, and the library's config as a
plain nested mapping: a scalar declared once has its config field, its
validation, its place in the state and its batchability; nothing else is
edited."""

import jax
import jax.numpy as jnp
import numpy as np
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


# --- State a plug-in owns ------------------------------------------------------


def _running_mean(ctx):
  """A penalty that keeps a running mean of D(real) and counts its calls:
  the slot is the plug-in's own, updated with the global batch's mean."""
  mean = 0.9 * ctx.extra['mean'] + 0.1 * ctx.mean(ctx.real_out)
  penalty = jnp.square(ctx.mean(ctx.real_out) - ctx.extra['mean'])
  return penalty, {'mean': mean, 'count': ctx.extra['count'] + 1}


@pytest.fixture
def running_mean():
  penalties.D_PENALTIES.register(
      'test_running',
      penalties.Penalty(
          _running_mean,
          init_extra=lambda spec: {
              'mean': jnp.zeros(()),
              'count': jnp.zeros((), jnp.int32),
          },
          per_example=False,
      ),
      replace=True,
  )
  yield small_config(
      objective__penalty='test_running',
      objective__penalty_weight=0.1,
      train__batch_size=32,
      optim__g__name='sgd',
      optim__d__name='sgd',
      optim__g__lr=0.05,
      optim__d__lr=0.05,
  )
  del penalties.D_PENALTIES['test_running']


def test_a_plugins_state_is_in_the_state_from_init_and_steps_with_it(
    running_mean,
):
  spec, hparams, dataset = gan_config.build(running_mean)
  state = gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  assert set(state.extra) == {'test_running'}
  assert int(state.extra['test_running']['count']) == 0
  train_step = jax.jit(steps.make_steps(spec).train_step)
  for i in range(3):
    batch = dataset.to_network(dataset.sample(jax.random.PRNGKey(i), (1, 32)))
    state, _ = train_step(state, batch, jax.random.PRNGKey(7))
  assert int(state.extra['test_running']['count']) == 3
  assert float(state.extra['test_running']['mean']) != 0.0


@pytest.mark.slow
def test_a_plugins_state_is_the_same_on_eight_devices(running_mean):
  from tests.helpers import train_on_devices

  (one, _), _ = train_on_devices(running_mean, 'jit', 1, 2)
  (eight, _), _ = train_on_devices(running_mean, 'shard_map', 8, 2)
  np.testing.assert_allclose(
      eight.extra['test_running']['mean'],
      one.extra['test_running']['mean'],
      rtol=1e-5,
  )
  assert int(eight.extra['test_running']['count']) == 1


def test_a_plugins_state_is_vmapped_in_a_group(running_mean):
  # Two runs of one group: each keeps its own slot, as when run alone.
  spec, _, dataset = gan_config.build(running_mean)
  hparams = [gan_config.hparams_from_config(running_mean)] * 2
  keys = jax.random.split(jax.random.PRNGKey(0), 2)
  group = batched.init_group([spec, spec], keys, hparams)
  assert group.extra['test_running']['count'].shape == (2,)

  def sample(key, data, i):
    del data, i
    return dataset.to_network(dataset.sample(key, (1, 32)))

  loop = batched.make_group_loop(steps.make_steps(spec).train_loop, sample, 3)
  trained, _, alive = loop(
      group, jax.random.split(jax.random.PRNGKey(1), 2), None, jnp.ones(2, bool)
  )
  assert alive.tolist() == [True, True]
  assert trained.extra['test_running']['count'].tolist() == [3, 3]
  means = trained.extra['test_running']['mean']
  assert float(means[0]) != float(means[1])
  alone = jax.jit(steps.make_steps(spec).train_loop, static_argnums=(3, 4))(
      gan_state.init_state(spec, keys[1], hparams[1]),
      jax.random.split(jax.random.PRNGKey(1), 2)[1],
      None,
      sample,
      3,
  )[0]
  np.testing.assert_allclose(
      means[1], alone.extra['test_running']['mean'], rtol=1e-5
  )


@pytest.mark.parametrize(
    'field, message',
    [
        ('objective.name', "'objective.name', which is the library's own"),
        ('optim.d.lr', "a plug-in's field is SECTION.NAME"),
        ('seed', "a plug-in's field is SECTION.NAME"),
        ('eval.x', "a plug-in's field is SECTION.NAME"),
    ],
)
def test_a_plugins_field_cannot_be_someone_elses(field, message):
  penalties.D_PENALTIES.register(
      'test_field',
      penalties.Penalty(
          lambda ctx: jnp.zeros(()), hparams=(HParam('x_y', 1.0, field=field),)
      ),
      replace=True,
  )
  try:
    with pytest.raises(ValueError, match=message):
      gan_config.defaults()
  finally:
    del penalties.D_PENALTIES['test_field']
