"""The checks a prescription passes before it is signed: the patient's allergies (by
substance and by class), duplicate therapy with the current medications or within the
prescription (same substance, or a class of which one is enough), and interactions by the
levels of the ANSM thesaurus. A current medication the prescriber may not see (a sensitive
category not opened) is checked too, and named only by its category."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.translation import gettext as _

from carnet.patients.models import Patient

from .formulary import (
    LEVEL_LABELS,
    LEVELS,
    Substance,
    allergy_classes,
    class_label,
    duplicate_classes,
    formulary,
    interaction_between,
    substance_of,
)
from .models import Allergy, AllergyKind, Medication
from .record import listed_allergies, reported_medications, running_lines
from .sensitivity import category_label

Sees = Callable[[str, int | None, int | None], bool]


@dataclass(frozen=True)
class Alert:
    kind: str  # "allergy", "duplicate" or "interaction"
    level: str  # one of formulary.LEVELS
    message: str
    note: str = ""

    @property
    def level_label(self) -> str:
        return str(LEVEL_LABELS[self.level])

    @property
    def needs_confirmation(self) -> bool:
        """An allergy contraindication: overriding it takes a second, explicit confirmation."""
        return self.kind == "allergy" and self.level == "contraindication"


@dataclass(frozen=True)
class _Taken:
    name: str
    substance: Substance
    current: bool


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in folded if not unicodedata.combining(c)).strip()


def _atc_classes(atc: str) -> frozenset[str]:
    for entry in formulary()["substances"].values():
        if entry["atc"] == atc:
            return frozenset(entry["classes"])
    return frozenset()


def _allergy_match(allergy: Allergy, medication: Medication, substance: Substance) -> str:
    """How an allergy concerns a medication: "substance", "class", or ""."""
    code = allergy.substance_code or ""
    if code and code in substance.codes:
        return "class" if code.startswith("class:") else "substance"
    if code.startswith("atc:"):
        shared = _atc_classes(code[4:]) & substance.classes & allergy_classes()
        if shared:
            return "class"
    written = _plain(allergy.substance or "")
    if not code and len(written) >= 4 and written in _plain(medication.dci):
        return "substance"
    return ""


def _allergy_warnings(allergies: Sequence[Allergy], new: Sequence[Medication]) -> list[Alert]:
    out = []
    for medication in new:
        substance = substance_of(medication.dci)
        for allergy in allergies:
            if allergy.kind == AllergyKind.NONE_KNOWN:
                continue
            match = _allergy_match(allergy, medication, substance)
            if not match:
                continue
            known = {"allergy": _("allergy"), "intolerance": _("intolerance")}[allergy.kind]
            values = {"drug": medication.dci, "known": known, "substance": allergy.substance}
            message = (
                _("%(drug)s: recorded %(known)s to %(substance)s.")
                if match == "substance"
                else _("%(drug)s: same class as the recorded %(known)s to %(substance)s.")
            ) % values
            reaction = allergy.reaction or ""
            out.append(
                Alert(
                    kind="allergy",
                    level="contraindication"
                    if allergy.kind == AllergyKind.ALLERGY
                    else "precaution",
                    message=message,
                    note=reaction,
                )
            )
    return out


def _duplicate(first: _Taken, second: _Taken) -> str:
    a, b = first.substance, second.substance
    atcs = {a.atc, *a.contains} & {b.atc, *b.contains} - {""}
    if atcs:
        return _("same substance")
    shared = sorted(a.classes & b.classes & duplicate_classes())
    if shared:
        return _("same class: %(class)s") % {"class": class_label(shared[0])}
    return ""


def check_prescription(
    *, patient: Patient, medications: Sequence[Medication], sees: Sees
) -> list[Alert]:
    """Every warning for prescribing `medications` to this patient now, most serious first."""
    warnings = _allergy_warnings(listed_allergies(patient), medications)
    taken = [_Taken(m.dci, substance_of(m.dci), False) for m in medications]
    for line in running_lines(patient):
        prescription = line.prescription
        visible = sees(
            prescription.category, prescription.prescriber.user_id, prescription.author_unit_id
        )
        name = (
            line.medication.dci
            if visible
            else _("a current medication of a category you have not opened (%(category)s)")
            % {"category": category_label(prescription.category)}
        )
        taken.append(_Taken(name, substance_of(line.medication.dci), True))
    for reported in reported_medications(patient):
        if reported.medication is None:
            continue  # written out: not in the formulary, so not checked (the page says so)
        visible = sees(reported.category, reported.recorded_by_id, reported.author_unit_id)
        name = (
            _("%(drug)s (reported by the patient)") % {"drug": reported.medication.dci}
            if visible
            else _("a current medication of a category you have not opened (%(category)s)")
            % {"category": category_label(reported.category)}
        )
        taken.append(_Taken(name, substance_of(reported.medication.dci), True))
    seen_pairs: set[tuple[str, str]] = set()
    for i, first in enumerate(taken):
        if first.current:
            continue
        for second in taken[i + 1 :]:
            pair = (first.name, second.name)
            if pair in seen_pairs:
                continue
            seen_pairs.add(pair)
            values = {"first": first.name, "second": second.name}
            where = (
                _("%(first)s with %(second)s, already taken")
                if second.current
                else _("%(first)s with %(second)s, on this prescription")
            ) % values
            why = _duplicate(first, second)
            if why:
                warnings.append(
                    Alert(
                        kind="duplicate",
                        level="not_recommended",
                        message=_("Duplicate therapy (%(why)s): %(where)s.")
                        % {"why": why, "where": where},
                    )
                )
                continue
            interaction = interaction_between(first.substance, second.substance)
            if interaction is not None:
                warnings.append(
                    Alert(
                        kind="interaction",
                        level=interaction.level,
                        message=_("Interaction: %(where)s.") % {"where": where},
                        note=interaction.note,
                    )
                )
    return sorted(warnings, key=lambda w: (LEVELS.index(w.level), w.kind != "allergy"))
