"""The structured record beside the notes: allergies and intolerances ("no known allergy"
recorded as such), the problem list and history (CIM-10 coded when the shipped subset has the
code), vital signs, and the current medications derived from prescriptions still running.
Every write takes its patient from the guard; nothing here is read outside a chart."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused
from carnet.guard.policy import Capability
from carnet.patients.models import Patient
from carnet.patients.selectors import parse_patient_id

from .access import encounter_of, single_unit, writable_patient
from .formulary import allergen_label, cim10_codes
from .models import (
    Allergy,
    AllergyKind,
    Certainty,
    Medication,
    PrescriptionLine,
    Problem,
    ProblemScope,
    ProblemStatus,
    ReportedMedication,
    Severity,
    VitalSigns,
)
from .notes import clean_category

MAX_TEXT = 300


def _short(value: str, field: str) -> str:
    value = " ".join((value or "").split())
    if len(value) > MAX_TEXT:
        raise ValidationError(
            {field: _("Keep it under %(count)d characters.") % {"count": MAX_TEXT}}
        )
    return value


# Allergies -------------------------------------------------------------------------------


def record_allergy(
    *,
    actor: Actor,
    patient_id: object,
    kind: str,
    substance_code: str = "",
    substance: str = "",
    reaction: str = "",
    severity: str = "",
    certainty: str = "",
) -> Allergy:
    """Records an allergy or intolerance, or "no known allergy" (which an allergy recorded
    later ends, and which cannot sit beside an allergy still listed)."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_ALLERGY, patient_id)
        if kind not in AllergyKind.values:
            raise ValidationError({"kind": _("Choose allergy, intolerance or no known allergy.")})
        now = timezone.now()
        listed = Allergy.objects.select_for_update().filter(patient=patient, ended_at__isnull=True)
        allergy = Allergy(patient=patient, kind=kind, recorded_by_id=actor.user_id, recorded_at=now)
        if kind == AllergyKind.NONE_KNOWN:
            if listed.exclude(kind=AllergyKind.NONE_KNOWN).exists():
                raise ValidationError(
                    {"kind": _("Allergies are listed: end them before recording none known.")}
                )
            listed.filter(kind=AllergyKind.NONE_KNOWN).update(ended_at=now)
        else:
            if substance_code and not allergen_label(substance_code):
                raise ValidationError({"substance_code": _("Choose a substance from the list.")})
            substance = _short(substance, "substance")
            if not substance_code and not substance:
                raise ValidationError(
                    {"substance": _("Name the substance (from the list, or written out).")}
                )
            if severity not in Severity.values or certainty not in Certainty.values:
                raise ValidationError({"severity": _("Say how severe and how certain it is.")})
            allergy.severity, allergy.certainty = severity, certainty
            allergy.substance = substance or allergen_label(substance_code)
            allergy.substance_code = substance_code
            allergy.reaction = _short(reaction, "reaction")
            listed.filter(kind=AllergyKind.NONE_KNOWN).update(ended_at=now)
        allergy.save()
    return allergy


