"""Reading a chart, through the guard: the patient is decided and counted like an identity
page, then every item is shown or masked by its sensitive category. A masked item's sealed
content is never opened, so it cannot leak by a template's mistake."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused
from carnet.guard.policy import Capability
from carnet.patients.cards import IdentityCard, identity_card
from carnet.patients.selectors import parse_patient_id

from .access import closed_because, readable_patient
from .models import (
    DischargeLetter,
    Document,
    Encounter,
    EncounterKind,
    Note,
    Prescription,
    SensitiveCategory,
)
from .printouts import verification_code
from .sensitivity import category_label, may_see, open_categories
from .summary import Summary, build_summary, dosage_text


def _name(user: object) -> str:
    if user is None:
        return ""
    full = user.get_full_name() or user.username  # type: ignore[attr-defined]
    return f"Dr {full}" if hasattr(user, "practitioner") else full


@dataclass(frozen=True)
class EncounterView:
    id: str
    kind: str
    kind_label: str
    establishment: str
    unit: str
    room: str
    practitioner: str
    started_at: datetime.datetime
    discharged_at: datetime.datetime | None
    reason: str
    destination: str = ""
    discharge_recorded_at: datetime.datetime | None = None
    # The stay's discharge letter: when its latest version was signed, or whether a draft waits.
    letter_signed_at: datetime.datetime | None = None
    letter_draft: bool = False
    letter_id: str = ""

    @property
    def is_admission(self) -> bool:
        return self.kind == EncounterKind.ADMISSION

    @property
    def current(self) -> bool:
        return self.is_admission and self.discharged_at is None

    @property
    def label(self) -> str:
        where = self.unit or self.establishment
        return f"{self.kind_label} · {where} · {self.started_at:%d/%m/%Y}"


@dataclass(frozen=True)
class NoteView:
    id: str
    written_at: datetime.datetime
    author: str
    encounter_id: str
    category: str
    category_label: str
    masked: bool
    text: str
    addenda: tuple[NoteView, ...] = ()


@dataclass(frozen=True)
class LineView:
    medication: str
    brand: str
    dosage: str
    duration_days: int
    renewals: int
    # In relation to the long-term condition (ALD): the upper zone of the bizone layout.
    ald: bool = False


@dataclass(frozen=True)
class PrescriptionView:
    id: str
    created_at: datetime.datetime
    prescriber: str
    category: str
    category_label: str
    masked: bool
    lines: tuple[LineView, ...]
    notes: str
    # The warnings checked before signing and the prescriber's reason, when overridden.
    overridden: str = ""


@dataclass(frozen=True)
class DocumentView:
    id: str
    title: str
    kind: str
    kind_label: str
    size: int
    uploaded_at: datetime.datetime
    uploaded_by: str
    encounter_id: str
    category: str
    category_label: str
    masked: bool
    is_image: bool


@dataclass(frozen=True)
class Chart:
    card: IdentityCard
    closed: str
    encounters: tuple[EncounterView, ...]
    notes: tuple[NoteView, ...]
    prescriptions: tuple[PrescriptionView, ...]
    documents: tuple[DocumentView, ...]
    masked_categories: tuple[tuple[str, str], ...]
    opened_categories: tuple[tuple[str, str], ...]
    summary: Summary

    @property
    def current_admission(self) -> EncounterView | None:
        return next((e for e in self.encounters if e.current), None)


# A stay's letter status: the latest signature, a draft waiting, the latest signed letter.
_LetterStatus = tuple["datetime.datetime | None", bool, str]


def encounter_view(
    encounter: Encounter, letters: dict[object, _LetterStatus] | None = None
) -> EncounterView:
    """An encounter as pages show it, with its letter's status when given (`_letters`)."""
    signed_at, draft, letter_id = (letters or {}).get(encounter.pk, (None, False, ""))
    return EncounterView(
        id=str(encounter.pk),
        kind=encounter.kind,
        kind_label=str(EncounterKind(encounter.kind).label),
        establishment=encounter.establishment.name,
        unit=encounter.unit.name if encounter.unit else "",
        room=encounter.room.name if encounter.room else "",
        practitioner=_name(encounter.practitioner),
        started_at=encounter.started_at,
        discharged_at=encounter.discharged_at,
        reason=encounter.reason or "",
        destination=encounter.get_discharge_destination_display()
        if encounter.discharge_destination
        else "",
        discharge_recorded_at=encounter.discharge_recorded_at,
        letter_signed_at=signed_at,
        letter_draft=draft,
        letter_id=letter_id,
    )


