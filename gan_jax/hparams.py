"""Scalar hyperparameters, declared once by the plug-in that reads them.

An objective, a penalty or an algorithm lists its scalars as
:class:`HParam`\\ s. Everything else derives from that one declaration:

* the config field (``field``, e.g. ``objective.gp_target``) exists in
  every config built after the plug-in is registered
  (:func:`gan_jax.config.defaults`), so ``--config.objective.gp_target=2``
  and a sweep's ``--grid`` take it;
* its validation (the type of ``default``, and ``low``/``high``): one line
  naming the field when a value is not allowed;
* where it lives: a *batchable* scalar (a float) is held in
  ``GANState.hparams``, a traced number, so runs that differ only in it
  train as one vmapped program (gan_jax.batched); any other (an int that
  sets a shape, a bool that picks a branch) is a static option of the
  ``GANSpec`` (``spec.options``), and runs that differ in it compile
  apart.

Either way the step hands it to the plug-in in ``ctx.hparams[name]``.

Example, a hinge loss with a margin that sweeps can vmap over::

  MARGIN = HParam('margin', 1.0, low=0.0, low_open=True,
                  doc="the hinge's margin")
  losses.OBJECTIVES.register('margin_hinge', losses.Objective(
      d_loss=lambda real, fake, ctx: (
          jnp.mean(jax.nn.relu(ctx.hparams['margin'] - real))
          + jnp.mean(jax.nn.relu(ctx.hparams['margin'] + fake))),
      g_loss=losses.wasserstein_g_loss, outputs_are_logits=False,
      hparams=(MARGIN,)))
"""

import dataclasses
import math
from typing import Any, Dict, Iterable, Optional, Tuple, Union

# Numbers of the config become float32 on device, counts int32.
FLOAT32_MAX = 3.4028234663852886e38
INT32_MAX = 2**31 - 1

Value = Union[float, int, bool]


@dataclasses.dataclass(frozen=True)
class HParam:
  """One scalar of a plug-in.

  Attributes:
    name: its key in ``ctx.hparams`` (and ``GANState.hparams``); plug-ins
      that declare the same name share one value, so they must agree on
      its field, default and kind.
    default: its value when a config does not set it; its type (float,
      int or bool) is the field's type.
    field: the dotted config field; '' means ``objective.<name>``.
    low, high: the allowed interval of a number (inclusive unless
      ``low_open`` / ``high_open``).
    batchable: held in the state, so a sweep may vmap over it (floats
      only); False makes it a static option of the spec.
    doc: what it is, for the config's documentation and error messages.
  """

  name: str
  default: Value
  field: str = ''
  low: float = -math.inf
  high: float = math.inf
  low_open: bool = False
  high_open: bool = False
  batchable: bool = True
  doc: str = ''

  def __post_init__(self):
    if not self.name.isidentifier():
      raise ValueError(f'HParam name {self.name!r}: give an identifier')
    if self.batchable and type(self.default) is not float:
      raise ValueError(
          f'HParam {self.name!r}: a batchable scalar is a float (the '
          f'state holds it as float32), got default {self.default!r}; '
          'declare batchable=False for an int or a bool'
      )
    problem = self.problem(self.default)
    if problem:
      raise ValueError(f'HParam {self.name!r}: default {problem}')

  @property
  def config_field(self) -> str:
    return self.field or f'objective.{self.name}'

  def problem(self, value: Any) -> Optional[str]:
    """What is wrong with ``value`` for this scalar ('is not allowed:
    ...'), or None if it is allowed."""
    kind = type(self.default)
    if kind is bool:
      ok = isinstance(value, bool)
      return None if ok else f'{value!r} is not allowed: True or False'
    if kind is int:
      low = max(self.low, -INT32_MAX - 1)
      high = min(self.high, INT32_MAX)
      ok = (
          isinstance(value, int)
          and not isinstance(value, bool)
          and low <= value <= high
      )
      return (
          None
          if ok
          else f'{value!r} is not allowed: an integer from '
          f'{int(low)} to {int(high)}'
      )
    number = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )
    if number and abs(value) > FLOAT32_MAX:
      return (
          f'{value!r} is not allowed: a number within float32 range '
          f'(|x| <= {FLOAT32_MAX:.4g})'
      )
    ok = (
        number
        and (value > self.low if self.low_open else value >= self.low)
        and (value < self.high if self.high_open else value <= self.high)
    )
    if ok:
      return None
    return f'{value!r} is not allowed: {self.allowed()}'

  def allowed(self) -> str:
    """The allowed values of a number, in words."""
    low, high = math.isfinite(self.low), math.isfinite(self.high)
    if low and high:
      return (
          'a number in '
          + ('(' if self.low_open else '[')
          + f'{self.low:g}, {self.high:g}'
          + (')' if self.high_open else ']')
      )
    if low:
      return f'a finite number {">" if self.low_open else ">="} {self.low:g}'
    if high:
      return f'a finite number {"<" if self.high_open else "<="} {self.high:g}'
    return 'a finite number'

  def same_scalar(self, other: 'HParam') -> bool:
    """Whether two declarations can share one value (bounds may differ:
    each plug-in checks the value against its own)."""
    return (
        self.name == other.name
        and self.config_field == other.config_field
        and self.default == other.default
        and type(self.default) is type(other.default)
        and self.batchable == other.batchable
    )


def merged(
    declarations: Iterable[Tuple[str, HParam]],
) -> Dict[str, HParam]:
  """``{name: HParam}`` of ``(owner, declaration)`` pairs; two owners
  declaring one name differently (or one config field under two names)
  is an error naming both."""
  by_name: Dict[str, Tuple[str, HParam]] = {}
  by_field: Dict[str, Tuple[str, HParam]] = {}
  for owner, hparam in declarations:
    seen = by_name.get(hparam.name)
    if seen and not seen[1].same_scalar(hparam):
      raise ValueError(
          f'hyperparameter {hparam.name!r} is declared differently by '
          f'{seen[0]} ({seen[1].config_field}, default {seen[1].default!r})'
          f' and by {owner} ({hparam.config_field}, default '
          f'{hparam.default!r}); give one of them another name'
      )
    other = by_field.get(hparam.config_field)
    if other and other[1].name != hparam.name:
      raise ValueError(
          f'config field {hparam.config_field!r} is declared as '
          f'{other[1].name!r} by {other[0]} and as {hparam.name!r} by '
          f'{owner}'
      )
    by_name.setdefault(hparam.name, (owner, hparam))
    by_field.setdefault(hparam.config_field, (owner, hparam))
  return {name: hparam for name, (_, hparam) in by_name.items()}
