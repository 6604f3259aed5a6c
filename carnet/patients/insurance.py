"""Insurance cards: AMO (the mandatory scheme) and AMC (the complementary, "mutuelle"), with
their whole history. A new card supersedes the current one and never overwrites it; the current
card is derived. Numbers, organism and scheme are sealed; everything goes through the guard."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from carnet.guard.actors import Actor
from carnet.guard.boundary import ledger_for
from carnet.guard.policy import Capability

from .cards import display_name
from .models import AmoScheme, ComplementaryCoverage, MandatoryCoverage, Patient
from .selectors import guarded_patient, writable_patient


@dataclass(frozen=True)
class _Card:
    id: int
    valid_from: datetime.date
    valid_to: datetime.date | None
    recorded_at: datetime.datetime
    recorded_by: str
    superseded_at: datetime.datetime | None

    @property
    def current(self) -> bool:
        return self.superseded_at is None

    @property
    def expired(self) -> bool:
        return self.valid_to is not None and self.valid_to < timezone.localdate()

    @property
    def not_yet(self) -> bool:
        return self.valid_from > timezone.localdate()


@dataclass(frozen=True)
class MandatoryCard(_Card):
    scheme: str
    fund_code: str

    @property
    def scheme_label(self) -> str:
        return str(AmoScheme(self.scheme).label) if self.scheme in AmoScheme.values else ""

    @property
    def fund_display(self) -> str:
        """As printed on the card: scheme, caisse, centre (01 691 0000)."""
        return " ".join(p for p in (self.scheme, self.fund_code[:3], self.fund_code[3:]) if p)


@dataclass(frozen=True)
class ComplementaryCard(_Card):
    organism: str
    amc_number: str
    member_number: str


@dataclass(frozen=True)
class CoverageSheet:
    patient_id: str
    name: str
    read_only: bool
    mandatory: tuple[MandatoryCard, ...]  # newest first
    complementary: tuple[ComplementaryCard, ...]

    @property
    def current_mandatory(self) -> MandatoryCard | None:
        return next((c for c in self.mandatory if c.current), None)

    @property
    def current_complementary(self) -> ComplementaryCard | None:
        return next((c for c in self.complementary if c.current), None)

    @property
    def past(self) -> tuple[MandatoryCard | ComplementaryCard, ...]:
        """Every other card. After a merge, the merged record's card may still be unsuperseded
        beside the survivor's: the newest is the current one, the other is listed here."""
        current = (self.current_mandatory, self.current_complementary)
        cards = [c for c in (*self.mandatory, *self.complementary) if c not in current]
        return tuple(sorted(cards, key=lambda c: c.recorded_at, reverse=True))


def _common(row: MandatoryCoverage | ComplementaryCoverage) -> dict[str, Any]:
    user = row.recorded_by
    return {
        "id": row.pk,
        "valid_from": row.valid_from,
        "valid_to": row.valid_to,
        "recorded_at": row.recorded_at,
        "recorded_by": (user.get_full_name() or user.username) if user else "",
        "superseded_at": row.superseded_at,
    }


def _sheet(patient: Patient) -> CoverageSheet:
    mandatory = MandatoryCoverage.objects.filter(patient=patient).select_related("recorded_by")
    complementary = ComplementaryCoverage.objects.filter(patient=patient).select_related(
        "recorded_by"
    )
    newest = ("-recorded_at", "-pk")
    return CoverageSheet(
        patient_id=str(patient.id),
        name=display_name(patient),
        read_only=patient.read_only,
        mandatory=tuple(
            MandatoryCard(**_common(r), scheme=r.scheme or "", fund_code=r.fund_code or "")
            for r in mandatory.order_by(*newest)
        ),
        complementary=tuple(
            ComplementaryCard(
                **_common(r),
                organism=r.organism or "",
                amc_number=r.amc_number or "",
                member_number=r.member_number or "",
            )
            for r in complementary.order_by(*newest)
        ),
    )


def coverage_of(*, actor: Actor, patient_id: object) -> CoverageSheet:
    """Current and past cards of a patient the guard hands over (as the identity page)."""
    return _sheet(guarded_patient(actor, Capability.VIEW_IDENTITY, patient_id))


def _record(
    actor: Actor, patient_id: object, model: type[MandatoryCoverage | ComplementaryCoverage]
) -> tuple[Patient, MandatoryCoverage | ComplementaryCoverage]:
    """The patient (writable) and a new card row that supersedes the current one: the
    patient's row is locked, so two cards recorded at once still leave one current."""
    patient = writable_patient(actor, Capability.MANAGE_INSURANCE, patient_id)
    Patient.objects.select_for_update().filter(pk=patient.pk).exists()
    now = timezone.now()
    model.objects.filter(patient=patient, superseded_at__isnull=True).update(superseded_at=now)
    return patient, model(patient=patient, recorded_at=now, recorded_by_id=actor.user_id)


def record_mandatory_coverage(
    *, actor: Actor, patient_id: object, data: dict[str, Any]
) -> CoverageSheet:
    with transaction.atomic():
        patient, card = _record(actor, patient_id, MandatoryCoverage)
        card.scheme = data["scheme"]
        card.fund_code = data["fund_code"]
        card.valid_from = data["valid_from"]
        card.valid_to = data.get("valid_to")
        card.save()
        ledger_for(actor).reason = f"new AMO card recorded ({card.pk})"
    return _sheet(patient)


def record_complementary_coverage(
    *, actor: Actor, patient_id: object, data: dict[str, Any]
) -> CoverageSheet:
    with transaction.atomic():
        patient, card = _record(actor, patient_id, ComplementaryCoverage)
        card.organism = data["organism"]
        card.amc_number = data["amc_number"]
        card.member_number = data["member_number"]
        card.valid_from = data["valid_from"]
        card.valid_to = data.get("valid_to")
        card.save()
        ledger_for(actor).reason = f"new AMC card recorded ({card.pk})"
    return _sheet(patient)