def _letters(patient: object) -> dict[object, _LetterStatus]:
    """For each stay with a letter: when its latest signed version was signed (and its id),
    and whether a draft waits (status only: nothing sealed is opened here)."""
    found: dict[object, _LetterStatus] = {}
    rows = DischargeLetter.objects.filter(patient=patient).values_list(
        "encounter_id", "signed_at", "pk"
    )
    for encounter_id, signed_at, pk in rows:
        last, draft, last_id = found.get(encounter_id, (None, False, ""))
        if signed_at is None:
            draft = True
        elif last is None or signed_at > last:
            last, last_id = signed_at, str(pk)
        found[encounter_id] = (last, draft, last_id)
    return found


class _Seer:
    """`may_see` for one actor and patient, with the open categories read once."""

    def __init__(self, actor: Actor, patient_id: str) -> None:
        self.actor, self.patient_id = actor, patient_id
        self.opened = open_categories(actor, patient_id)
        self.masked: set[str] = set()

    def __call__(self, category: str, author_id: int | None, unit_id: int | None) -> bool:
        seen = may_see(
            self.actor, self.patient_id, category, author_id, unit_id, opened=self.opened
        )
        if not seen:
            self.masked.add(category)
        return seen


def _note_view(note: Note, sees: _Seer, addenda: Iterable[Note] = ()) -> NoteView:
    visible = sees(note.category, note.author_id, note.author_unit_id)
    return NoteView(
        id=str(note.pk),
        written_at=note.written_at,
        author=_name(note.author),
        encounter_id=str(note.encounter_id),
        category=note.category,
        category_label=category_label(note.category) if note.category else "",
        masked=not visible,
        text=(note.text or "") if visible else "",
        addenda=tuple(_note_view(a, sees) for a in addenda),
    )


def _prescription_view(prescription: Prescription, sees: _Seer) -> PrescriptionView:
    prescriber = prescription.prescriber
    visible = sees(prescription.category, prescriber.user_id, prescription.author_unit_id)
    lines = ()
    if visible:
        lines = tuple(
            LineView(
                medication=str(line.medication),
                brand=line.medication.brand,
                dosage=dosage_text(line.dosage or "", line.frequency, line.route),
                duration_days=line.duration_days,
                renewals=line.renewals,
                ald=line.ald,
            )
            for line in prescription.lines.all()
        )
    return PrescriptionView(
        id=str(prescription.pk),
        created_at=prescription.created_at,
        prescriber=_name(prescriber.user),
        category=prescription.category,
        category_label=category_label(prescription.category) if prescription.category else "",
        masked=not visible,
        lines=lines,
        notes=(prescription.notes or "") if visible else "",
        overridden=(prescription.overridden or "") if visible else "",
    )


def _document_view(document: Document, sees: _Seer) -> DocumentView:
    visible = sees(document.category, document.uploaded_by_id, document.author_unit_id)
    return DocumentView(
        id=str(document.pk),
        title=(document.title or "") if visible else "",
        kind=document.kind,
        kind_label=document.get_kind_display(),
        size=document.size,
        uploaded_at=document.uploaded_at,
        uploaded_by=_name(document.uploaded_by),
        encounter_id=str(document.encounter_id),
        category=document.category,
        category_label=category_label(document.category) if document.category else "",
        masked=not visible,
        is_image=document.is_image,
    )


