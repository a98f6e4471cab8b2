"""Named plug-ins: objectives, penalties and algorithms are looked up by the
name a config gives.

A :class:`Registry` is a dict from names to plug-ins with two additions:
:meth:`Registry.register`, which refuses to replace a name by accident and
works as a decorator, and :meth:`Registry.lookup`, whose error for an
unknown name lists the valid ones (and suggests the closest). A config file
or a module of one's own registers a plug-in before ``get_config()``
returns; from then on the runners, sweeps and checks treat it as built in.
"""

import difflib
from typing import Any, Optional, TypeVar

T = TypeVar('T')


class Registry(dict[str, T]):
  """``{name: plug-in}`` of one kind (``kind`` names it in messages)."""

  def __init__(self, kind: str, items: Optional[dict[str, T]] = None):
    super().__init__(items or {})
    self.kind = kind

  def register(
      self, name: str, item: Optional[T] = None, replace: bool = False
  ) -> Any:
    """Adds ``item`` as ``name``; without ``item``, a decorator that adds
    what it decorates. A name already taken is an error unless
    ``replace`` (re-running a notebook cell, say)."""
    if not isinstance(name, str) or not name.replace('_', '').isalnum():
      raise ValueError(f'{self.kind} name {name!r}: give letters, digits and _')

    def add(value: T) -> T:
      if name in self and not replace and self[name] is not value:
        raise ValueError(
            f'{self.kind} {name!r} is already registered; pass '
            'replace=True to replace it'
        )
      self[name] = value
      return value

    if item is None:
      return add
    return add(item)

  def lookup(self, name: str) -> T:
    """The plug-in registered as ``name``; an unknown name lists the
    valid ones."""
    try:
      return self[name]
    except (KeyError, TypeError):
      raise ValueError(self.unknown(name)) from None

  def unknown(self, name: Any) -> str:
    close = difflib.get_close_matches(str(name), list(self), n=1)
    hint = f' (did you mean {close[0]!r}?)' if close else ''
    return f'unknown {self.kind} {name!r}{hint}; valid: {", ".join(self)}'
