"""What an objective or a regulariser may use besides D's outputs.

The steps build one :class:`Context` per loss they compute and pass it to
the objective (``d_loss(real_out, fake_out, ctx)``, ``g_loss(real_out,
fake_out, ctx)``) and to the penalties (``penalty(ctx)``), so a new loss
that needs the batch, a key, a critic to differentiate or state of its own
needs no new argument in the steps. Which fields a side fills in is said
below; the others are None.

Statistics of the batch go through :meth:`Context.mean` and
:meth:`Context.gather`: when the steps run per device (``axis_name``, under
``shard_map`` or ``pmap``), each device holds a part of the batch, and a
loss that compares an example with the batch's mean (RaGAN) or ranks the
batch (top-k) must see all of it. Through these the loss takes the same
value on 1 or 8 devices; ``jnp.mean`` over the local part would not.
Noise for the batch goes through :meth:`Context.draw` for the same reason.
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional, Tuple

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax import parallel

Array = jax.Array
ArrayLike = jax.typing.ArrayLike


@dataclasses.dataclass(frozen=True)
class Context:
  """A loss's or a regulariser's view of the step.

  Always:
    hparams: the scalars, ``{name: value}``: the state's (traced) and the
      spec's static options (gan_jax.hparams).
    axis_name: the device axis the step runs over, or None.
    spec: the GANSpec (static: shapes, latent size, options).
    step: the train step (traced int32).
    rng: a key of the loss's own (penalties draw from it).

  D's loss and its penalties (``gan_jax.steps.d_loss``):
    real, fake: what D judged (packs of ``spec.pack`` samples when
      packing, augmented when an augmentation is on; fakes with G's
      gradient stopped), this device's part.
    labels: their classes (conditional GANs), or None.
    real_out, fake_out: D's outputs on them.
    critic: ``critic(x) -> outputs``, D at the params being
      differentiated, for the labels; a penalty differentiates it.
    latents, generator: the fakes' z and G at its params, frozen (given
      when the step knows them: the built-in D step does).
    view: ``view(samples) -> what D judges``: samples [B, ...] as the
      fakes were shown to D (the same augmentation draws, then packed),
      for a term that compares D's outputs on other samples with
      ``fake_out``.
    batch_size: the number of samples per device.

  G's loss and its penalties (``gan_jax.steps.g_loss``):
    fake, fake_out: G's samples (packed) and D's outputs on them;
      real_out when the objective asks for it (``g_uses_real``).
    generator: ``generator(inputs, labels=None, rng=None, method=None,
      train=True) -> outputs``, G at the params being differentiated.
    latents: the z of G's samples.
    batch_size: the number of samples per device.

  A plug-in with state of its own (``init_extra``) also gets:
    extra: its slot of ``GANState.extra``, as the last step left it.
  """

  hparams: Mapping[str, Any]
  axis_name: Optional[str] = None
  spec: Any = None
  # The rest are arrays and functions, filled in by the side that has
  # them (see above) and None otherwise.
  step: Any = None
  rng: Any = None
  real: Any = None
  fake: Any = None
  labels: Any = None
  real_out: Any = None
  fake_out: Any = None
  critic: Any = None
  generator: Any = None
  batch_size: int = 0
  extra: Any = None
  latents: Any = None
  view: Any = None

  def replace(self, **changes) -> 'Context':
    return dataclasses.replace(self, **changes)

  def pack(self, x: Array) -> Array:
    """Samples [B, ...] as D judges them: packs of ``spec.pack``
    (PacGAN), concatenated along the last axis."""
    return pack(x, self.spec.pack)

  def pmean(self, tree: Any) -> Any:
    """``tree`` averaged over the devices (itself on one device)."""
    if self.axis_name is None:
      return tree
    return lax.pmean(tree, self.axis_name)

  def mean(self, x: ArrayLike, axis: Optional[int] = None) -> Array:
    """The mean of ``x`` over the global batch: over all its elements
    (``axis`` None) or along the batch axis 0 only (``axis=0``), on every
    device's part together. Each device must hold an equal share."""
    return self.pmean(jnp.mean(x, axis=axis))

  def gather(self, x: Array) -> Array:
    """The global batch of ``x`` (every device's part, in device order,
    along axis 0); ``x`` itself on one device."""
    if self.axis_name is None:
      return x
    return lax.all_gather(x, self.axis_name, tiled=True)

  def take_part(self, x: Array) -> Array:
    """This device's part of a global-batch array (inverse of
    :meth:`gather`)."""
    if self.axis_name is None:
      return x
    return parallel.take_part(x, self.axis_name)

  def draw(
      self,
      sampler: Callable[[Array, Tuple[int, ...]], Array],
      key: Array,
      shape: Tuple[int, ...],
  ) -> Array:
    """``sampler(key, shape)`` for this device's part of the batch, drawn
    as a slice of the global batch's draw, so the numbers do not depend on
    the device count."""
    return draw(sampler, key, shape, self.axis_name)


def pack(x: Array, m: int) -> Array:
  """[B, ..., C] -> [B / m, ..., m * C]: each m consecutive examples
  concatenated along the last axis (PacGAN's packing)."""
  if m == 1:
    return x
  grouped = x.reshape(x.shape[0] // m, m, *x.shape[1:])
  return jnp.moveaxis(grouped, 1, -2).reshape(
      x.shape[0] // m, *x.shape[1:-1], m * x.shape[-1]
  )


def draw(
    sampler: Callable[[Array, Tuple[int, ...]], Array],
    key: Array,
    shape: Tuple[int, ...],
    axis_name: Optional[str] = None,
) -> Array:
  """``sampler(key, shape)`` for this device's ``shape[0]`` examples: the
  global batch's draw, sliced (exact agreement with one device for the
  price of a few extra random numbers)."""
  if axis_name is None:
    return sampler(key, shape)
  count = lax.psum(1, axis_name)
  return parallel.take_part(
      sampler(key, (count * shape[0], *shape[1:])), axis_name
  )
