"""The measured side of the theory lab: the library's own D step, losses and
metrics against the closed forms of
:mod:`experiments.theory_lab.closed_forms`.

Claims 1, 2 and 4 train discriminators against *fixed* generators whose
densities are known: the generator is a tiny flax module with the right
params, the discriminator the library's MLP, and training is the library's
``d_step`` (its loss, penalty and optimizer) in a ``lax.scan``, vmapped over
the family of generators. Claims 3 and 5 read real training runs (see
``experiments.theory``).

Each claim comes back as a :class:`Claim` (what was expected, what was
measured, the tolerance, pass or fail) and the arrays its figure draws.
"""

import dataclasses
import functools
from typing import Any, Dict, List, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments.theory_lab import closed_forms
from gan_jax import losses, optim
from gan_jax.context import Context
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.state import GANSpec, GANState, init_state
from gan_jax.step_helpers import apply_model
from gan_jax.steps import make_steps


@dataclasses.dataclass
class Claim:
  """One row of the theory table."""

  number: int
  name: str
  expected: str
  measured: str
  tolerance: str
  passed: bool
  numbers: Dict[str, Any]  # Everything measured, for theory.json.

  def __post_init__(self):
    self.passed = bool(self.passed)  # Not numpy's bool: JSON takes it.


@dataclasses.dataclass(frozen=True)
class Budget:
  """How hard the discriminators are trained (the tests use a small one)."""

  steps: int = 3000
  batch_size: int = 512
  eval_samples: int = 200_000
  d_width: int = 64
  d_lr: float = 2e-3
  shifts: Tuple[float, ...] = tuple(np.round(np.linspace(-3, 3, 13), 3))
  thetas: Tuple[float, ...] = (
      -1.0,
      -0.75,
      -0.5,
      -0.25,
      0.0,
      0.25,
      0.5,
      0.75,
      1.0,
  )


# --- Fixed generators with known densities ---------------------------------


class AffineGenerator(nn.Module):
  """G(z) = scale z + shift with z ~ N(0, 1), so p_g = N(shift, scale^2)."""

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train
    scale = self.param('scale', nn.initializers.ones, ())
    shift = self.param('shift', nn.initializers.zeros, ())
    return scale * z + shift


class LineGenerator(nn.Module):
  """G(z) = (theta, Phi(z)) with z ~ N(0, 1) and Phi the normal CDF: the
  uniform distribution on the segment {theta} x [0, 1]."""

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = True) -> jax.Array:
    del train
    theta = self.param('theta', nn.initializers.zeros, ())
    return jnp.stack(
        [jnp.full(z.shape[:1], theta), jax.scipy.special.ndtr(z[:, 0])], axis=-1
    )


def _sample_line_at_zero(rng: jax.Array, count: int) -> jax.Array:
  """The real data of claim 4: uniform on {0} x [0, 1]."""
  return jnp.stack(
      [jnp.zeros(count), jax.random.uniform(rng, (count,))], axis=-1
  )


def fixed_generator_spec(
    generator: nn.Module,
    data_dim: int,
    objective: str,
    penalty: str,
    budget: Budget,
) -> GANSpec:
  """The library's GANSpec around a fixed generator and an MLP D (two
  hidden layers), trained with Adam (betas 0.5, 0.9) decaying linearly."""
  adam = optim.make_optimizer(
      {
          'name': 'adam',
          'lr': budget.d_lr,
          'b1': 0.5,
          'b2': 0.9,
          'schedule': 'linear',
      },
      budget.steps,
  )
  return GANSpec(
      generator=generator,
      discriminator=MLPDiscriminator(width=budget.d_width, depth=2),
      g_optimizer=adam,
      d_optimizer=adam,
      objective=objective,
      penalty=penalty,
      latent_dim=1,
      data_shape=(data_dim,),
  )


