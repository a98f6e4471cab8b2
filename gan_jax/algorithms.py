"""Training algorithms by name: what ``train.algorithm`` picks.

An algorithm is a step factory, ``make_steps(spec, axis_name=None,
unroll=False) -> gan_jax.steps.Steps``. The runner, the sweep (vmapped
groups included), the benchmark and the theory lab all get their steps
through :func:`gan_jax.steps.make_steps`, which looks ``spec.algorithm`` up
here, so a new algorithm registered from a config file trains, sweeps and
benchmarks like the built-in one. ``'alternating'`` (gan_jax/steps.py) is
Goodfellow et al.'s: n_critic D steps, then one G step.

What a factory must return, and what the runners read of it, is the step
contract (docs/forking.md); :func:`gan_jax.contract.check_steps` checks it
before anything is trained or written.
"""

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Optional, Tuple

from gan_jax.hparams import HParam
from gan_jax.registry import Registry


class Algorithm(NamedTuple):
  """A step factory and what it declares.

  Attributes:
    make_steps: ``(spec, axis_name=None, unroll=False) -> Steps``.
      ``axis_name``: the device axis when the steps run under shard_map or
      pmap (average gradients and metrics over it); ``unroll``: the CPU
      formulation (write loops out; gan_jax.steps' helpers do it).
    hparams: the scalars its steps read from ``state.hparams`` (or the
      spec's options).
    init_extra: ``init_extra(spec) -> pytree``: state of its own, kept in
      ``GANState.extra[name]``; None if none.
    check: ``check(config) -> None``, raising ValueError with one line for
      a config it cannot train (e.g. an option it does not support).
  """

  make_steps: Callable[..., Any]
  hparams: Tuple[HParam, ...] = ()
  init_extra: Optional[Callable[[Any], Any]] = None
  check: Optional[Callable[[Mapping], None]] = None


ALGORITHMS: Registry[Algorithm] = Registry('algorithm')
