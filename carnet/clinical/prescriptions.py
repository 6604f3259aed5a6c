"""Prescriptions by a practitioner with an RPPS number: lines naming medications of the
shipped list, with a sealed dosage, a duration and renewals. A prescription of a medication
that tells a sensitive category by itself (antiretrovirals, opioid substitution) takes that
category unless the prescriber chose one."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.policy import Capability
from carnet.staff.models import Practitioner

from .access import encounter_of, establishment_for, single_unit, writable_patient
from .models import Medication, Prescription, PrescriptionLine
from .notes import clean_category

MAX_LINES = 12
MAX_DOSAGE = 500
MAX_NOTES = 2000


@dataclass(frozen=True)
class LineInput:
    medication_id: int
    dosage: str
    duration_days: int
    renewals: int = 0


def medications() -> QuerySet:
    return Medication.objects.filter(active=True).order_by("dci", "strength")


def _clean_lines(lines: list[LineInput]) -> list[tuple[Medication, LineInput]]:
    if not lines:
        raise ValidationError(_("Add at least one medication to the prescription."))
    if len(lines) > MAX_LINES:
        raise ValidationError(
            _("A prescription holds at most %(count)d lines.") % {"count": MAX_LINES}
        )
    known = medications().in_bulk([line.medication_id for line in lines])
    cleaned = []
    for number, line in enumerate(lines, start=1):
        medication = known.get(line.medication_id)
        problem = ""
        if medication is None:
            problem = _("choose a medication from the list")
        elif not line.dosage.strip() or len(line.dosage) > MAX_DOSAGE:
            problem = _("write the dosage (how much, how often)")
        elif not 1 <= line.duration_days <= 365:
            problem = _("the duration is between 1 and 365 days")
        elif not 0 <= line.renewals <= 12:
            problem = _("renewals are between 0 and 12")
        if problem:
            raise ValidationError(
                _("Line %(number)d: %(problem)s.") % {"number": number, "problem": problem}
            )
        assert medication is not None
        cleaned.append((medication, line))
    return cleaned


def prescribe(
    *,
    actor: Actor,
    patient_id: object,
    lines: list[LineInput],
    notes: str = "",
    encounter_id: object = None,
    category: str = "",
) -> Prescription:
    with transaction.atomic():
        patient = writable_patient(actor, Capability.PRESCRIBE, patient_id)
        prescriber = Practitioner.objects.filter(user_id=actor.user_id).first()
        if prescriber is None:
            raise ValidationError(_("Only a practitioner with an RPPS number can prescribe."))
        encounter = encounter_of(patient, encounter_id) if encounter_id else None
        cleaned = _clean_lines(lines)
        category = clean_category(category) or next(
            (medication.sensitive for medication, _line in cleaned if medication.sensitive), ""
        )
        notes = notes.strip()
        if len(notes) > MAX_NOTES:
            raise ValidationError(
                {"notes": _("Keep the notes under %(count)d characters.") % {"count": MAX_NOTES}}
            )
        prescription = Prescription(
            patient=patient,
            prescriber=prescriber,
            establishment_id=(
                encounter.establishment_id if encounter else establishment_for(actor, patient)
            ),
            encounter=encounter,
            created_at=timezone.now(),
            category=category,
            author_unit_id=(encounter.unit_id if encounter else None) or single_unit(actor),
        )
        prescription.notes = notes
        prescription.save()
        for position, (medication, line) in enumerate(cleaned, start=1):
            row = PrescriptionLine(
                prescription=prescription,
                patient=patient,
                position=position,
                medication=medication,
                duration_days=line.duration_days,
                renewals=line.renewals,
            )
            row.dosage = line.dosage.strip()
            row.save()
    return prescription
