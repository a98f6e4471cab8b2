"""Gradient penalties on the discriminator, and StyleGAN2's path-length
regulariser on the generator; the registries of D's and G's penalties.

The math is in plain functions (:func:`gradient_penalty`, :func:`r1_penalty`,
:func:`path_length_penalty`). A :class:`Penalty` wraps one for the steps:
``value(ctx)`` reads what it needs from the loss's context
(gan_jax.context: the batches, the critic, a key, the scalars, its own
state) and returns the unweighted penalty. The steps add ``weight x value``
to the loss, computed every ``every``-th step only (lazy regularisation),
with the slot's weight: ``objective.penalty_weight`` for D's penalty,
``objective.g_penalty_weight`` for G's. :data:`D_PENALTIES` and
:data:`G_PENALTIES` look them up by the names ``objective.penalty`` and
``objective.g_penalty`` give ('none' for no penalty).

Each function of the math takes ``critic``, a callable mapping a batch of inputs
to one output per example (usually ``lambda x: d_apply(params, x)``). Taking a
closure rather than ``(apply_fn, params)`` lets conditional models or models
with extra state close over what they need; gradients still flow to the
params captured in it.

Gradients are taken per example: since the critic treats examples
independently (no batch normalisation: config validation refuses it with a
penalty), the gradient of ``sum(critic(x))`` with respect to ``x`` holds each
example's own input gradient, and its norm is taken over all non-batch axes.
"""

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.registry import Registry
from gan_jax.shapes import Outputs, PerExample, Samples, Scalar

Array = jax.Array
ArrayLike = jax.typing.ArrayLike  # A float or a traced hyperparameter.
Critic = Callable[[Samples], Outputs]


def per_example_grad_sq_norm(critic: Critic, x: Samples) -> PerExample:
  """||d critic(x_i) / d x_i||_2^2 for every example i; shape [batch]."""
  grads = jax.grad(lambda inputs: jnp.sum(critic(inputs)))(x)
  return jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)


def per_example_grad_norm(critic: Critic, x: Samples) -> PerExample:
  """||d critic(x_i) / d x_i||_2 for every example i; shape [batch]."""
  # The epsilon keeps the norm's own gradient finite where the input gradient
  # is exactly zero (sqrt has an infinite slope at 0).
  return jnp.sqrt(per_example_grad_sq_norm(critic, x) + 1e-12)


def gradient_penalty(
    critic: Critic,
    real: Samples,
    fake: Samples,
    eps: PerExample,
    target: ArrayLike = 1.0,
    one_sided: bool = False,
) -> Scalar:
  r"""The WGAN-GP penalty (Gulrajani et al., 2017, Algorithm 1).

  .. math:: E_{\hat x}\big[(\lVert\nabla_{\hat x} f(\hat x)\rVert_2
            - \text{target})^2\big], \qquad
            \hat x = \epsilon x + (1 - \epsilon)\tilde x,\ \epsilon \sim U[0, 1]

  with one :math:`\epsilon` per example, so :math:`\hat x` lies on the straight
  line between a real sample :math:`x` and a fake :math:`\tilde x`. The norm is
  per example over all non-batch axes. ``one_sided=True`` penalises only norms
  above the target, :math:`\max(0, \lVert\nabla f\rVert - \text{target})^2`
  (discussed in the paper's Sec. 4; Petzka et al., 2018).

  Args:
    critic: maps a batch [B, ...] to outputs [B].
    real: real samples [B, ...].
    fake: generated samples [B, ...] (gradients to G stopped by the caller).
    eps: interpolation weights [B], drawn from U[0, 1] by the caller (the step
      draws them so that results do not depend on the device count).
    target: the norm the penalty pulls toward (1 for 1-Lipschitz).
    one_sided: penalise only norms above ``target``.

  Returns:
    The unweighted penalty, a scalar; the caller multiplies by lambda.
  """
  eps = eps.reshape((real.shape[0],) + (1,) * (real.ndim - 1)).astype(
      real.dtype
  )
  interpolates = eps * real + (1.0 - eps) * fake
  excess = per_example_grad_norm(critic, interpolates) - target
  if one_sided:
    excess = jax.nn.relu(excess)
  return jnp.mean(jnp.square(excess))


def r1_penalty(critic: Critic, real: Samples) -> Scalar:
  r"""Half the R1 regulariser of Mescheder et al., 2018 ("Which Training
  Methods for GANs do actually Converge?"), Eq. 9:

  .. math:: \tfrac12 E_{x \sim p_\text{data}}[\lVert\nabla_x D(x)\rVert_2^2]

  The paper adds :math:`\tfrac{\gamma}{2} E\lVert\nabla D\rVert^2` to D's loss,
  so the weight to multiply this value by is :math:`\gamma` itself.
  """
  return 0.5 * jnp.mean(per_example_grad_sq_norm(critic, real))