def end_allergy(*, actor: Actor, patient_id: object, allergy_id: object) -> Allergy:
    """Ends an allergy recorded in error or refuted; the row stays, with when it ended."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_ALLERGY, patient_id)
        key = parse_patient_id(allergy_id)
        allergy = (
            Allergy.objects.select_for_update()
            .filter(pk=key, patient=patient, ended_at__isnull=True)
            .first()
            if key
            else None
        )
        if allergy is None:
            raise Refused("no such allergy for this patient", patients=[str(patient.id)])
        allergy.ended_at = timezone.now()
        allergy.save(update_fields=["ended_at"])
    return allergy


def listed_allergies(patient: Patient) -> list[Allergy]:
    """The allergies of a patient the guard already handed over, still listed."""
    return list(
        Allergy.objects.filter(patient=patient, ended_at__isnull=True)
        .select_related("recorded_by")
        .order_by("-recorded_at")
    )


# Problems --------------------------------------------------------------------------------


def record_problem(
    *,
    actor: Actor,
    patient_id: object,
    label: str = "",
    code: str = "",
    scope: str = ProblemScope.PERSONAL,
    status: str = ProblemStatus.ACTIVE,
    onset: str = "",
    category: str = "",
) -> Problem:
    """A problem or history item. A CIM-10 code of the shipped subset names it and brings its
    sensitive category (F: psychiatry or addiction, B20: HIV...) unless one was chosen."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_PROBLEM, patient_id)
        errors = {}
        coded = cim10_codes().get(code) if code else None
        if code and coded is None:
            errors["code"] = _("Choose a CIM-10 code from the list, or leave it empty.")
        label = _short(label, "label") or (coded[0] if coded else "")
        if not label and "code" not in errors:
            errors["label"] = _("Name the problem or choose its CIM-10 code.")
        if scope not in ProblemScope.values:
            errors["scope"] = _("Choose personal or family history.")
        if status not in ProblemStatus.values:
            errors["status"] = _("Choose active or resolved.")
        if errors:
            raise ValidationError(errors)
        now = timezone.now()
        problem = Problem(
            patient=patient,
            scope=scope,
            status=status,
            category=clean_category(category) or (coded[1] if coded else ""),
            recorded_by_id=actor.user_id,
            author_unit_id=single_unit(actor),
            recorded_at=now,
            resolved_at=now if status == ProblemStatus.RESOLVED else None,
        )
        problem.label = label
        problem.code = code if coded else ""
        problem.onset = _short(onset, "onset")
        problem.save()
    return problem


def resolve_problem(*, actor: Actor, patient_id: object, problem_id: object) -> Problem:
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_PROBLEM, patient_id)
        key = parse_patient_id(problem_id)
        problem = (
            Problem.objects.select_for_update()
            .filter(pk=key, patient=patient, status=ProblemStatus.ACTIVE)
            .first()
            if key
            else None
        )
        if problem is None:
            raise Refused("no such problem for this patient", patients=[str(patient.id)])
        problem.status = ProblemStatus.RESOLVED
        problem.resolved_at = timezone.now()
        problem.save(update_fields=["status", "resolved_at"])
    return problem


# Vital signs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    label: object
    unit: str
    low: Decimal
    high: Decimal
    places: int = 0


MEASURES = (
    Measure("systolic", gettext_lazy("Systolic BP"), "mmHg", Decimal(40), Decimal(300)),
    Measure("diastolic", gettext_lazy("Diastolic BP"), "mmHg", Decimal(20), Decimal(200)),
    Measure("pulse", gettext_lazy("Pulse"), "/min", Decimal(20), Decimal(250)),
    Measure("temperature", gettext_lazy("Temperature"), "°C", Decimal(30), Decimal(44), 1),
    Measure("spo2", gettext_lazy("SpO2"), "%", Decimal(50), Decimal(100)),
    Measure("weight", gettext_lazy("Weight"), "kg", Decimal("0.5"), Decimal(400), 1),
    Measure("height", gettext_lazy("Height"), "cm", Decimal(30), Decimal(250)),
    Measure("pain", gettext_lazy("Pain (0-10)"), "/10", Decimal(0), Decimal(10)),
)
_BY_KEY = {m.key: m for m in MEASURES}