def train_discriminators(
    spec: GANSpec,
    generator_params: Any,
    sample_real,
    budget: Budget,
    rng: jax.Array,
    hparams: Optional[Dict[str, float]] = None,
) -> GANState:
  """One D per fixed generator (``generator_params`` stacked on a leading
  axis), each trained for ``budget.steps`` of the library's ``d_step``."""
  d_step = make_steps(spec).d_step
  if d_step is None:
    raise ValueError(
        f'algorithm {spec.algorithm!r} has no d_step to train '
        'discriminators with'
    )

  def train_one(g_params, key):
    init_key, loop_key = jax.random.split(key)
    state = init_state(spec, init_key, hparams)
    state = state.replace(g=state.g.replace(params=g_params))

    def body(state, i):
      data_key, step_key = jax.random.split(jax.random.fold_in(loop_key, i))
      real = sample_real(data_key, budget.batch_size)
      return d_step(state, real, step_key)[0], None

    return jax.lax.scan(body, state, jnp.arange(budget.steps))[0]

  count = jax.tree.leaves(generator_params)[0].shape[0]
  keys = jax.random.split(rng, count)
  return jax.jit(jax.vmap(train_one))(generator_params, keys)


def _outputs(spec: GANSpec, states: GANState, x: jax.Array) -> jax.Array:
  """D's raw outputs (logits or critic values) on ``x``, per member."""
  return jax.vmap(
      lambda state: apply_model(
          spec.discriminator, state.d, state.d.params, x, train=False
      )[0]
  )(states)


def _fakes(
    spec: GANSpec, states: GANState, rng: jax.Array, count: int
) -> jax.Array:
  z = jax.random.normal(rng, (count, 1))
  return jax.vmap(
      lambda state: apply_model(
          spec.generator, state.g, state.g.params, z, train=False
      )[0]
  )(states)


def _d_loss_per_member(
    spec: GANSpec, states: GANState, real: jax.Array, rng: jax.Array, hparams
) -> np.ndarray:
  """The library's D loss of each trained member on fresh samples."""
  fakes = _fakes(spec, states, rng, real.shape[0])
  real_out = _outputs(spec, states, real)
  fake_out = jax.vmap(
      lambda state, fake: apply_model(
          spec.discriminator, state.d, state.d.params, fake, train=False
      )[0]
  )(states, fakes)
  d_loss = losses.get_objective(spec.objective).d_loss
  return np.asarray(
      jax.vmap(lambda r, f: d_loss(r, f, Context(hparams=hparams)))(
          real_out, fake_out
      )
  )


# --- Claims 1 and 2: the optimal discriminator and the JSD ------------------

CROSS_ENTROPY = {'real_target': 1.0, 'fake_target': 0.0}


