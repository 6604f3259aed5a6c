"""Guarded units of work and the decisions inside them.

A boundary is one request or one command: it opens the vault's opening scope, collects every
patient the guard hands over (the exposure of that unit), and on a normal end writes one
audit entry in the caller's transaction. A refusal raises `Refused`; the caller records it
after rolling back, so the refusal entry survives and no half-built response leaves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import transaction

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome
from carnet.vault import keys as vault_keys
from carnet.vault import scope as vault_scope

from .actors import Actor
from .policy import Capability, role_may


class Refused(Exception):
    """Access refused. `not_found` refusals answer exactly like a missing record (404)."""

    def __init__(self, reason: str, *, patients: Iterable[str] = (), not_found: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.patients = tuple(patients)
        self.not_found = not_found


@dataclass(frozen=True)
class Subject:
    """A patient as the guard sees it: an id and the establishments that know them."""

    patient_id: str
    establishment_ids: frozenset[int]


@dataclass
class Ledger:
    actor: Actor
    action: str
    exposed: set[str] = field(default_factory=set)
    bulk_count: int | None = None
    reason: str = ""


_current: ContextVar[Ledger | None] = ContextVar("carnet_guard_ledger", default=None)


def _record(ledger: Ledger, outcome: str, reason: str, patients: Iterable[str]) -> None:
    actor = ledger.actor
    append(
        Record(
            actor_id=actor.user_id,
            actor=actor.username,
            role=actor.role,
            establishment_id=actor.establishment_id,
            action=ledger.action,
            outcome=outcome,
            patients=patients,
            patient_count=ledger.bulk_count,
            reason=reason,
            request_id=actor.request_id,
            client_ip=actor.client_ip,
        )
    )


@contextmanager
def boundary(actor: Actor, action: str) -> Iterator[Ledger]:
    ledger = Ledger(actor=actor, action=action)
    token = _current.set(ledger)
    try:
        with vault_scope.opening_scope():
            yield ledger
            _record(ledger, Outcome.ALLOWED, ledger.reason, ledger.exposed)
    finally:
        _current.reset(token)


def record_refusal(actor: Actor, action: str, refusal: Refused) -> None:
    """Writes the refusal in its own transaction (the refused work was rolled back)."""
    with transaction.atomic():
        _record(
            Ledger(actor=actor, action=action), Outcome.REFUSED, refusal.reason, refusal.patients
        )


def _ledger(actor: Actor) -> Ledger:
    ledger = _current.get()
    if ledger is None or ledger.actor != actor:
        raise Refused("no guarded boundary for this actor", not_found=False)
    return ledger


def require(actor: Actor, capability: Capability) -> Ledger:
    ledger = _ledger(actor)
    if not role_may(actor.role, capability):
        raise Refused(f"role {actor.role} lacks {capability}", not_found=False)
    return ledger


def _reaches(actor: Actor, subject: Subject) -> bool:
    return actor.is_system or bool(actor.establishment_ids & subject.establishment_ids)


def _hand_over(ledger: Ledger, subject: Subject) -> None:
    vault_scope.admit(subject.patient_id)
    ledger.exposed.add(subject.patient_id)


def admit(actor: Actor, capability: Capability, subjects: Iterable[Subject]) -> list[Subject]:
    """The subjects this actor may see, each handed over and counted as exposed."""
    ledger = require(actor, capability)
    allowed = [s for s in subjects if _reaches(actor, s)]
    for subject in allowed:
        _hand_over(ledger, subject)
    return allowed


def admit_one(actor: Actor, capability: Capability, subject: Subject | None) -> Subject:
    """One patient, or `Refused` answering like "not found" whether it exists or not."""
    ledger = require(actor, capability)
    if subject is None:
        raise Refused("no such patient")
    if not _reaches(actor, subject):
        raise Refused("patient outside the actor's establishments", patients=[subject.patient_id])
    _hand_over(ledger, subject)
    return subject


def admit_new(actor: Actor, capability: Capability, patient_id: str, establishment_id: int) -> None:
    """A patient being created by this actor, in one of their establishments."""
    ledger = require(actor, capability)
    if not actor.is_system and establishment_id not in actor.establishment_ids:
        raise Refused("establishment outside the actor's memberships", not_found=False)
    _hand_over(ledger, Subject(patient_id, frozenset({establishment_id})))


def admit_bulk(actor: Actor, capability: Capability) -> Ledger:
    """A system job over many patients (import): opened as a whole, counted, not listed."""
    ledger = require(actor, capability)
    if not actor.is_system:
        raise Refused("bulk work is for system jobs", not_found=False)
    vault_scope.admit_everything()
    ledger.bulk_count = 0
    return ledger


@contextmanager
def system_job(actor: Actor, action: str) -> Iterator[Ledger]:
    """A command's unit of work: one transaction, one audit entry, refusals recorded."""
    try:
        with transaction.atomic(), boundary(actor, action) as ledger:
            yield ledger
    except Refused as refusal:
        record_refusal(actor, action, refusal)
        raise


def admit_matching(
    actor: Actor,
    capability: Capability,
    subjects: Iterable[Subject],
    matches: Callable[[Subject], bool],
    limit: int,
) -> tuple[list[Subject], bool]:
    """Search: candidates found by blind index are opened only to test `matches`; those that
    match are handed over (and counted), up to `limit`; the others are withdrawn from the
    opening scope unseen. Returns the matches and whether more were left out."""
    ledger = require(actor, capability)
    reachable = [s for s in subjects if _reaches(actor, s)]
    for subject in reachable:
        vault_scope.admit(subject.patient_id)
    vault_keys.preload(s.patient_id for s in reachable)
    found: list[Subject] = []
    more = False
    for subject in reachable:
        if len(found) < limit and matches(subject):
            found.append(subject)
            ledger.exposed.add(subject.patient_id)
            continue
        if len(found) >= limit and not more and matches(subject):
            more = True
        vault_scope.withdraw(subject.patient_id)
    return found, more