def r2_penalty(critic: Critic, fake: Samples) -> Scalar:
  r"""Half the R2 regulariser of Mescheder et al., 2018, Eq. 10: R1's
  zero-centred gradient penalty on the generated samples,

  .. math:: \tfrac12 E_{\tilde x \sim p_g}[\lVert\nabla_{\tilde x}
            D(\tilde x)\rVert_2^2]

  (the weight to multiply it by is :math:`\gamma`).
  """
  return 0.5 * jnp.mean(per_example_grad_sq_norm(critic, fake))


def dragan_penalty(
    critic: Critic,
    real: Samples,
    u: Samples,
    alpha: PerExample,
    std: ArrayLike,
    c: ArrayLike = 0.5,
    k: ArrayLike = 1.0,
) -> Scalar:
  r"""DRAGAN's penalty (Kodali et al. 2017, "On Convergence and Stability
  of GANs", Sec. 4, as their code draws the perturbation):

  .. math:: E\big[(\lVert\nabla D(\hat x)\rVert_2 - k)^2\big],\qquad
            \hat x = x + \alpha\, c\, \mathrm{std}(x)\, u

  with :math:`u \sim U[0, 1]^d` per element and :math:`\alpha \sim U[0,
  1]` per example: D's gradient is pulled to norm k in a neighbourhood of
  the real data, where the paper found the sharp gradients of mode
  collapse. ``std`` is the real batch's standard deviation over all its
  elements; c = 0.5, k = 1 and a weight of 10 are the paper's.
  """
  alpha = alpha.reshape((-1,) + (1,) * (real.ndim - 1))
  x_hat = real + alpha * c * std * u
  return jnp.mean(jnp.square(per_example_grad_norm(critic, x_hat) - k))


def path_lengths(
    synthesis: Callable[[Array], Array],
    ws: Array,
    rng: Array,
    draw=jax.random.normal,
) -> Array:
  """[B]: sqrt(mean over layers of ||(J_w^T y)_layer||^2), y drawn with
  ``draw(rng, shape)`` (see :func:`path_length_penalty`)."""
  images, vjp = jax.vjp(synthesis, ws)
  height, width = images.shape[1], images.shape[2]
  noise = draw(rng, images.shape).astype(images.dtype)
  (grads,) = vjp(noise / jnp.sqrt(float(height * width)))
  return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(grads), axis=-1), axis=-1))


def path_length_penalty(
    synthesis: Callable[[Array], Array],
    ws: Array,
    rng: Array,
    pl_mean: Array,
    decay: float = 0.01,
    draw=jax.random.normal,
    mean=lambda x: x,
):
  r"""StyleGAN2's path-length regulariser (Karras et al. 2020, Sec. 3.2).

  .. math:: \big(\lVert J_w^T y\rVert_2 - a\big)^2,\qquad
            y \sim \mathcal N(0, I) / \sqrt{HW}

  with :math:`J_w` the Jacobian of the images with respect to the styles
  (one vector-Jacobian product, so the cost is one extra backward pass),
  the norm taken over w's dimensions and averaged over the layers' ws, and
  :math:`a` a running mean of the lengths (``pl_mean``, updated with
  ``decay`` and not differentiated).

  Args:
    synthesis: ws [B, L, W] -> images [B, H, W, C].
    ws: the styles.
    rng: key of the image-space noise y.
    pl_mean: the running mean so far (0 at the start).
    decay: the running mean's rate.
    draw: ``draw(key, shape)`` for y (the steps draw for the global batch
      and keep their device's part).
    mean: makes a batch mean global (the steps' pmean over devices).

  Returns:
    (the penalty, mean over the batch; the updated running mean).
  """
  lengths = path_lengths(synthesis, ws, rng, draw)
  new_mean = jax.lax.stop_gradient(
      pl_mean + decay * (mean(jnp.mean(lengths)) - pl_mean)
  )
  return jnp.mean(jnp.square(lengths - new_mean)), new_mean


# --- Penalties as plug-ins --------------------------------------------------


class Penalty(NamedTuple):
  """A regulariser the steps add to D's or G's loss.

  Attributes:
    value: ``value(ctx) -> penalty`` (a scalar, before its weight), or
      ``-> (penalty, extra)`` for a penalty with state of its own: its new
      ``ctx.extra``, kept in ``GANState.extra[name]``.
    hparams: the scalars it reads from ``ctx.hparams``.
    init_extra: ``init_extra(spec) -> pytree``, its state at step 0; None
      for a penalty without state.
    per_example: it differentiates D per example, which batch norm in D
      would mix (config validation refuses the pair).
    check: ``check(config) -> None``, raising ValueError with one line for
      a config it cannot run with (beyond its scalars' bounds).
  """

  value: Callable[[Context], Any]
  hparams: tuple[HParam, ...] = ()
  init_extra: Optional[Callable[[Any], Any]] = None
  per_example: bool = True
  check: Optional[Callable[[Mapping], None]] = None