def _clean_measures(values: dict[str, object]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key, raw in values.items():
        measure = _BY_KEY.get(key)
        text = str(raw if raw is not None else "").strip().replace(",", ".")
        if measure is None or not text:
            continue
        try:
            number = Decimal(text)
        except InvalidOperation:
            errors[key] = _("Write a number.")
            continue
        if not measure.low <= number <= measure.high:
            errors[key] = _("Between %(low)s and %(high)s %(unit)s.") % {
                "low": measure.low,
                "high": measure.high,
                "unit": measure.unit,
            }
            continue
        cleaned[key] = str(round(number, measure.places))
    if ("systolic" in cleaned) != ("diastolic" in cleaned) and not errors:
        errors["systolic"] = _("Give both the systolic and the diastolic pressure.")
    if not cleaned and not errors:
        errors["systolic"] = _("Enter at least one measure.")
    if errors:
        raise ValidationError(errors)
    return cleaned


def record_vitals(
    *,
    actor: Actor,
    patient_id: object,
    values: dict[str, object],
    encounter_id: object = None,
    taken_at: datetime.datetime | None = None,
) -> VitalSigns:
    """Vital signs taken now (or a moment ago, never in the future), by a nurse or a
    practitioner; the measures out of a human range are refused with the range."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_VITALS, patient_id)
        encounter = encounter_of(patient, encounter_id) if encounter_id else None
        now = timezone.now()
        taken_at = taken_at or now
        if taken_at > now or taken_at < now - datetime.timedelta(days=2):
            raise ValidationError({"taken_at": _("Vital signs are recorded within two days.")})
        vitals = VitalSigns(
            patient=patient, encounter=encounter, taken_at=taken_at, recorded_by_id=actor.user_id
        )
        vitals.measures = json.dumps(_clean_measures(values), sort_keys=True)
        vitals.save()
    return vitals


def measures_of(vitals: VitalSigns) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in json.loads(vitals.measures or "{}").items()}


def bmi(weight: Decimal | None, height: Decimal | None) -> Decimal | None:
    """Body mass index, kg/m², from a weight and a height in cm."""
    if not weight or not height:
        return None
    metres = height / 100
    return round(weight / (metres * metres), 1)


# Current medications ---------------------------------------------------------------------


def line_ends(line: PrescriptionLine, created_at: datetime.datetime) -> datetime.datetime:
    """When a line stops running: its duration, once per renewal included."""
    return created_at + datetime.timedelta(days=line.duration_days * (1 + line.renewals))


def running_lines(patient: Patient) -> list[PrescriptionLine]:
    """The lines of this patient's prescriptions still running now (the current medications),
    with their prescription; sensitivity is for the caller to apply."""
    now = timezone.now()
    earliest = now - datetime.timedelta(days=365 * 13)
    lines = (
        PrescriptionLine.objects.filter(patient=patient, prescription__created_at__gte=earliest)
        .select_related("medication", "prescription__prescriber")
        .order_by("-prescription__created_at", "position")
    )
    return [line for line in lines if line_ends(line, line.prescription.created_at) > now]


def record_reported_medication(
    *,
    actor: Actor,
    patient_id: object,
    medication_id: int | None = None,
    name: str = "",
    dosage: str = "",
    category: str = "",
) -> ReportedMedication:
    """A medication the patient reports taking, from the shipped list (then checked against
    what is prescribed) or written out; takes the medication's sensitive category."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_ALLERGY, patient_id)
        medication = (
            Medication.objects.filter(pk=medication_id, active=True).first()
            if medication_id
            else None
        )
        if medication_id and medication is None:
            raise ValidationError({"medication": _("Choose a medication from the list.")})
        name = _short(name, "name") or (str(medication) if medication else "")
        if not name:
            raise ValidationError(
                {"name": _("Name the medication (from the list, or written out).")}
            )
        reported = ReportedMedication(
            patient=patient,
            medication=medication,
            category=clean_category(category) or (medication.sensitive if medication else ""),
            recorded_by_id=actor.user_id,
            author_unit_id=single_unit(actor),
            recorded_at=timezone.now(),
        )
        reported.name = name
        reported.dosage = _short(dosage, "dosage")
        reported.save()
    return reported


def end_reported_medication(
    *, actor: Actor, patient_id: object, reported_id: object
) -> ReportedMedication:
    with transaction.atomic():
        patient = writable_patient(actor, Capability.RECORD_ALLERGY, patient_id)
        key = parse_patient_id(reported_id)
        reported = (
            ReportedMedication.objects.select_for_update()
            .filter(pk=key, patient=patient, ended_at__isnull=True)
            .first()
            if key
            else None
        )
        if reported is None:
            raise Refused("no such reported medication", patients=[str(patient.id)])
        reported.ended_at = timezone.now()
        reported.save(update_fields=["ended_at"])
    return reported


def reported_medications(patient: Patient) -> list[ReportedMedication]:
    return list(
        ReportedMedication.objects.filter(patient=patient, ended_at__isnull=True)
        .select_related("medication")
        .order_by("-recorded_at")
    )
