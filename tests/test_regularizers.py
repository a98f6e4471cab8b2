"""The relativistic losses, R2, DRAGAN, CR, bCR, zCR, LeCam and top-k
against their papers' definitions: closed forms on linear and quadratic
critics and generators, written out in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import losses, penalties, regularizers
from gan_jax.context import Context
from gan_jax.regularizers import consistency, topk


def softplus(x):
  return np.logaddexp(0.0, x)


def sigmoid(x):
  return 1 / (1 + np.exp(-x))


# --- The relativistic family (Jolicoeur-Martineau 2019) ---------------------


def _outputs(seed=0, n=32):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(2, n)).astype(np.float32) * 2


def test_relativistic_losses_are_the_papers_equations():
  real, fake = _outputs()
  rm, fm = real.mean(), fake.mean()
  log_sigmoid = lambda x: np.log(sigmoid(x))
  log1m_sigmoid = lambda x: np.log(1 - sigmoid(x))
  expected = {
      # Eq. 8-9: pairs of a real and a fake.
      'rsgan': (
          -np.mean(log_sigmoid(real - fake)),
          -np.mean(log_sigmoid(fake - real)),
      ),
      # Eq. 11-12.
      'ragan': (
          -np.mean(log_sigmoid(real - fm)) - np.mean(log1m_sigmoid(fake - rm)),
          -np.mean(log_sigmoid(fake - rm)) - np.mean(log1m_sigmoid(real - fm)),
      ),
      # Eq. 15-16 (targets 1 and -1).
      'ralsgan': (
          np.mean((real - fm - 1) ** 2) + np.mean((fake - rm + 1) ** 2),
          np.mean((fake - rm - 1) ** 2) + np.mean((real - fm + 1) ** 2),
      ),
      # Eq. 17-18.
      'rahinge': (
          np.mean(np.maximum(0, 1 - (real - fm)))
          + np.mean(np.maximum(0, 1 + (fake - rm))),
          np.mean(np.maximum(0, 1 - (fake - rm)))
          + np.mean(np.maximum(0, 1 + (real - fm))),
      ),
  }
  ctx = Context(hparams={})
  for name, (d, g) in expected.items():
    objective = losses.get_objective(name)
    assert objective.g_uses_real and not objective.outputs_are_logits
    np.testing.assert_allclose(
        objective.d_loss(jnp.array(real), jnp.array(fake), ctx), d, rtol=1e-5
    )
    np.testing.assert_allclose(
        objective.g_loss(jnp.array(real), jnp.array(fake), ctx), g, rtol=1e-5
    )


def test_relativistic_losses_are_finite_where_log_sigmoid_is_not():
  real = jnp.array([200.0, -200.0])
  fake = jnp.array([-200.0, 200.0])
  for name in ('rsgan', 'ragan'):
    objective = losses.get_objective(name)
    value, grad = jax.value_and_grad(objective.d_loss, argnums=(0, 1))(
        real, fake, Context(hparams={})
    )
    assert np.isfinite(value) and all(np.isfinite(g).all() for g in grad)


# --- R2 and DRAGAN (penalties) ----------------------------------------------


def test_r2_of_a_quadratic_critic_is_half_the_mean_squared_gradient():
  """f(x) = x.A x / 2 has gradient A x: R2 = mean ||A x_fake||^2 / 2."""
  rng = np.random.default_rng(1)
  a = rng.normal(size=(6, 6))
  a = a + a.T
  fake = rng.normal(size=(5, 6))
  critic = lambda x: 0.5 * jnp.einsum('bi,ij,bj->b', x, jnp.array(a), x)
  expected = 0.5 * np.mean(np.sum((fake @ a) ** 2, axis=1))
  np.testing.assert_allclose(
      penalties.r2_penalty(critic, jnp.array(fake)), expected, rtol=1e-5
  )


def test_dragan_of_a_quadratic_critic_is_its_closed_form():
  """f(x) = ||x||^2 / 2 has gradient x: at x_hat = x + a c std u the
  penalty is mean (||x_hat|| - k)^2."""
  rng = np.random.default_rng(2)
  real = rng.normal(size=(6, 3, 2)).astype(np.float32)
  u = rng.uniform(size=real.shape).astype(np.float32)
  alpha = rng.uniform(size=6).astype(np.float32)
  std, c, k = real.std(), 0.5, 1.5
  x_hat = real + alpha[:, None, None] * c * std * u
  expected = np.mean((np.linalg.norm(x_hat.reshape(6, -1), axis=1) - k) ** 2)
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x), axis=(1, 2))
  np.testing.assert_allclose(
      penalties.dragan_penalty(
          critic, jnp.array(real), jnp.array(u), jnp.array(alpha), std, c, k
      ),
      expected,
      rtol=1e-5,
  )
  # The registered penalty: the batch's std over all elements.
  ctx = Context(
      hparams={'dragan_c': c, 'dragan_k': k},
      rng=jax.random.PRNGKey(0),
      real=jnp.array(real),
      critic=critic,
  )
  u_key, alpha_key = jax.random.split(ctx.rng)
  u = np.asarray(jax.random.uniform(u_key, real.shape))
  alpha = np.asarray(jax.random.uniform(alpha_key, (6,)))
  x_hat = real + alpha[:, None, None] * c * std * u
  expected = np.mean((np.linalg.norm(x_hat.reshape(6, -1), axis=1) - k) ** 2)
  value = penalties.lookup(penalties.D_PENALTIES, 'dragan').value(ctx)
  np.testing.assert_allclose(value, expected, rtol=1e-5)


# --- Consistency: CR, bCR, zCR ----------------------------------------------


def test_flip_and_translate_is_a_reflection_padded_shift():
  rng = np.random.default_rng(3)
  images = rng.normal(size=(4, 8, 8, 2)).astype(np.float32)
  flip = np.array([False, True, False, True])
  shift = np.array([[0, 0], [1, 1], [2, 0], [0, 2]])
  pad = 1
  out = consistency.flip_and_translate(
      jnp.array(images), jnp.array(flip), jnp.array(shift), pad
  )
  for i in range(4):
    image = images[i, :, ::-1] if flip[i] else images[i]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode='reflect')
    expected = padded[
        shift[i, 0] : shift[i, 0] + 8, shift[i, 1] : shift[i, 1] + 8
    ]
    np.testing.assert_array_equal(out[i], expected)


def _ctx(**fields):
  defaults = {
      'cr_weight': 10.0,
      'bcr_real': 10.0,
      'bcr_fake': 10.0,
      'cr_jitter': 0.05,
      'cr_flip': True,
      'zcr_dis': 5.0,
      'zcr_gen': 0.5,
      'zcr_sigma': 0.03,
  }
  hparams = {**defaults, **fields.pop('hparams', {})}
  return Context(hparams=hparams, rng=jax.random.PRNGKey(4), **fields)


def _d_term(name, ctx):
  return regularizers.REGULARIZERS.lookup(name).d(ctx)


def test_cr_and_bcr_on_points_with_a_linear_critic():
  """On points T(x) = x + s n, so D(x) - D(T(x)) = -s w.n for f = w.x."""
  rng = np.random.default_rng(5)
  w = rng.normal(size=2).astype(np.float32)
  real, fake = rng.normal(size=(2, 16, 2)).astype(np.float32)
  critic = lambda x: x @ jnp.array(w)
  ctx = _ctx(
      real=jnp.array(real),
      fake=jnp.array(fake),
      real_out=critic(real),
      fake_out=critic(fake),
      critic=critic,
  )
  noise = lambda key: np.asarray(jax.random.normal(key, (16, 2)))
  cr = 10 * np.mean((0.05 * noise(ctx.rng) @ w) ** 2)
  np.testing.assert_allclose(_d_term('cr', ctx), cr, rtol=1e-5)
  real_key, fake_key = jax.random.split(ctx.rng)
  bcr = 10 * np.mean((0.05 * noise(real_key) @ w) ** 2) + 10 * np.mean(
      (0.05 * noise(fake_key) @ w) ** 2
  )
  np.testing.assert_allclose(_d_term('bcr', ctx), bcr, rtol=1e-5)


@pytest.mark.parametrize('flips', [True, False])
def test_cr_compares_d_with_d_of_the_transformed_images(flips):
  """A critic that counts the ink in the left half changes by exactly
  what the flip and the shift move across the middle."""
  rng = np.random.default_rng(6)
  images = rng.uniform(size=(8, 8, 8, 1)).astype(np.float32)
  critic = lambda x: jnp.sum(x[:, :, :4], axis=(1, 2, 3))
  ctx = _ctx(
      real=jnp.array(images),
      real_out=critic(images),
      critic=critic,
      hparams={'cr_flip': flips},
  )
  flip_key, shift_key = jax.random.split(ctx.rng)
  flip = np.asarray(jax.random.bernoulli(flip_key, 0.5, (8,))) & flips
  shift = np.asarray(jax.random.randint(shift_key, (8, 2), 0, 3))
  moved = []
  for i in range(8):
    image = images[i, :, ::-1] if flip[i] else images[i]
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode='reflect')
    moved.append(
        padded[shift[i, 0] : shift[i, 0] + 8, shift[i, 1] : shift[i, 1] + 8]
    )
  left = lambda x: np.sum(np.asarray(x)[:, :, :4], axis=(1, 2, 3))
  expected = 10 * np.mean((left(images) - left(np.stack(moved))) ** 2)
  np.testing.assert_allclose(_d_term('cr', ctx), expected, rtol=1e-5)


def test_zcr_with_a_linear_generator_and_critic():
  """G(z) = M z and D(x) = w.x: D's term 5 mean((w.M s n)^2), G's
  -0.5 mean((M s n)^2) over every element."""
  rng = np.random.default_rng(7)
  m = rng.normal(size=(3, 2)).astype(np.float32)
  w = rng.normal(size=2).astype(np.float32)
  z = rng.normal(size=(16, 3)).astype(np.float32)
  generator = lambda z, labels=None, rng=None, **_: z @ jnp.array(m)
  critic = lambda x: x @ jnp.array(w)
  spec = type('Spec', (), {'pack': 1})()
  ctx = _ctx(
      spec=spec,
      latents=jnp.array(z),
      critic=critic,
      generator=generator,
      view=lambda x: x,
  )
  dz = 0.03 * np.asarray(jax.random.normal(ctx.rng, z.shape))
  np.testing.assert_allclose(
      _d_term('zcr', ctx), 5 * np.mean((dz @ m @ w) ** 2), rtol=1e-4
  )
  g = regularizers.REGULARIZERS.lookup('zcr').g(ctx)
  np.testing.assert_allclose(g, -0.5 * np.mean((dz @ m) ** 2), rtol=1e-4)


# --- LeCam ------------------------------------------------------------------


@pytest.mark.parametrize('hinge', [True, False])
def test_lecam_is_eq_3_with_its_moving_averages(hinge):
  real, fake = _outputs(8, 16)
  extra = {'real_ema': jnp.float32(0.4), 'fake_ema': jnp.float32(-0.3)}
  ctx = Context(
      hparams={'lecam_weight': 0.3, 'lecam_decay': 0.9, 'lecam_hinge': hinge},
      real_out=jnp.array(real),
      fake_out=jnp.array(fake),
      extra=extra,
  )
  value, new = _d_term('lecam', ctx)
  # The anchors move first, with this step's means.
  a_r = 0.9 * 0.4 + 0.1 * real.mean()
  a_f = 0.9 * -0.3 + 0.1 * fake.mean()
  np.testing.assert_allclose(new['real_ema'], a_r, rtol=1e-5)
  np.testing.assert_allclose(new['fake_ema'], a_f, rtol=1e-5)
  clip = (lambda x: np.maximum(x, 0)) if hinge else (lambda x: x)
  expected = 0.3 * (
      np.mean(clip(real - a_f) ** 2) + np.mean(clip(a_r - fake) ** 2)
  )
  np.testing.assert_allclose(value, expected, rtol=1e-5)
  # Its gradient pulls D's outputs toward the other side's anchor only.
  grad_real = jax.grad(lambda r: _d_term('lecam', ctx.replace(real_out=r))[0])(
      jnp.array(real)
  )
  np.testing.assert_allclose(
      grad_real, 0.3 * 2 * clip(real - a_f) / real.size, rtol=1e-4, atol=1e-7
  )


# --- Top-k ------------------------------------------------------------------


def test_k_follows_the_papers_schedule():
  gamma, nu = jnp.float32(0.99), jnp.float32(0.5)
  for epoch in (0, 1, 10, 50, 68, 69, 70, 500):
    expected = int(np.floor(64 * max(0.99**epoch, 0.5) + 1e-4))
    assert int(topk.k_at(jnp.int32(epoch), 64, gamma, nu)) == expected, epoch
  assert int(topk.k_at(jnp.int32(0), 64, gamma, nu)) == 64
  assert int(topk.k_at(jnp.int32(10_000), 64, gamma, nu)) == 32
  assert int(topk.k_at(jnp.int32(10_000), 64, gamma, jnp.float32(0.001))) == 1


@pytest.mark.parametrize(
    'objective',
    [
        'non_saturating',
        *(
            pytest.param(name, marks=pytest.mark.slow)
            for name in ('minimax', 'wasserstein', 'least_squares')
        ),
    ],
)
def test_top_k_loss_takes_the_objective_on_the_best_rated_fakes(objective):
  rng = np.random.default_rng(9)
  fake = rng.normal(size=16).astype(np.float32)
  loss = losses.get_objective(objective).g_loss
  ctx = Context(hparams={'real_target': 1.0, 'fake_target': 0.0})
  for k in (1, 8, 11, 16):
    best = np.sort(fake)[::-1][:k]
    value, grad = jax.value_and_grad(
        lambda f, k=k: topk.top_k_loss(loss, None, f, ctx, jnp.int32(k))
    )(jnp.array(fake))
    expected, expected_grad = jax.value_and_grad(lambda b: loss(None, b, ctx))(
        jnp.array(best)
    )
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # Only the k best-rated fakes get a gradient: the loss's own on them.
    order = np.argsort(-fake, kind='stable')
    grad = np.asarray(grad)
    np.testing.assert_allclose(grad[order[:k]], expected_grad, rtol=1e-5)
    assert (grad[order[k:]] == 0).all()
  if objective == 'non_saturating':  # The closed form, once.
    best = np.sort(fake)[::-1][:8]
    np.testing.assert_allclose(
        topk.top_k_loss(loss, None, jnp.array(fake), ctx, jnp.int32(8)),
        np.mean(softplus(-best)),
        rtol=1e-5,
    )


def test_regularizer_names_parse_in_one_line():
  assert regularizers.parse('none') == ()
  assert regularizers.parse('zcr+lecam') == ('zcr', 'lecam')
  for bad, says in (
      ('lecam+lecan', "did you mean 'lecam'?"),
      ('bcr+bcr', 'a name twice'),
      ('', 'none or names joined by'),
  ):
    with pytest.raises(ValueError, match=says) as error:
      regularizers.parse(bad)
    assert '\n' not in str(error.value)


@pytest.mark.parametrize(
    'overrides, says',
    [
        (
            {'objective': {'name': 'ragan', 'regularizers': 'topk'}},
            "objective.name='ragan': a relativistic G loss",
        ),
        (
            {
                'objective': {
                    'name': 'minimax',
                    'regularizers': 'topk',
                    'unroll_steps': 2,
                }
            },
            'the unrolled G minimises the game',
        ),
        (
            {'objective': {'regularizers': 'topk'}},
            'objective.topk_epoch_steps=0 is not allowed',
        ),
        (
            {
                'dataset': 'digits',
                'model': {'name': 'dcgan'},
                'data': {'subset': 1438},
            },
            'its train split has 1437 images',
        ),
        ({'objective': {'regularizers': 'none+lecam'}}, 'none stands alone'),
    ],
)
def test_combinations_that_cannot_train_are_one_line(overrides, says):
  from gan_jax import config as gan_config

  with pytest.raises(gan_config.ConfigError, match=says) as error:
    gan_config.validate(overrides)
  assert '\n' not in str(error.value)
