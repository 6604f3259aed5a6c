"""The opening scope: which owners' sealed values the current unit of work may open.

The guard admits owners into the scope as it hands records over; anything else that tries
to open a value (a template walking a relation, a stray query) gets `OpeningRefused`. The
scope also caches the data keys it unwrapped, and forgets them when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


class OpeningRefused(Exception):
    """A sealed value was asked for outside what the guard handed over."""


@dataclass
class OpeningScope:
    owners: set[str] = field(default_factory=set)
    everything: bool = False
    keys: dict[str, bytes] = field(default_factory=dict)
    ciphers: dict[str, Any] = field(default_factory=dict)
    # Wrapped keys read along with their owner's row (keys.prime): unwrapped only once the
    # owner is admitted and a value of theirs is opened, and worthless without the KEK.
    wrapped: dict[str, tuple[bytes | None, int]] = field(default_factory=dict)

    def admits(self, owner: str) -> bool:
        return self.everything or owner in self.owners


_current: ContextVar[OpeningScope | None] = ContextVar("carnet_opening_scope", default=None)


@contextmanager
def opening_scope() -> Iterator[OpeningScope]:
    scope = OpeningScope()
    token = _current.set(scope)
    try:
        yield scope
    finally:
        scope.keys.clear()
        scope.ciphers.clear()
        scope.wrapped.clear()
        _current.reset(token)


def current_scope() -> OpeningScope | None:
    return _current.get()


def admit(owner: object) -> None:
    scope = _current.get()
    if scope is None:
        raise OpeningRefused("no opening scope: sealed data is reached only through the guard")
    scope.owners.add(str(owner))


def withdraw(owner: object, *, keep_key: bool = False) -> None:
    """Nothing of this owner opens any more. `keep_key` keeps the unwrapped key cached for a
    guard decision still to come in this scope (it opens nothing until admitted again)."""
    scope = _current.get()
    if scope is not None:
        scope.owners.discard(str(owner))
        if not keep_key:
            scope.keys.pop(str(owner), None)
            scope.ciphers.pop(str(owner), None)
            scope.wrapped.pop(str(owner), None)


def admit_everything() -> None:
    """For system jobs (import, key rotation) that the guard authorised as a whole."""
    scope = _current.get()
    if scope is None:
        raise OpeningRefused("no opening scope")
    scope.everything = True


def require(owner: str) -> OpeningScope:
    scope = _current.get()
    if scope is None or not scope.admits(owner):
        raise OpeningRefused(f"owner {owner} was not handed over by the guard")
    return scope