def _categories(values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    return tuple((c, category_label(c)) for c in SensitiveCategory.values if c and c in values)


def open_chart(*, actor: Actor, patient_id: object) -> Chart:
    """The chart, for an actor the guard hands the patient to (counted like an identity)."""
    patient = readable_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    sees = _Seer(actor, str(patient.id))
    encounters = sorted(
        Encounter.objects.filter(patient=patient).select_related(
            "unit", "room", "establishment", "practitioner__practitioner"
        ),
        key=lambda e: (not e.is_current_admission, -e.started_at.timestamp()),
    )
    notes = list(
        Note.objects.filter(patient=patient)
        .select_related("author__practitioner")
        .order_by("-written_at")
    )
    addenda: dict[object, list[Note]] = {}
    for note in sorted(notes, key=lambda n: n.written_at):
        if note.corrects_id:
            addenda.setdefault(note.corrects_id, []).append(note)
    prescriptions = (
        Prescription.objects.filter(patient=patient)
        .select_related("prescriber__user")
        .prefetch_related("lines__medication")
        .order_by("-created_at")
    )
    documents = (
        Document.objects.filter(patient=patient)
        .defer("content")
        .select_related("uploaded_by__practitioner")
        .order_by("-uploaded_at")
    )
    note_views = tuple(
        _note_view(n, sees, addenda.get(n.pk, ())) for n in notes if not n.corrects_id
    )
    prescription_views = tuple(_prescription_view(p, sees) for p in prescriptions)
    document_views = tuple(_document_view(d, sees) for d in documents)
    summary = build_summary(patient, sees)
    letters = _letters(patient)
    return Chart(
        card=identity_card(patient),
        closed=closed_because(patient),
        encounters=tuple(encounter_view(e, letters) for e in encounters),
        notes=note_views,
        prescriptions=prescription_views,
        documents=document_views,
        masked_categories=_categories(sees.masked),
        opened_categories=_categories(sees.opened),
        summary=summary,
    )


@dataclass(frozen=True)
class PrescriptionSheet:
    """What a printed prescription carries (ordonnance): prescriber with RPPS, establishment
    with FINESS, patient, date, lines."""

    id: str
    patient_id: str
    masked: bool
    category: str
    category_label: str
    created_at: datetime.datetime
    prescriber: str
    specialty: str
    rpps: str
    establishment: str
    establishment_address: str
    establishment_city: str
    finess: str
    patient_name: str
    patient_first_names: str
    birth_date: datetime.date
    lines: tuple[LineView, ...]
    notes: str
    # The printout's verification code (clinical/printouts.py); empty when masked.
    code: str = ""

    @property
    def bizone(self) -> bool:
        """Printed on the ALD layout: some line relates to the long-term condition."""
        return any(line.ald for line in self.lines)

    @property
    def ald_lines(self) -> tuple[LineView, ...]:
        return tuple(line for line in self.lines if line.ald)

    @property
    def other_lines(self) -> tuple[LineView, ...]:
        return tuple(line for line in self.lines if not line.ald)


def prescription_sheet(
    *, actor: Actor, patient_id: object, prescription_id: object
) -> PrescriptionSheet:
    patient = readable_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    key = parse_patient_id(prescription_id)
    prescription = (
        Prescription.objects.filter(pk=key, patient=patient)
        .select_related("prescriber__user", "establishment")
        .prefetch_related("lines__medication")
        .first()
        if key
        else None
    )
    if prescription is None:
        raise Refused("no such prescription for this patient", patients=[str(patient.id)])
    view = _prescription_view(prescription, _Seer(actor, str(patient.id)))
    card = identity_card(patient)
    establishment = prescription.establishment
    prescriber = prescription.prescriber
    return PrescriptionSheet(
        id=view.id,
        patient_id=card.id,
        masked=view.masked,
        category=view.category,
        category_label=view.category_label,
        created_at=view.created_at,
        prescriber=view.prescriber,
        specialty=prescriber.specialty,
        rpps=prescriber.rpps,
        establishment=establishment.name,
        establishment_address=establishment.address,
        establishment_city=establishment.city,
        finess=establishment.finess,
        patient_name=card.display_surname,
        patient_first_names=card.first_names,
        birth_date=card.birth_date,
        lines=view.lines,
        notes=view.notes,
        code="" if view.masked else verification_code(prescription),
    )
