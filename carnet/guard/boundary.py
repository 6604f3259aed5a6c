"""Guarded units of work and the decisions inside them.

A boundary is one request or one command: it opens the vault's opening scope, collects every
patient the guard hands over with the relationship that opened it (or `outside`), and on a
normal end writes one audit entry in the caller's transaction. Each decision, in order:
canary (containment), care relationship, establishment reach, exposure budget (step-up or
containment) — all before any value is opened for the response. A refusal raises `Refused`;
the caller records it (and contains, for `Contained`) after rolling back.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from carnet.audit.chain import Record, append
from carnet.audit.models import AuditEntry, Outcome
from carnet.metrics import GUARD_DECISIONS
from carnet.vault import keys as vault_keys
from carnet.vault import scope as vault_scope

from . import budgets, canaries, relationships
from .actors import Actor
from .models import OUTSIDE, RelationshipKind
from .policy import (
    DESK_ROLES,
    GROUP_CAPABILITIES,
    GROUP_ROLES,
    REFUSALS_PER_HOUR,
    SYSTEM_ROLE,
    Capability,
    role_may,
)


class Refused(Exception):
    """Access refused. `not_found` refusals answer exactly like a missing record (404)."""

    def __init__(self, reason: str, *, patients: Iterable[str] = (), not_found: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.patients = tuple(patients)
        self.not_found = not_found


class StepUp(Refused):
    """Past the soft limit: confirm with the second factor and a reason, then go on."""

    def __init__(self) -> None:
        super().__init__("step-up required (soft exposure limit)", not_found=False)


class Contained(Refused):
    """Past the hard limit, or a canary touched: the account is locked in this request."""

    def __init__(
        self,
        reason: str,
        *,
        patients: Iterable[str] = (),
        canary: bool = False,
        exposed_before: int = 0,
    ) -> None:
        super().__init__(reason, patients=patients, not_found=False)
        self.canary = canary
        self.exposed_before = exposed_before


@dataclass(frozen=True)
class Subject:
    """A patient as the guard sees it: id, the establishments that know them, and the mark
    that tells a canary to whoever holds the key."""

    patient_id: str
    establishment_ids: frozenset[int]
    mark: bytes | None = None


@dataclass
class Ledger:
    actor: Actor
    action: str
    exposed: dict[str, str] = field(default_factory=dict)
    bulk_count: int | None = None
    reason: str = ""


_current: ContextVar[Ledger | None] = ContextVar("carnet_guard_ledger", default=None)


def _record(ledger: Ledger, outcome: str, reason: str, patients: object) -> None:
    actor = ledger.actor
    imported = bool(actor.imported_as)
    append(
        Record(
            actor_id=None if imported else actor.user_id,
            actor=actor.imported_as or actor.username,
            role=SYSTEM_ROLE if imported else actor.role,
            establishment_id=actor.establishment_id,
            action=ledger.action,
            outcome=outcome,
            patients=patients,  # type: ignore[arg-type]
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
            GUARD_DECISIONS.labels("allowed").inc()
    finally:
        _current.reset(token)


def record_refusal(actor: Actor, action: str, refusal: Refused) -> None:
    """Writes the refusal in its own transaction (the refused work was rolled back); a
    containment also locks the account, ends its sessions and alerts."""
    GUARD_DECISIONS.labels(
        "contained"
        if isinstance(refusal, Contained)
        else "step_up"
        if isinstance(refusal, StepUp)
        else "refused"
    ).inc()
    if isinstance(refusal, Contained):
        from .containment import contain

        contain(
            actor,
            action,
            reason=refusal.reason,
            patients=refusal.patients,
            canary=refusal.canary,
            exposed_before=refusal.exposed_before,
        )
        return
    with transaction.atomic():
        _record(
            Ledger(actor=actor, action=action), Outcome.REFUSED, refusal.reason, refusal.patients
        )
    if actor.user_id is not None and not isinstance(refusal, StepUp):
        refused = refusals_in_last_hour(actor.user_id)
        if refused > REFUSALS_PER_HOUR:
            from .containment import contain

            reason = f"{refused} refused requests in an hour (limit {REFUSALS_PER_HOUR})"
            contain(actor, action, reason=reason)
            raise Contained(reason)


def refusals_in_last_hour(user_id: int) -> int:
    since = timezone.now() - datetime.timedelta(hours=1)
    return AuditEntry.objects.filter(
        actor_id=user_id, outcome=Outcome.REFUSED, at__gte=since
    ).count()


def current_ledger() -> Ledger | None:
    """The ledger of the guarded unit of work under way, if any."""
    return _current.get()


def ledger_for(actor: Actor) -> Ledger:
    ledger = _current.get()
    if ledger is None or ledger.actor != actor:
        raise Refused("no guarded boundary for this actor", not_found=False)
    return ledger


def opened_through(actor: Actor, patient_id: str) -> str:
    """What opened this patient in the current request (a relationship kind, or outside)."""
    return ledger_for(actor).exposed.get(str(patient_id), "")


def require(actor: Actor, capability: Capability) -> Ledger:
    """The current request's ledger, if the actor's role may do this and a security officer
    approved the account: an account waiting for approval does nothing at all."""
    ledger = ledger_for(actor)
    if not role_may(actor.role, capability):
        raise Refused(f"role {actor.role} lacks {capability}", not_found=False)
    if not (actor.approved or actor.is_system):
        raise Refused("account not approved by a security officer yet", not_found=False)
    return ledger


def reach_of(actor: Actor, capability: Capability) -> frozenset[int]:
    """The establishments whose patients the actor may find and open (counted, outside its
    relationships) for this capability: its own, or for the desk's and the practitioners'
    finding and booking, every establishment of its groups (one identity across the group)."""
    if actor.role in GROUP_ROLES and capability in GROUP_CAPABILITIES:
        return actor.establishment_ids | actor.group_establishment_ids
    return actor.establishment_ids


def _reaches(actor: Actor, subject: Subject, capability: Capability) -> bool:
    return actor.is_system or bool(reach_of(actor, capability) & subject.establishment_ids)


def check_canaries(subjects: Iterable[Subject]) -> None:
    for subject in subjects:
        if canaries.is_canary(subject.patient_id, subject.mark):
            raise Contained("canary record touched", patients=[subject.patient_id], canary=True)


def _charge(actor: Actor, outside: Iterable[str], misses: int = 0) -> None:
    try:
        budgets.charge(actor, outside, misses=misses)
    except budgets.StepUpRequired:
        raise StepUp() from None
    except budgets.OverBudget as over:
        raise Contained(over.reason, exposed_before=over.exposed_before) from None


def _decide(
    ledger: Ledger, subjects: list[Subject], capability: Capability, *, misses: int = 0
) -> list[Subject]:
    """Canaries, relationships, reach and budget for subjects about to be handed over."""
    actor = ledger.actor
    check_canaries(subjects)
    if not (actor.approved or actor.is_system):
        # Not even through a relationship: a desk window, a unit's admissions or a
        # laboratory's orders come with a membership, which is not approved yet either.
        return []
    kinds = relationships.kinds_for(actor, [s.patient_id for s in subjects], capability)
    # Outside its relationships an account reaches its establishments' patients.
    allowed = [s for s in subjects if s.patient_id in kinds or _reaches(actor, s, capability)]
    outside = [s.patient_id for s in allowed if s.patient_id not in kinds]
    if outside and actor.role in DESK_ROLES:
        # A caller asking about an appointment weeks ahead, here: the desk's own work, within
        # the same hourly and daily bound as the acts that explain a look.
        upcoming = relationships.upcoming(actor, outside)
        for patient in budgets.admit_explained(
            actor, [p for p in outside if p in upcoming and p not in ledger.exposed], by="upcoming"
        ):
            kinds[patient] = RelationshipKind.UPCOMING
        outside = [p for p in outside if p not in kinds]
    _charge(actor, [p for p in outside if p not in ledger.exposed], misses)
    for subject in allowed:
        hand_over(ledger, subject, kinds.get(subject.patient_id, OUTSIDE))
    return allowed


def admit(actor: Actor, capability: Capability, subjects: Iterable[Subject]) -> list[Subject]:
    """The subjects this actor may see, each handed over and counted."""
    return _decide(require(actor, capability), list(subjects), capability)


def admit_one(actor: Actor, capability: Capability, subject: Subject | None) -> Subject:
    """One patient, or `Refused` answering like "not found" whether it exists or not."""
    ledger = require(actor, capability)
    if subject is None:
        raise Refused("no such patient")
    if not _decide(ledger, [subject], capability):
        raise Refused(
            "no relationship and outside the actor's establishments", patients=[subject.patient_id]
        )
    return subject


def admit_existence(actor: Actor, capability: Capability, subjects: Iterable[Subject]) -> None:
    """An answer that tells that these people exist without showing them (a count of
    look-alikes, a warning): decided and counted like a search that found them, canaries
    included, and recorded; nothing of them is opened. Guessing identities through such an
    answer costs the same budget as guessing them through a search."""
    ledger = require(actor, capability)
    found = list(subjects)
    check_canaries(found)
    if not found:
        return
    if not (actor.approved or actor.is_system):
        raise Refused("account not approved by a security officer yet", not_found=False)
    kinds = relationships.kinds_for(actor, [s.patient_id for s in found], capability)
    outside = [
        s.patient_id
        for s in found
        if s.patient_id not in kinds and s.patient_id not in ledger.exposed
    ]
    _charge(actor, outside)
    for subject in found:
        ledger.exposed.setdefault(subject.patient_id, kinds.get(subject.patient_id, "existence"))


def admit_new(actor: Actor, capability: Capability, patient_id: str, establishment_id: int) -> None:
    """A patient being created by this actor, in one of their establishments: entered by the
    actor, not exposed to them, so it is recorded but not charged."""
    ledger = require(actor, capability)
    if not actor.is_system and establishment_id not in actor.establishment_ids:
        raise Refused("establishment outside the actor's memberships", not_found=False)
    vault_scope.admit(patient_id)
    ledger.exposed[patient_id] = "created"


def admit_bulk(actor: Actor, capability: Capability) -> Ledger:
    """A system job over many patients (import): opened as a whole, counted, not listed."""
    ledger = require(actor, capability)
    if not actor.is_system:
        raise Refused("bulk work is for system jobs", not_found=False)
    vault_scope.admit_everything()
    ledger.bulk_count = 0
    return ledger


def match_candidates(
    subjects: Iterable[Subject], matches: Callable[[Subject], bool], limit: int | None = None
) -> list[Subject]:
    """Opens candidates found by blind index only to test `matches` and withdraws them all
    again: nothing is handed over here. Stops after `limit` + 1 matches."""
    candidates = list(subjects)
    for subject in candidates:
        vault_scope.admit(subject.patient_id)
    vault_keys.preload(s.patient_id for s in candidates)
    found: list[Subject] = []
    try:
        for subject in candidates:
            if limit is not None and len(found) > limit:
                break
            if matches(subject):
                found.append(subject)
    finally:
        # Matches keep their key for the decision that follows (one DataKey query each less).
        kept = {s.patient_id for s in found}
        for subject in candidates:
            vault_scope.withdraw(subject.patient_id, keep_key=subject.patient_id in kept)
    return found


def hand_over(ledger: Ledger, subject: Subject, opened_by: str) -> None:
    vault_scope.admit(subject.patient_id)
    ledger.exposed[subject.patient_id] = opened_by


def admit_matching(
    actor: Actor,
    capability: Capability,
    subjects: Iterable[Subject],
    matches: Callable[[Subject], bool],
    limit: int,
) -> tuple[list[Subject], bool]:
    """Search: the candidates that match are decided like any access (canary, relationship,
    budget) and handed over, up to `limit`; a search that finds nobody is charged as a miss.
    Returns the matches and whether more were left out."""
    ledger = require(actor, capability)
    reachable = [s for s in subjects if _reaches(actor, s, capability)]
    found = match_candidates(reachable, matches, limit)
    more = len(found) > limit
    return _decide(ledger, found[:limit], capability, misses=0 if found else 1), more


@contextmanager
def system_job(actor: Actor, action: str) -> Iterator[Ledger]:
    """A command's unit of work: one transaction, one audit entry, refusals recorded."""
    try:
        with transaction.atomic(), boundary(actor, action) as ledger:
            yield ledger
    except Refused as refusal:
        record_refusal(actor, action, refusal)
        raise
