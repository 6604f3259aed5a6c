"""What the top of a chart shows: allergies, active problems and history, current
medications, the last vital signs and their trend. Built for a patient the guard already
handed over; items of a sensitive category the actor may not see are masked before any
sealed field of theirs is opened."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from carnet.patients.models import Patient

from .models import Allergy, AllergyKind, Problem, ProblemScope, ProblemStatus, Route, VitalSigns
from .record import (
    MEASURES,
    bmi,
    line_ends,
    listed_allergies,
    measures_of,
    reported_medications,
    running_lines,
)
from .sensitivity import category_label
from .vitals_chart import trend_svg

Sees = Callable[[str, int | None, int | None], bool]
VITALS_SHOWN = 20


@dataclass(frozen=True)
class AllergyView:
    id: str
    kind: str
    kind_label: str
    substance: str
    substance_code: str
    reaction: str
    severity: str
    severity_label: str
    certainty: str
    certainty_label: str
    recorded_at: datetime.datetime


@dataclass(frozen=True)
class ProblemView:
    id: str
    scope: str
    active: bool
    status_label: str
    label: str
    code: str
    onset: str
    category: str
    category_label: str
    masked: bool
    recorded_at: datetime.datetime


@dataclass(frozen=True)
class CurrentMedication:
    medication: str
    dosage: str
    until: datetime.datetime | None
    category: str
    category_label: str
    masked: bool
    # Reported by the patient (not prescribed here): the row to end when they stop it.
    reported_id: str = ""
    # Prescribed here: the prescription line it comes from.
    line_id: str = ""
    # Since when: the prescription signed, or the patient's report recorded.
    since: datetime.datetime | None = None


@dataclass(frozen=True)
class VitalsView:
    id: str
    taken_at: datetime.datetime
    values: dict[str, Decimal]
    bmi: Decimal | None

    def get(self, key: str) -> Decimal | None:
        return self.values.get(key)

    @property
    def blood_pressure(self) -> str:
        if "systolic" not in self.values:
            return ""
        return f"{self.values['systolic']}/{self.values['diastolic']}"


@dataclass(frozen=True)
class Summary:
    allergies: tuple[AllergyView, ...]
    none_known: tuple[AllergyView, ...]
    problems: tuple[ProblemView, ...]
    history: tuple[ProblemView, ...]
    medications: tuple[CurrentMedication, ...]
    vitals: tuple[VitalsView, ...]
    trend: str

    @property
    def no_known_allergy(self) -> bool:
        return bool(self.none_known) and not self.allergies

    @property
    def last_vitals(self) -> VitalsView | None:
        return self.vitals[0] if self.vitals else None


def _allergy_view(allergy: Allergy) -> AllergyView:
    return AllergyView(
        id=str(allergy.pk),
        kind=allergy.kind,
        kind_label=allergy.get_kind_display(),
        substance=allergy.substance or "",
        substance_code=allergy.substance_code or "",
        reaction=allergy.reaction or "",
        severity=allergy.severity,
        severity_label=allergy.get_severity_display() if allergy.severity else "",
        certainty=allergy.certainty,
        certainty_label=allergy.get_certainty_display() if allergy.certainty else "",
        recorded_at=allergy.recorded_at,
    )


def _problem_view(problem: Problem, sees: Sees) -> ProblemView:
    visible = sees(problem.category, problem.recorded_by_id, problem.author_unit_id)
    return ProblemView(
        id=str(problem.pk),
        scope=problem.scope,
        active=problem.status == ProblemStatus.ACTIVE,
        status_label=problem.get_status_display(),
        label=(problem.label or "") if visible else "",
        code=(problem.code or "") if visible else "",
        onset=(problem.onset or "") if visible else "",
        category=problem.category,
        category_label=category_label(problem.category) if problem.category else "",
        masked=not visible,
        recorded_at=problem.recorded_at,
    )


def dosage_text(dose: str, frequency: str | None, route: str) -> str:
    parts = [dose]
    if frequency:
        parts.append(frequency)
    if route:
        try:
            parts.append(str(Route(route).label).lower())
        except ValueError:
            parts.append(route)
    return ", ".join(p for p in parts if p)


def current_medications(patient: Patient, sees: Sees) -> tuple[CurrentMedication, ...]:
    out = []
    for line in running_lines(patient):
        prescription = line.prescription
        visible = sees(
            prescription.category, prescription.prescriber.user_id, prescription.author_unit_id
        )
        out.append(
            CurrentMedication(
                medication=str(line.medication) if visible else "",
                dosage=dosage_text(line.dosage or "", line.frequency, line.route)
                if visible
                else "",
                until=line_ends(line, prescription.created_at),
                category=prescription.category,
                category_label=category_label(prescription.category)
                if prescription.category
                else "",
                masked=not visible,
                line_id=str(line.pk),
                since=prescription.created_at,
            )
        )
    for reported in reported_medications(patient):
        visible = sees(reported.category, reported.recorded_by_id, reported.author_unit_id)
        out.append(
            CurrentMedication(
                medication=(reported.name or "") if visible else "",
                dosage=(reported.dosage or "") if visible else "",
                until=None,
                category=reported.category,
                category_label=category_label(reported.category) if reported.category else "",
                masked=not visible,
                reported_id=str(reported.pk),
                since=reported.recorded_at,
            )
        )
    return tuple(out)


def _vitals_views(rows: Sequence[VitalSigns]) -> tuple[VitalsView, ...]:
    views = []
    last_height: Decimal | None = None
    for row in sorted(rows, key=lambda r: r.taken_at):
        values = measures_of(row)
        last_height = values.get("height", last_height)
        views.append(
            VitalsView(
                id=str(row.pk),
                taken_at=row.taken_at,
                values=values,
                bmi=bmi(values.get("weight"), last_height),
            )
        )
    return tuple(reversed(views))


def build_summary(patient: Patient, sees: Sees) -> Summary:
    allergies = listed_allergies(patient)
    problems = [
        _problem_view(p, sees)
        for p in Problem.objects.filter(patient=patient).order_by("-recorded_at")
    ]
    vitals = _vitals_views(
        list(VitalSigns.objects.filter(patient=patient).order_by("-taken_at")[:VITALS_SHOWN])
    )
    return Summary(
        allergies=tuple(_allergy_view(a) for a in allergies if a.kind != AllergyKind.NONE_KNOWN),
        none_known=tuple(_allergy_view(a) for a in allergies if a.kind == AllergyKind.NONE_KNOWN),
        problems=tuple(p for p in problems if p.scope == ProblemScope.PERSONAL),
        history=tuple(p for p in problems if p.scope == ProblemScope.FAMILY),
        medications=current_medications(patient, sees),
        vitals=vitals,
        trend=trend_svg(vitals) if len(vitals) >= 2 else "",
    )


__all__ = ["MEASURES", "Summary", "build_summary", "dosage_text"]
