"""A practitioner's results to review (validated results of the orders they placed and of the
patients in their charge, not yet acknowledged by them: critical first, then abnormal, newest
first) and the laboratory work still due for patients already on a reader's list. Patients
outside the reader's care relationships are never listed: reading the list costs no exposure
budget and tells nothing the reader could not open."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from carnet.clinical.models import Encounter, EncounterKind
from carnet.clinical.sensitivity import masked_label, may_see, open_categories
from carnet.clinical.worklists import in_relationship
from carnet.guard.actors import Actor
from carnet.guard.boundary import opened_through, require
from carnet.guard.models import OUTSIDE
from carnet.guard.policy import Capability
from carnet.patients.cards import display_name

from .models import LabOrder, LabResult, LabTest, OrderStatus, Priority, ResultAcknowledgement
from .selectors import ORDER_OPEN_DAYS
from .values import Flag, display_value, flag_for, reference_text

# A validated result not acknowledged within this time leaves the list (the patient's results
# page keeps it): a list that only grows is a list nobody reads.
REVIEW_DAYS = 30
# Candidates examined (newest first), and rows shown.
REVIEW_CANDIDATES = 500
REVIEW_ROWS = 50
_CRITICAL = {Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH}


@dataclass(frozen=True)
class ReviewRow:
    result_id: int
    order_id: str
    accession: str
    patient_id: str
    patient_name: str
    test: LabTest
    shown: str
    unit: str
    flag: str
    reference: str
    validated_at: datetime.datetime
    urgent: bool
    masked: str = ""

    @property
    def abnormal(self) -> bool:
        return bool(self.flag)

    @property
    def critical(self) -> bool:
        return self.flag in _CRITICAL


@dataclass(frozen=True)
class ResultsToReview:
    rows: tuple[ReviewRow, ...]
    more: bool

    @property
    def abnormal(self) -> int:
        return sum(1 for row in self.rows if row.abnormal)


def _order(row: ReviewRow) -> tuple[int, float]:
    rank = 0 if row.critical else 1 if row.abnormal else 2
    return rank, -row.validated_at.timestamp()


def results_to_review(*, actor: Actor, limit: int = REVIEW_ROWS) -> ResultsToReview:
    """Validated results of the actor's orders, or of patients admitted in their charge, that
    they have not acknowledged; sensitive ones outside their team stay masked."""
    require(actor, Capability.ORDER_LAB)
    since = timezone.now() - datetime.timedelta(days=REVIEW_DAYS)
    in_charge = Encounter.objects.filter(
        kind=EncounterKind.ADMISSION, discharged_at__isnull=True, practitioner_id=actor.user_id
    ).values("patient_id")
    read = ResultAcknowledgement.objects.filter(result=OuterRef("pk"), user_id=actor.user_id)
    candidates = list(
        LabResult.objects.filter(validated_at__gte=since)
        .filter(Q(item__order__ordered_by_id=actor.user_id) | Q(patient_id__in=in_charge))
        .exclude(Exists(read))
        .select_related("item__test", "item__order")
        .order_by("-validated_at", "pk")[:REVIEW_CANDIDATES]
    )
    patients = in_relationship(actor, Capability.VIEW_CLINICAL, [r.patient_id for r in candidates])
    opened: dict[str, frozenset[str]] = {}
    rows = []
    for result in candidates:
        pid = str(result.patient_id)
        if pid not in patients:
            continue
        test, order = result.item.test, result.item.order
        common = {
            "result_id": result.pk,
            "order_id": str(order.pk),
            "accession": order.accession,
            "patient_id": pid,
            "patient_name": display_name(patients[pid]),
            "test": test,
            "unit": result.unit,
            "validated_at": result.validated_at,
            "urgent": order.priority == Priority.URGENT,
        }
        category = test.sensitive_category
        if category and pid not in opened:
            # Only a sensitive result asks which categories the reader opened on purpose.
            opened[pid] = open_categories(actor, pid)
        if not may_see(
            actor,
            pid,
            category,
            order.ordered_by_id,
            order.ordering_unit_id,
            opened=opened.get(pid, frozenset()),
        ):
            rows.append(
                ReviewRow(**common, shown="", flag="", reference="", masked=masked_label(category))
            )
            continue
        rows.append(
            ReviewRow(
                **common,
                shown=display_value(test, result.value),
                flag=str(flag_for(test.result_type, result.value, result.reference)),
                reference=reference_text(test, result.reference),
            )
        )
    rows.sort(key=_order)
    return ResultsToReview(rows=tuple(rows[:limit]), more=len(rows) > limit)


@dataclass(frozen=True)
class LabDue:
    """Orders of a patient not done yet: to collect (tubes still to take) or in progress."""

    to_collect: int
    in_progress: int
    urgent: bool

    @property
    def total(self) -> int:
        return self.to_collect + self.in_progress


def due_for(*, actor: Actor, patient_ids: Iterable[str]) -> dict[str, LabDue]:
    """The open orders of patients that the guard already handed over to the actor in this
    request through a care relationship (a list the actor is reading); others get nothing."""
    require(actor, Capability.VIEW_CLINICAL)
    listed = [
        str(p)
        for p in patient_ids
        if opened_through(actor, str(p)) not in ("", OUTSIDE, "existence")
    ]
    if not listed:
        return {}
    since = timezone.now() - datetime.timedelta(days=ORDER_OPEN_DAYS)
    orders = LabOrder.objects.filter(
        patient_id__in=listed,
        status__in=[OrderStatus.TO_COLLECT, OrderStatus.IN_PROGRESS],
        ordered_at__gt=since,
    ).values_list("patient_id", "status", "priority")
    counts: dict[str, list[int]] = {}
    for patient, status, priority in orders:
        row = counts.setdefault(str(patient), [0, 0, 0])
        row[0 if status == OrderStatus.TO_COLLECT else 1] += 1
        row[2] |= priority == Priority.URGENT
    return {p: LabDue(c[0], c[1], bool(c[2])) for p, c in counts.items()}
