"""Who is acting: a staff account in a request, or the system in a command. The staff domain
registers how a request's user becomes an Actor; the guard needs nothing else of it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .policy import SYSTEM_ROLE


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    role: str
    establishment_ids: frozenset[int] = frozenset()
    unit_ids: frozenset[int] = frozenset()
    # Every establishment of the groups the actor's establishments belong to: one patient is
    # one identity across the group, and the desk finds it (guard.policy.GROUP_REACH).
    group_establishment_ids: frozenset[int] = frozenset()
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_ip: str | None = None
    verified: bool = False
    stepped_up: bool = False
    approved: bool = True
    # The second factor was confirmed a few minutes ago (decisions of a security officer).
    second_factor_fresh: bool = False
    # History brought in by an import, acting as the account that did it back then (authorship
    # of notes and orders), recorded as the import and counted against nobody's budget.
    imported_as: str = ""

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM_ROLE

    @property
    def establishment_id(self) -> int | None:
        return min(self.establishment_ids) if self.establishment_ids else None


def system_actor(purpose: str) -> Actor:
    """The actor of a command run by the installation's operator (seed, verification)."""
    return Actor(user_id=None, username=f"system:{purpose}", role=SYSTEM_ROLE, verified=True)


_resolver: Callable[[Any], Actor | None] | None = None


def register_resolver(resolver: Callable[[Any], Actor | None]) -> None:
    global _resolver
    _resolver = resolver


def actor_for_request(request: Any) -> Actor | None:
    """The verified staff actor of a request, or None (anonymous, no second factor yet)."""
    if _resolver is None:
        return None
    return _resolver(request)


_second_factor: Callable[[int, str], tuple[bool, str]] | None = None


def register_second_factor(verifier: Callable[[int, str], tuple[bool, str]]) -> None:
    """The staff domain tells the guard how to check a second-factor code for an account."""
    global _second_factor
    _second_factor = verifier


def check_second_factor(actor: Actor, token: str) -> tuple[bool, str]:
    if _second_factor is None or actor.user_id is None:
        return False, "no second factor"
    return _second_factor(actor.user_id, token)