GP_TARGET = HParam(
    'gp_target',
    1.0,
    low=0.0,
    doc='the norm the gradient penalty pulls toward',
)
ONE_SIDED = HParam(
    'one_sided',
    False,
    batchable=False,
    doc='penalise only gradient norms above the target',
)


def _gradient_penalty(ctx: Context) -> Scalar:
  # One interpolation weight per example (per pack), drawn for the global
  # batch from the penalty's key.
  eps = ctx.draw(jax.random.uniform, ctx.rng, (ctx.real.shape[0],))
  return gradient_penalty(
      ctx.critic,
      ctx.real,
      ctx.fake,
      eps,
      ctx.hparams['gp_target'],
      ctx.hparams['one_sided'],
  )


def _r1(ctx: Context) -> Scalar:
  return r1_penalty(ctx.critic, ctx.real)


def _r2(ctx: Context) -> Scalar:
  return r2_penalty(ctx.critic, ctx.fake)


def _r1_r2(ctx: Context) -> Scalar:
  # R1 and R2 at one weight: gamma/2 (E_real + E_fake) ||grad D||^2, the
  # pair R3GAN (Huang et al. 2024) adds to the relativistic pairing game.
  return _r1(ctx) + _r2(ctx)


DRAGAN_C = HParam(
    'dragan_c',
    0.5,
    low=0.0,
    doc="DRAGAN's perturbation scale, in standard deviations of the data",
)
DRAGAN_K = HParam('dragan_k', 1.0, low=0.0, doc="DRAGAN's target norm")


def _dragan(ctx: Context) -> Scalar:
  real = ctx.real  # What D judges (packs of samples under PacGAN).
  # The standard deviation of the global batch, whatever the device count.
  std = jnp.sqrt(
      jnp.maximum(ctx.mean(jnp.square(real)) - jnp.square(ctx.mean(real)), 0)
  )
  u_key, alpha_key = jax.random.split(ctx.rng)
  u = ctx.draw(jax.random.uniform, u_key, real.shape)
  alpha = ctx.draw(jax.random.uniform, alpha_key, (real.shape[0],))
  return dragan_penalty(
      ctx.critic,
      real,
      u,
      alpha,
      jax.lax.stop_gradient(std),
      ctx.hparams['dragan_c'],
      ctx.hparams['dragan_k'],
  )


def _path_length(ctx: Context):
  # Half a batch of fresh z with every second label: on any even
  # per-device batch the same (z, label) pairs as on one device, since z
  # is drawn globally.
  half = max(1, ctx.batch_size // 2)
  z_key, map_key, syn_key, noise_key = jax.random.split(ctx.rng, 4)
  z = ctx.draw(jax.random.normal, z_key, (half, ctx.spec.latent_dim))
  labels = None if ctx.labels is None else ctx.labels[::2][:half]
  ws = ctx.generator(z, labels=labels, rng=map_key, method='mapping_ws')
  penalty, pl_mean = path_length_penalty(
      lambda ws: ctx.generator(
          ws, train=False, rng=syn_key, method='synthesis'
      ),
      ws,
      noise_key,
      ctx.extra['pl_mean'],
      draw=lambda key, shape: ctx.draw(jax.random.normal, key, shape),
      mean=ctx.pmean,
  )
  return penalty, {'pl_mean': pl_mean}


def _needs_a_style_model(config: Mapping) -> None:
  from gan_jax import models  # Models import the layers; keep this light.

  name = config['model']['name']
  if name not in models.STYLE_MODELS:
    raise ValueError(
        "objective.g_penalty='path_length' is not allowed with model.name="
        f'{name!r}: it differentiates through w; use '
        f"{' or '.join(repr(m) for m in models.STYLE_MODELS)}"
    )


D_PENALTIES: Registry[Penalty] = Registry(
    'penalty',
    {
        'gradient_penalty': Penalty(
            _gradient_penalty, hparams=(GP_TARGET, ONE_SIDED)
        ),
        'r1': Penalty(_r1),
        'r2': Penalty(_r2),
        'r1_r2': Penalty(_r1_r2),
        'dragan': Penalty(_dragan, hparams=(DRAGAN_C, DRAGAN_K)),
    },
)
G_PENALTIES: Registry[Penalty] = Registry(
    'G penalty',
    {
        'path_length': Penalty(
            _path_length,
            init_extra=lambda spec: {'pl_mean': jnp.zeros((), jnp.float32)},
            per_example=False,
            check=_needs_a_style_model,
        ),
    },
)


def names(registry: Registry[Penalty]) -> tuple[str, ...]:
  """What ``objective.penalty`` (or ``g_penalty``) may name."""
  return ('none', *registry)


def lookup(registry: Registry[Penalty], name: str) -> Optional[Penalty]:
  """The penalty called ``name``; None for 'none'."""
  return None if name == 'none' else registry.lookup(name)
