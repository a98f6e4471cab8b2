"""Property-based bad input (hypothesis): random and malformed configs and
flag values either run or fail with one line naming what is wrong --
never a traceback, a hang or a half-written workdir."""

import json
import math
import os
import subprocess
import sys

import jax
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from experiments.runner import config_layers, validation
from experiments.configs import default
from gan_jax import config as gan_config, losses, models, optim, parallel
from gan_jax import penalties
from gan_jax import state as gan_state, steps as gan_steps
from gan_jax.batched import flatten
from gan_jax.data import DATASETS, is_image_dataset
from gan_jax.variants import VARIANTS
from tests.helpers import small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The named choices of the config, so that combinations of valid names are
# explored as well as garbage.
CHOICES = {
    'dataset': DATASETS,
    'objective.name': tuple(losses.OBJECTIVES),
    'objective.penalty': penalties.names(penalties.D_PENALTIES),
    'model.name': tuple(models.MODELS),
    'model.g_norm': ('none', 'batch', 'layer', 'spectral'),
    'model.d_norm': ('none', 'batch', 'layer', 'spectral'),
    'optim.g.name': optim.OPTIMIZERS,
    'optim.d.name': optim.OPTIMIZERS,
    'optim.g.schedule': optim.SCHEDULES,
    'optim.d.schedule': optim.SCHEDULES,
    'train.parallel': parallel.ROUTES,
    'variant': tuple(VARIANTS),
}
FIELDS = sorted(flatten(default.get_config().to_dict()))
HOSTILE_FLOATS = st.sampled_from(
    [
        0.0,
        -0.0,
        -1.0,
        1e-30,
        1e30,
        1e300,
        math.inf,
        -math.inf,
        math.nan,
        0.5,
        2.0,
    ]
)


def _values(field, default_value):
  garbage = st.one_of(
      st.text(max_size=6), st.none(), st.lists(st.integers(), max_size=2)
  )
  if field in CHOICES:
    return st.one_of(st.sampled_from(CHOICES[field]), garbage)
  if isinstance(default_value, bool):
    return st.one_of(st.booleans(), garbage)
  if isinstance(default_value, int):
    return st.one_of(
        st.integers(-5, 600),
        st.sampled_from([0, 1, 2**40]),
        HOSTILE_FLOATS,
        garbage,
    )
  if isinstance(default_value, float):
    return st.one_of(st.floats(-10, 10), HOSTILE_FLOATS, garbage)
  return st.one_of(st.text(max_size=6), garbage)


@st.composite
def configs(draw):
  """The small test config with 1-4 fields set to random values; returns
  (config or None, the assignment ConfigDict refused with its error)."""
  config = small_config(draw(st.sampled_from(sorted(VARIANTS))))
  flat = flatten(config.to_dict())
  for field in draw(
      st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True)
  ):
    value = draw(_values(field, flat[field]))
    try:
      config.update_from_flattened_dict({field: value})
    except (TypeError, ValueError, KeyError) as error:
      # ConfigDict is type-safe: the runner reports this as one line.
      return None, (field, error)
  return config, None


# The default run tries the same 100 examples every time (derandomize), so
# that CI is reproducible; -m slow draws 1,000 new ones each run.
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(configs())
def test_validate_accepts_or_names_the_field(drawn):
  _check_config(drawn)


@pytest.mark.slow
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(configs())
def test_validate_accepts_or_names_the_field_many(drawn):
  _check_config(drawn)


def _check_config(drawn):
  config, refused = drawn
  if config is None:  # The runner prints one_line(str(error)).
    field, error = refused
    assert '\n' not in config_layers.one_line(str(error))
    assert field.split('.')[-1] in str(error), (field, error)
    return
  try:
    validation.validate(config, 1)
  except gan_config.ConfigError as error:
    message = str(error)
    assert '\n' not in message
    assert any(
        message.startswith(f'{field}=')
        or f' {field}=' in message
        or f'{field}:' in message
        for field in FIELDS
    ), message
    return
  if is_image_dataset(config.dataset):
    return  # Building would read the dataset (tests/test_images_data.py).
  # Accepted: it builds, initialises and traces a train step.
  spec, hparams, dataset = gan_config.build(config)
  state = jax.eval_shape(
      lambda: gan_state.init_state(spec, jax.random.PRNGKey(0), hparams)
  )
  steps = gan_steps.make_steps(spec)
  batch = jax.ShapeDtypeStruct(
      (config.objective.n_critic, config.train.batch_size, *dataset.shape),
      jax.numpy.float32,
  )
  jax.eval_shape(steps.train_step, state, batch, jax.random.PRNGKey(0))


# --- Through the command line -------------------------------------------------

FLAG_FIELDS = [
    'train.steps',
    'train.batch_size',
    'train.log_every',
    'optim.d.lr',
    'optim.g.b1',
    'objective.n_critic',
    'objective.real_target',
    'objective.penalty_weight',
    'model.width',
    'model.g_norm',
    'ema.decay',
    'eval.threshold',
    'eval.num_samples',
    'seed',
    'dataset',
    'train.parallel',
]
FLAG_VALUES = st.one_of(
    st.sampled_from(
        [
            '',
            '0',
            '-1',
            '1',
            '2',
            '3',
            'nan',
            'inf',
            '-inf',
            '1e999',
            '0.5',
            '1e-3',
            'abc',
            'None',
            '[1]',
            'True',
            'ring8',
            'layer',
            'shard_map',
            '9' * 30,
        ]
    ),
    st.text(alphabet='abc019.-e ', max_size=5),
)


def _run_cli(workdir, pairs):
  small = [
      '--config.model.width=8',
      '--config.model.depth=1',
      '--config.train.batch_size=8',
      '--config.train.steps=2',
      '--config.train.log_every=1',
      '--config.train.eval_every=2',
      '--config.train.checkpoint_every=2',
      '--config.eval.num_samples=20',
      '--config.train.num_devices=1',
  ]
  args = [*small, *(f'--config.{f}={v}' for f, v in pairs)]
  return subprocess.run(
      [
          sys.executable,
          '-m',
          'experiments.run',
          f'--workdir={workdir}',
          '--progress=false',
          *args,
      ],
      cwd=ROOT,
      capture_output=True,
      text=True,
      timeout=300,
  )


def _check_cli(tmp_path_factory, pairs):
  workdir = tmp_path_factory.mktemp('fuzz') / 'run'
  result = _run_cli(workdir, pairs)
  summary = workdir / 'summary.json'
  if result.returncode == 0:
    assert summary.exists()
    return
  if summary.exists():
    # A run that trained and diverged exits 1 with its summary, having said
    # so on stdout (e.g. optim.d.lr=1e30).
    assert json.loads(summary.read_text())['status'] == 'diverged', pairs
    assert 'diverged' in result.stdout, pairs
    return
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith('error: '), (
      pairs,
      result.stderr[-3000:],
  )
  assert not workdir.exists(), pairs  # Refused up front: nothing written.


CLI_PAIRS = st.lists(
    st.tuples(st.sampled_from(FLAG_FIELDS), FLAG_VALUES),
    min_size=1,
    max_size=3,
    unique_by=lambda pair: pair[0],
)


@pytest.mark.slow  # command-line processes (~9 s).
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(CLI_PAIRS)
def test_command_line_runs_or_fails_with_one_line(tmp_path_factory, pairs):
  _check_cli(tmp_path_factory, pairs)


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(CLI_PAIRS)
def test_command_line_runs_or_fails_with_one_line_many(tmp_path_factory, pairs):
  _check_cli(tmp_path_factory, pairs)