def optimal_discriminator_claims(
    budget: Budget, rng: jax.Array, figure_shift: float = 1.0
) -> Tuple[List[Claim], Dict[str, Any]]:
  """Claims 1 and 2 from one family of trained discriminators.

  Data: :class:`closed_forms.Mixture1D`; generators N(b, 1) for the shifts b
  of the budget. Claim 1 compares the trained D(x) = sigmoid(logit) with D*
  where the densities matter (p_data + p_g at least 5% of its maximum);
  claim 2 compares the game's value, minus the library's cross-entropy D
  loss on fresh samples, with -log 4 + 2 JSD.
  """
  data = closed_forms.Mixture1D()
  shifts = np.asarray(budget.shifts, np.float32)
  if figure_shift not in budget.shifts:
    raise ValueError(f'figure_shift {figure_shift} not among the shifts')
  spec = fixed_generator_spec(
      AffineGenerator(), 1, 'non_saturating', 'none', budget
  )
  generators = {'scale': jnp.ones_like(shifts), 'shift': jnp.asarray(shifts)}
  train_rng, real_rng, fake_rng = jax.random.split(rng, 3)
  states = train_discriminators(
      spec, generators, data.sample, budget, train_rng, CROSS_ENTROPY
  )

  # Claim 1 on a grid, for the member with the figure's shift.
  x = np.linspace(-6.0, 6.0, 1201)
  member = list(budget.shifts).index(figure_shift)
  p_data = data.pdf(x)
  p_g = closed_forms.gaussian_pdf(x, figure_shift, 1.0)
  d_star = closed_forms.optimal_discriminator(p_data, p_g)
  logits = _outputs(spec, states, jnp.asarray(x, jnp.float32)[:, None])
  d_trained = np.asarray(jax.nn.sigmoid(logits[member]))
  support = (p_data + p_g) >= 0.05 * np.max(p_data + p_g)
  error = np.abs(d_trained - d_star)[support]
  max_error, mean_error = float(error.max()), float(error.mean())
  claim1 = Claim(
      1,
      'optimal discriminator',
      'D(x) -> p_data / (p_data + p_g)',
      f'max |D - D*| {max_error:.3f}, mean {mean_error:.4f}',
      'max <= 0.05, mean <= 0.01',
      max_error <= 0.05 and mean_error <= 0.01,
      {
          'shift': figure_shift,
          'max_abs_error': max_error,
          'mean_abs_error': mean_error,
          'support': 'p_data + p_g >= 5% of its maximum',
      },
  )

  # Claim 2 over the whole family.
  real = data.sample(real_rng, budget.eval_samples)
  values = -_d_loss_per_member(spec, states, real, fake_rng, CROSS_ENTROPY)
  fine = np.linspace(-12.0, 12.0, 24001)
  jsd = np.array(
      [
          closed_forms.jensen_shannon(
              data.pdf(fine), closed_forms.gaussian_pdf(fine, b, 1.0), fine
          )
          for b in shifts
      ]
  )
  expected = np.array([closed_forms.value_at_optimum(j) for j in jsd])
  gap = float(np.max(np.abs(values - expected)))
  claim2 = Claim(
      2,
      'value = -log 4 + 2 JSD',
      'V(D, G_b) = -log 4 + 2 JSD(p_data || p_b) for every shift b',
      f'max |V - (-log 4 + 2 JSD)| {gap:.4f} over {len(shifts)} shifts',
      '<= 0.01',
      gap <= 0.01,
      {
          'shifts': shifts.tolist(),
          'value': values.tolist(),
          'expected': expected.tolist(),
          'jsd': jsd.tolist(),
          'max_abs_error': gap,
      },
  )
  figure = {
      'x': x,
      'p_data': p_data,
      'p_g': p_g,
      'd_star': d_star,
      'd_trained': d_trained,
      'support': support,
      'shift': figure_shift,
      'shifts': shifts,
      'values': values,
      'expected_values': expected,
  }
  return [claim1, claim2], figure


# --- Claim 3 (first half): the gradients of the two generator losses --------


def generator_loss_gradients(logits: np.ndarray) -> Dict[str, np.ndarray]:
  """d loss / d logit per example for the library's saturating and
  non-saturating G losses (the mean's gradient times the batch size)."""
  as_float32 = jnp.asarray(logits, jnp.float32)
  count = as_float32.shape[0]
  out = {}
  for name, loss in (
      ('saturating', losses.saturating_g_loss),
      ('non_saturating', losses.non_saturating_g_loss),
  ):
    out[name] = np.asarray(
        jax.grad(
            functools.partial(lambda fn, x: fn(None, x, Context({})), loss)
        )(as_float32)
        * count
    )
  return out


def saturation_gradient_claim() -> Tuple[Claim, Dict[str, Any]]:
  """The G losses' logit gradients are -D(G(z)) (saturating) and
  -(1 - D(G(z))) (non-saturating), D = sigmoid(logit)."""
  logits = np.linspace(-10.0, 10.0, 401)
  grads = generator_loss_gradients(logits)
  d = 1.0 / (1.0 + np.exp(-logits))
  error = max(
      float(np.max(np.abs(grads['saturating'] + d))),
      float(np.max(np.abs(grads['non_saturating'] + (1.0 - d)))),
  )
  claim = Claim(
      3,
      'saturation (gradients)',
      'dL/dl = -D (saturating), -(1 - D) (non-saturating)',
      f'max error {error:.1e} over logits in [-10, 10]',
      '<= 1e-6',
      error <= 1e-6,
      {'max_abs_error': error},
  )
  return claim, {'d': d, **grads}


# --- Claim 4: disjoint supports ----------------------------------------------

WGAN_GP = {'penalty_weight': 10.0, 'gp_target': 1.0}


