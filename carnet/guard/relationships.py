"""Care relationships: which of these patients does the actor have a reason in the data to
open (treating doctor, appointment, encounter, admission in their unit, lab order, explicit
share, break-the-glass), and which kind of reason."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from .actors import Actor
from .models import CareRelationship, RelationshipKind
from .policy import (
    DESK_ROLES,
    DESK_WINDOW_AFTER_DAYS,
    DESK_WINDOW_BEFORE_DAYS,
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
    return CareRelationship.objects.create(
        patient_id=uuid.UUID(str(patient_id)),
        user_id=user_id,
        unit_id=unit_id,
        establishment_id=establishment_id,
        kind=kind,
        source=source,
        starts_at=starts_at or timezone.now(),
        ends_at=ends_at,
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
    CareRelationship.objects.bulk_create(
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
