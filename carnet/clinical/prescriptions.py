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
from carnet.guard.boundary import ledger_for
from carnet.guard.policy import Capability
from carnet.patients.models import Patient
from carnet.staff.models import Practitioner

from .access import encounter_of, establishment_for, single_unit, writable_patient
from .models import Medication, Prescription, PrescriptionLine, Route
from .notes import clean_category
from .safety import Alert, check_prescription
from .sensitivity import may_see, open_categories

MAX_LINES = 12
MAX_DOSAGE = 500
MAX_NOTES = 2000
MIN_REASON_LETTERS = 10


class PrescriptionWarnings(ValidationError):
    """The prescription was checked and warns: not signed until the prescriber overrides
    with a reason (and, for an allergy contraindication, confirms a second time)."""

    def __init__(self, warnings: list[Alert], message: str) -> None:
        super().__init__(message)
        self.warnings = warnings


_ROUTE_BY_FORM = (
    ("sublingual", Route.SUBLINGUAL),
    ("inhalation", Route.INHALED),
    ("transdermique", Route.TRANSDERMAL),
    ("injectable", Route.SUBCUTANEOUS),
    ("suppositoire", Route.RECTAL),
    ("crème", Route.TOPICAL),
)


def route_for(medication: Medication) -> str:
    """The usual route of a medication's form (what the form proposes first)."""
    form = medication.form.casefold()
    return next((route for word, route in _ROUTE_BY_FORM if word in form), Route.ORAL)


@dataclass(frozen=True)
class LineInput:
    """One line as the prescriber wrote it: the dose per intake (`dosage`, "1 comprimé"),
    the route, the frequency ("matin et soir") and the duration, all required."""

    medication_id: int
    dosage: str
    duration_days: int
    renewals: int = 0
    route: str = ""
    frequency: str = ""
    # In relation to the patient's long-term condition (ALD): upper zone of the bizone layout.
    ald: bool = False


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
            problem = _("write the dose (how much at each intake)")
        elif line.route not in Route.values:
            problem = _("choose the route")
        elif not line.frequency.strip() or len(line.frequency) > MAX_DOSAGE:
            problem = _("write the frequency (how often)")
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
    override_reason: str = "",
    confirm_allergy: bool = False,
) -> Prescription:
    """Checks the lines against the patient's allergies and current medications before
    signing; any warning stops it unless overridden with a reason (recorded on the
    prescription and in the audit), an allergy contraindication unless confirmed again."""
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
        overridden = _checked(actor, patient, cleaned, override_reason, confirm_allergy)
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
        prescription.overridden = overridden or None
        prescription.save()
        for position, (medication, line) in enumerate(cleaned, start=1):
            row = PrescriptionLine(
                prescription=prescription,
                patient=patient,
                position=position,
                medication=medication,
                duration_days=line.duration_days,
                renewals=line.renewals,
                route=line.route,
                ald=line.ald,
            )
            row.dosage = line.dosage.strip()
            row.frequency = line.frequency.strip()
            row.save()
    return prescription


def _checked(
    actor: Actor,
    patient: Patient,
    cleaned: list[tuple[Medication, LineInput]],
    override_reason: str,
    confirm_allergy: bool,
) -> str:
    """The warnings and the reason to keep on the prescription, or PrescriptionWarnings."""
    opened = open_categories(actor, patient.pk)

    def sees(category: str, author: int | None, unit: int | None) -> bool:
        return may_see(actor, patient.pk, category, author, unit, opened=opened)

    warnings = check_prescription(
        patient=patient,
        medications=[medication for medication, _line in cleaned],
        sees=sees,
    )
    if not warnings:
        return ""
    reason = " ".join(override_reason.split())
    if len(reason) < MIN_REASON_LETTERS:
        raise PrescriptionWarnings(
            warnings,
            _(
                "This prescription raises warnings: review them, then change it or go on with "
                "a reason (at least %(count)d characters)."
            )
            % {"count": MIN_REASON_LETTERS},
        )
    if any(w.needs_confirmation for w in warnings) and not confirm_allergy:
        raise PrescriptionWarnings(
            warnings,
            _(
                "A medication is contraindicated by a recorded allergy: confirm a second time "
                "that you prescribe it knowingly."
            ),
        )
    kinds = sorted({f"{w.kind}:{w.level}" for w in warnings})
    ledger_for(actor).reason = f"prescription warnings overridden ({', '.join(kinds)}): {reason}"
    shown = "\n".join(f"[{w.level_label}] {w.message}" for w in warnings)
    return f"{shown}\n{_('Reason')}: {reason}"