def disjoint_supports_claim(
    budget: Budget, rng: jax.Array
) -> Tuple[Claim, Dict[str, Any]]:
  """Parallel lines {0} x [0, 1] (real) and {theta} x [0, 1] (fake).

  A cross-entropy D per theta estimates JSD = (V + log 4) / 2, which should
  be log 2 for every theta != 0 (and 0 at theta = 0); a WGAN-GP critic
  (the library's penalty, weight 10) per theta estimates W1 = |theta| as
  E f(real) - E f(fake).
  """
  thetas = np.asarray(budget.thetas, np.float32)
  generators = {'theta': jnp.asarray(thetas)}
  ce_rng, critic_rng, real_rng, fake_rng = jax.random.split(rng, 4)
  real = _sample_line_at_zero(real_rng, budget.eval_samples)

  ce_spec = fixed_generator_spec(
      LineGenerator(), 2, 'non_saturating', 'none', budget
  )
  ce_states = train_discriminators(
      ce_spec, generators, _sample_line_at_zero, budget, ce_rng, CROSS_ENTROPY
  )
  values = -_d_loss_per_member(
      ce_spec, ce_states, real, fake_rng, CROSS_ENTROPY
  )
  jsd_estimate = (values + closed_forms.LOG_4) / 2

  critic_spec = fixed_generator_spec(
      LineGenerator(), 2, 'wasserstein', 'gradient_penalty', budget
  )
  critic_states = train_discriminators(
      critic_spec, generators, _sample_line_at_zero, budget, critic_rng, WGAN_GP
  )
  w1_estimate = -_d_loss_per_member(
      critic_spec, critic_states, real, fake_rng, WGAN_GP
  )

  jsd = np.array([closed_forms.parallel_lines_jsd(t) for t in thetas])
  w1 = np.array([closed_forms.parallel_lines_w1(t) for t in thetas])
  gp_optimum = np.array(
      [
          closed_forms.gradient_penalty_estimate(t, WGAN_GP['penalty_weight'])
          for t in thetas
      ]
  )
  jsd_gap = float(np.max(np.abs(jsd_estimate - jsd)))
  w1_gap = float(np.max(np.abs(w1_estimate - w1) / np.maximum(w1, 0.1)))
  optimum_gap = float(np.max(np.abs(w1_estimate - gp_optimum)))
  claim = Claim(
      4,
      'disjoint supports',
      'JSD = log 2 for all theta != 0 (flat: no gradient); W1 = |theta|, '
      'which a WGAN-GP critic reports as |theta| (1 + |theta| / 2 lambda)',
      f'max |JSD est - JSD| {jsd_gap:.4f}; max |W1 est - W1| / '
      f'max(W1, 0.1) {w1_gap:.3f}; max |W1 est - penalised optimum| '
      f'{optimum_gap:.4f}',
      'JSD <= 0.01; W1 <= 0.1 relative; optimum <= 0.02',
      jsd_gap <= 0.01 and w1_gap <= 0.1 and optimum_gap <= 0.02,
      {
          'thetas': thetas.tolist(),
          'jsd_estimate': jsd_estimate.tolist(),
          'w1_estimate': w1_estimate.tolist(),
          'jsd_max_abs_error': jsd_gap,
          'w1_max_relative_error': w1_gap,
          'penalised_optimum_max_abs_error': optimum_gap,
      },
  )
  figure = {
      'thetas': thetas,
      'jsd': jsd,
      'w1': w1,
      'jsd_estimate': jsd_estimate,
      'w1_estimate': w1_estimate,
      'gp_optimum': gp_optimum,
  }
  return claim, figure


def summarize(claims: Sequence[Claim]) -> str:
  """The table printed at the end, as Markdown."""
  lines = [
      '| # | claim | expected | measured | tolerance | result |',
      '|---|---|---|---|---|---|',
  ]
  for c in claims:
    cells = (
        str(c.number),
        c.name,
        c.expected,
        c.measured,
        c.tolerance,
        'pass' if c.passed else 'FAIL',
    )
    lines.append(
        '| ' + ' | '.join(cell.replace('|', r'\|') for cell in cells) + ' |'
    )
  return '\n'.join(lines)
