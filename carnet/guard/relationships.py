"""Care relationships: which of these patients does the actor have a reason in the data to
open (treating doctor, appointment, encounter, admission in their unit, lab order, explicit
share, break-the-glass), and which kind of reason."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from . import budgets
from .actors import Actor
from .models import CareRelationship, RelationshipKind
from .policy import (
    DESK_ROLES,
    DESK_WINDOW_AFTER_DAYS,
    DESK_WINDOW_BEFORE_DAYS,
    FOLLOW_UP_DAYS,
    LAB_CAPABILITIES,
    LAB_ROLES,
)


def active(now: datetime.datetime | None = None) -> Q:
    now = now or timezone.now()
    return Q(starts_at__lte=now) & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def kinds_for(
    actor: Actor, patient_ids: Iterable[str], capability: str | None = None
) -> dict[str, str]:
    """`capability` is what the actor is about to do: a laboratory's orders open their
    patients to its technicians for the laboratory's work only."""
    ids = list(patient_ids)
    if not ids or actor.user_id is None:
        return {}
    now = timezone.now()
    mine = Q(user_id=actor.user_id)
    if actor.unit_ids:
        mine |= Q(unit_id__in=actor.unit_ids)
    if actor.establishment_ids:
        at_mine = Q(establishment_id__in=actor.establishment_ids)
        lab_order = Q(kind=RelationshipKind.LAB_ORDER)
        if actor.role in DESK_ROLES:
            mine |= at_mine & ~lab_order
        if actor.role in LAB_ROLES and capability in LAB_CAPABILITIES:
            mine |= at_mine & lab_order
    rows = CareRelationship.objects.filter(active(now), mine, patient_id__in=ids).values_list(
        "patient_id", "kind"
    )
    found: dict[str, str] = {}
    # A care relationship names what opened the record before a break-the-glass does.
    for patient, kind in sorted(rows, key=lambda row: row[1] == RelationshipKind.BREAK_GLASS):
        found.setdefault(str(patient), kind)
    return found


UPCOMING_DAYS = 180


def upcoming(actor: Actor, patient_ids: Iterable[str]) -> set[str]:
    """The patients with an appointment to come at one of the actor's establishments whose desk
    window has not opened yet (within six months)."""
    ids = list(patient_ids)
    if not ids or not actor.establishment_ids:
        return set()
    now = timezone.now()
    rows = CareRelationship.objects.filter(
        kind=RelationshipKind.APPOINTMENT,
        establishment_id__in=actor.establishment_ids,
        patient_id__in=ids,
        starts_at__gt=now,
        starts_at__lte=now + datetime.timedelta(days=UPCOMING_DAYS),
    ).values_list("patient_id", flat=True)
    return {str(p) for p in rows}


def relate(
    *,
    patient_id: object,
    kind: str,
    user_id: int | None = None,
    unit_id: int | None = None,
    establishment_id: int | None = None,
    source: str = "",
    starts_at: datetime.datetime | None = None,
    ends_at: datetime.datetime | None = None,
) -> CareRelationship:
    """Records a relationship (domains call this as care happens)."""
    made = CareRelationship.objects.create(
        patient_id=uuid.UUID(str(patient_id)),
        user_id=user_id,
        unit_id=unit_id,
        establishment_id=establishment_id,
        kind=kind,
        source=source,
        starts_at=starts_at or timezone.now(),
        ends_at=ends_at,
    )
    _explains([str(patient_id)], kind, source)
    return made


# The acts of care whose birth explains what the acting account looked at just before.
_EXPLAINING = frozenset(
    {
        RelationshipKind.APPOINTMENT,
        RelationshipKind.ENCOUNTER,
        RelationshipKind.ADMISSION,
        RelationshipKind.LAB_ORDER,
        RelationshipKind.TREATING_DOCTOR,
    }
)


def _explains(patient_ids: list[str], kind: str, source: str) -> None:
    """A booking, an admission, an order... made in this request explains the patient the
    same account exposed outside any relationship in the minutes before (found by a search
    to be booked, say): that look is no longer counted, and the account follows the patient
    for a few days. Bounded per hour and day (guard.policy)."""
    if kind not in _EXPLAINING:
        return
    from .boundary import current_ledger

    ledger = current_ledger()
    if ledger is None or ledger.actor.user_id is None or ledger.actor.is_system:
        return
    explained = budgets.explain(ledger.actor, patient_ids, by=source or kind)
    now = timezone.now()
    CareRelationship.objects.bulk_create(
        CareRelationship(
            patient_id=uuid.UUID(patient),
            user_id=ledger.actor.user_id,
            kind=RelationshipKind.FOLLOW_UP,
            source=(source or kind)[:64],
            starts_at=now,
            ends_at=now + datetime.timedelta(days=FOLLOW_UP_DAYS),
        )
        for patient in explained
    )


def end(*, patient_id: object, kind: str, source: str = "", user_id: int | None = None) -> int:
    """Ends the open relationships of that kind (and source, and user when given)."""
    query = CareRelationship.objects.filter(active(), patient_id=patient_id, kind=kind)
    if source:
        query = query.filter(source=source)
    if user_id is not None:
        query = query.filter(user_id=user_id)
    return query.update(ends_at=timezone.now())


def relate_many(
    rows: Iterable[tuple[object, int, str] | tuple[object, int, str, datetime.datetime | None]],
    *,
    source: str = "identity",
) -> None:
    """Bulk form of `relate` for imports: (patient id, user id, kind[, ends_at]) rows."""
    now = timezone.now()
    CareRelationship.objects.bulk_create(
        CareRelationship(
            patient_id=row[0],
            user_id=row[1],
            kind=row[2],
            source=source,
            starts_at=now,
            ends_at=row[3] if len(row) > 3 else None,
        )
        for row in rows
    )


def desk_window(
    starts_at: datetime.datetime, ends_at: datetime.datetime
) -> tuple[datetime.datetime, datetime.datetime]:
    """When the desk of the establishment may open a booked patient: the short window around
    the appointment (a week before, a day after)."""
    return (
        starts_at - datetime.timedelta(days=DESK_WINDOW_BEFORE_DAYS),
        ends_at + datetime.timedelta(days=DESK_WINDOW_AFTER_DAYS),
    )


def relate_desk_many(
    rows: Iterable[tuple[object, int, datetime.datetime, datetime.datetime]], *, source: str
) -> None:
    """(patient id, establishment id, appointment start, appointment end) rows: the desk's
    relationships around appointments."""
    made = CareRelationship.objects.bulk_create(
        CareRelationship(
            patient_id=patient,
            establishment_id=establishment,
            kind=RelationshipKind.APPOINTMENT,
            source=source,
            starts_at=desk_window(start, end)[0],
            ends_at=desk_window(start, end)[1],
        )
        for patient, establishment, start, end in rows
    )
    _explains([str(r.patient_id) for r in made], RelationshipKind.APPOINTMENT, source)
