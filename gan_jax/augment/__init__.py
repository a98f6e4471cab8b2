"""Differentiable augmentations of what D sees: the registry and its
plug-in type.

An augmentation transforms every image D judges, real and fake, in D's
steps and in G's (Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training"; Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data"): G's gradient flows back through
the transform, so G learns the data, not the augmented data.
``augment.name`` picks one (:data:`AUGMENTATIONS`; ``'none'`` is the
identity). The steps (gan_jax.steps) call it on real and fake batches
before packing, and with their own keys, so a run without augmentation
draws the same numbers as before this module existed.

An :class:`Augmentation`:

* ``apply(images, ctx) -> images``: one random transform of this device's
  part of the batch, [B, H, W, C] in the data's range. Random numbers come
  from ``ctx.rng`` through ``ctx.draw``, which draws them for the global
  batch and slices this device's part, so the result does not depend on
  the device count. ``ctx.hparams`` holds its scalars, ``ctx.extra`` its
  own state (ADA's probability p).
* ``update(ctx) -> extra``: its state after a D step has judged the
  augmented reals (``ctx.real_out``); None if it keeps none.
* ``log(extra) -> {name: scalar}``: what the steps log of its state
  (ADA's p), in D's metrics.
"""

from collections.abc import Callable, Mapping
from typing import Any, Dict, NamedTuple, Optional, Tuple

import jax

from gan_jax.context import Context
from gan_jax.hparams import HParam
from gan_jax.registry import Registry

Array = jax.Array


class Augmentation(NamedTuple):
  """A differentiable augmentation (see the module docstring).

  Attributes:
    apply: ``(images [B, H, W, C], ctx) -> images``.
    hparams: its scalars (fields ``augment.<name>``).
    init_extra: ``init_extra(spec) -> pytree``: its state at step 0, kept
      in ``GANState.extra[name]``; None if none.
    update: ``update(ctx) -> extra``, called in each D step once D has
      judged the augmented reals; None if it keeps no state.
    log: ``log(extra) -> {metric: scalar}``, logged with D's metrics.
    check: ``check(config) -> None``, raising ValueError with one line for
      a config it cannot train (2-D data, say).
  """

  apply: Callable[[Array, Context], Array]
  hparams: Tuple[HParam, ...] = ()
  init_extra: Optional[Callable[[Any], Any]] = None
  update: Optional[Callable[[Context], Any]] = None
  log: Optional[Callable[[Any], Dict[str, Array]]] = None
  check: Optional[Callable[[Mapping], None]] = None


def images_only(name: str) -> Callable[[Mapping], None]:
  """A ``check`` refusing 2-D data: the transforms act on images."""

  def check(config: Mapping) -> None:
    from gan_jax.data import is_image_dataset  # Keep this import light.

    if not is_image_dataset(config['dataset']):
      raise ValueError(
          f'augment.name={name!r} is not allowed with dataset='
          f"{config['dataset']!r}: it transforms images; use 'none' on "
          '2-D data'
      )

  return check


AUGMENTATIONS: Registry[Augmentation] = Registry(
    'augmentation', {'none': Augmentation(lambda images, ctx: images)}
)


from gan_jax.augment import diffaugment  # noqa: E402,F401
from gan_jax.augment import ada  # noqa: E402,F401
