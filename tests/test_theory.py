"""The theory lab's claims 1, 2 and 4 at a small budget, and proof that
they can fail: the same checks with a deliberately broken loss or penalty.
(Claims 3 and 5 train real runs: `python -m experiments.theory`.)"""

import math
import os

import numpy as np
import pytest

import jax

from experiments.theory_lab import claims as theory_claims, closed_forms
from gan_jax import losses, penalties

# A higher learning rate than the full budget's converges in fewer steps.
SMALL = theory_claims.Budget(
    steps=1000,
    batch_size=512,
    d_lr=5e-3,
    eval_samples=50_000,
    shifts=(-2.0, 1.0, 3.0),
    thetas=(-0.5, 0.0, 1.0),
)


def test_closed_forms():
  x = np.linspace(-12, 12, 24001)
  p = closed_forms.gaussian_pdf(x, 0.0, 1.0)
  assert closed_forms.jensen_shannon(p, p, x) == pytest.approx(0.0, abs=1e-9)
  left = closed_forms.gaussian_pdf(x, -6.0, 0.5)  # 24 std apart: disjoint.
  right = closed_forms.gaussian_pdf(x, 6.0, 0.5)
  assert closed_forms.jensen_shannon(left, right, x) == pytest.approx(
      math.log(2), abs=1e-6
  )
  assert closed_forms.value_at_optimum(0.0) == pytest.approx(-math.log(4))
  d_star = closed_forms.optimal_discriminator(
      np.array([1.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0])
  )
  np.testing.assert_allclose(d_star, [0.5, 0.0, 0.5])
  assert closed_forms.Mixture1D().pdf(x).sum() * (x[1] - x[0]) == (
      pytest.approx(1.0, abs=1e-6)
  )


@pytest.fixture(scope='module')
def optimal():
  return theory_claims.optimal_discriminator_claims(
      SMALL, jax.random.PRNGKey(0)
  )


def test_claim1_trained_d_approaches_the_optimal_d(optimal):
  (claim1, _), _ = optimal
  assert claim1.passed, claim1.measured


def test_claim2_value_is_minus_log4_plus_twice_the_jsd(optimal):
  (_, claim2), figure = optimal
  assert claim2.passed, claim2.measured
  # The family spans the range: from near -log 4 (overlap) upwards.
  assert min(figure['expected_values']) < -0.9
  assert max(figure['expected_values']) > -0.6


def test_claim3_gradients_of_the_generator_losses():
  claim, _ = theory_claims.saturation_gradient_claim()
  assert claim.passed, claim.measured


@pytest.mark.slow
def test_claim4_jsd_is_flat_and_the_critic_measures_w1():
  claim, figure = theory_claims.disjoint_supports_claim(
      SMALL, jax.random.PRNGKey(0)
  )
  assert claim.passed, claim.measured
  np.testing.assert_allclose(
      figure['w1_estimate'], figure['gp_optimum'], atol=0.02
  )
  np.testing.assert_allclose(
      figure['jsd_estimate'], [math.log(2), 0, math.log(2)], atol=0.01
  )


def _halved_d_loss(real_logits, fake_logits, ctx):
  # A plausible bug: the fake term dropped to half weight.
  return losses.binary_cross_entropy(
      real_logits, 1.0
  ) + 0.5 * losses.binary_cross_entropy(fake_logits, 0.0)


def test_a_broken_d_loss_fails_claims_1_and_2(monkeypatch):
  broken = losses.OBJECTIVES['non_saturating']._replace(d_loss=_halved_d_loss)
  monkeypatch.setitem(losses.OBJECTIVES, 'non_saturating', broken)
  (claim1, claim2), _ = theory_claims.optimal_discriminator_claims(
      SMALL, jax.random.PRNGKey(0)
  )
  assert not claim1.passed and not claim2.passed


@pytest.mark.slow
def test_a_broken_penalty_fails_claim4(monkeypatch):
  # A plausible bug: the squared gradient norm where the norm belongs,
  # (|grad f|^2 - 1)^2. The critic still looks Lipschitz, but its estimate
  # moves off the penalised optimum by ~0.04 at theta = 1.
  monkeypatch.setattr(
      penalties, 'per_example_grad_norm', penalties.per_example_grad_sq_norm
  )
  claim, _ = theory_claims.disjoint_supports_claim(SMALL, jax.random.PRNGKey(0))
  assert not claim.passed, claim.measured


def test_runs_of_other_seeds_are_refused_before_any_work(tmp_path):
  from experiments.sweeps import driver as sweep_driver
  from experiments.theory_lab import driver as theory
  from experiments.sweeps.spec import SweepError

  subdirectory = os.path.join(tmp_path, theory.SWEEPS['modes'][0])
  sweep_driver.claim_directory(subdirectory, theory._sweep_spec('modes', 1))
  with pytest.raises(SweepError, match='other seeds'):
    theory.run_theory(str(tmp_path), seeds=2)
  assert os.listdir(tmp_path) == ['runs_modes']  # Nothing else written.
