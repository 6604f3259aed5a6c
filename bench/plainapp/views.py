"""The plain pages: ordinary query sets, no guard, no vault, no audit entry. Marked public
only so that Carnet's route guard lets the comparison through (bench settings only).

The identity page, the chart (/patients/<id>/chart/) and the laboratory results
(/patients/<id>/lab/) are rendered with Carnet's own templates, from the same view objects
(the dataclasses of carnet.clinical.chart and carnet.laboratory.selectors, built by the same
pure presentation helpers), so that the pages come out byte for byte alike and the
difference measured is what the guard, the vault, the sensitivity rules and the audit add.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from carnet.clinical.chart import (
    Chart,
    DocumentView,
    EncounterView,
    LineView,
    NoteView,
    PrescriptionView,
    _name,
)
from carnet.clinical.models import EncounterKind
from carnet.clinical.sensitivity import category_label
from carnet.clinical.summary import Summary
from carnet.guard.actors import actor_for_request
from carnet.guard.http import public_view
from carnet.guard.policy import Capability, role_may
from carnet.laboratory.models import BLOOD_GROUP_LOINC, OrderStatus
from carnet.laboratory.selectors import (
    LabPatient,
    Line,
    PatientLab,
    ReportGroup,
    _blood_group,
    _line,
    _trends,
)
from carnet.patients.cards import Identifier, IdentityCard, display_name
from carnet.patients.models import Sex
from carnet.web.views.clinical.chart import chart_forms
from carnet.web.views.laboratory import OrderForm

from .models import (
    PlainDocument,
    PlainEncounter,
    PlainLabItem,
    PlainLabOrder,
    PlainNote,
    PlainPatient,
    PlainPrescription,
)


def _card(row: PlainPatient) -> IdentityCard:
    doctor = row.treating_doctor
    return IdentityCard(
        id=str(row.id),
        version=row.version,
        status=row.status,
        sex=row.sex,
        birth_surname=row.birth_surname,
        first_names=row.first_names,
        used_surname=row.used_surname,
        used_first_name=row.used_first_name,
        birth_date=row.birth_date,
        birthplace_code=row.birthplace_code,
        nir=row.nir,
        address_line=row.address_line,
        postal_code=row.postal_code,
        city=row.city,
        country=row.country,
        phone=row.phone,
        email=row.email,
        treating_doctor_id=doctor.pk if doctor else None,
        treating_doctor=f"Dr {doctor.user.get_full_name()}" if doctor else "",
        identifiers=tuple(
            Identifier(i.establishment.name, i.kind, i.value)
            for i in sorted(row.identifiers.all(), key=lambda i: i.establishment.name)
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@public_view
def plain_detail(request: HttpRequest, patient_id: str) -> HttpResponse:
    row = get_object_or_404(
        PlainPatient.objects.select_related("treating_doctor__user").prefetch_related(
            "identifiers__establishment"
        ),
        id=patient_id,
    )
    return render(
        request, "web/patients/detail.html", {"card": _card(row), **_page_extras(request)}
    )


def _page_extras(request: HttpRequest) -> dict:
    """What else the guarded page shows: the badge saying what opened the record (the bench
    gives its account an appointment with every patient), and so the "share" button."""
    return {"opened_by": "appointment", "shareable": True}


# ---- the chart -----------------------------------------------------------------------------


def _encounter_view(e: PlainEncounter) -> EncounterView:
    return EncounterView(
        id=str(e.pk),
        kind=e.kind,
        kind_label=str(EncounterKind(e.kind).label),
        establishment=e.establishment.name,
        unit=e.unit.name if e.unit else "",
        room=e.room.name if e.room else "",
        practitioner=_name(e.practitioner),
        started_at=e.started_at,
        discharged_at=e.discharged_at,
        reason=e.reason,
    )


def _note_view(note: PlainNote, addenda: Iterable[PlainNote] = ()) -> NoteView:
    return NoteView(
        id=str(note.pk),
        written_at=note.written_at,
        author=_name(note.author),
        encounter_id=str(note.encounter_id),
        category=note.category,
        category_label=category_label(note.category) if note.category else "",
        masked=False,
        text=note.text,
        addenda=tuple(_note_view(a) for a in addenda),
    )


def _prescription_view(p: PlainPrescription) -> PrescriptionView:
    return PrescriptionView(
        id=str(p.pk),
        created_at=p.created_at,
        prescriber=_name(p.prescriber.user),
        category=p.category,
        category_label=category_label(p.category) if p.category else "",
        masked=False,
        lines=tuple(
            LineView(
                medication=str(line.medication),
                brand=line.medication.brand,
                dosage=line.dosage,
                duration_days=line.duration_days,
                renewals=line.renewals,
            )
            for line in p.lines.all()
        ),
        notes=p.notes,
    )


def _document_view(d: PlainDocument) -> DocumentView:
    return DocumentView(
        id=str(d.pk),
        title=d.title,
        kind=d.kind,
        kind_label=d.get_kind_display(),
        size=d.size,
        uploaded_at=d.uploaded_at,
        uploaded_by=_name(d.uploaded_by),
        encounter_id=str(d.encounter_id),
        category=d.category,
        category_label=category_label(d.category) if d.category else "",
        masked=False,
        is_image=d.is_image,
    )


def _current_admission_first(e: PlainEncounter) -> tuple[bool, float]:
    current = e.kind == EncounterKind.ADMISSION and e.discharged_at is None
    return (not current, -e.started_at.timestamp())


@public_view
def plain_chart(request: HttpRequest, patient_id: str) -> HttpResponse:
    """The chart as a plain app would serve it: the patient, then one query per kind of
    item, the same template and forms as Carnet's chart page."""
    row = get_object_or_404(
        PlainPatient.objects.select_related("treating_doctor__user").prefetch_related(
            "identifiers__establishment"
        ),
        id=patient_id,
    )
    encounters = sorted(
        PlainEncounter.objects.filter(patient=row).select_related(
            "unit", "room", "establishment", "practitioner__practitioner"
        ),
        key=_current_admission_first,
    )
    notes = list(
        PlainNote.objects.filter(patient=row)
        .select_related("author__practitioner")
        .order_by("-written_at")
    )
    addenda: dict[object, list[PlainNote]] = {}
    for note in sorted(notes, key=lambda n: n.written_at):
        if note.corrects_id:
            addenda.setdefault(note.corrects_id, []).append(note)
    prescriptions = (
        PlainPrescription.objects.filter(patient=row)
        .select_related("prescriber__user")
        .prefetch_related("lines__medication")
        .order_by("-created_at")
    )
    documents = (
        PlainDocument.objects.filter(patient=row)
        .defer("content")
        .select_related("uploaded_by__practitioner")
        .order_by("-uploaded_at")
    )
    chart = Chart(
        card=_card(row),
        closed="",
        encounters=tuple(_encounter_view(e) for e in encounters),
        notes=tuple(_note_view(n, addenda.get(n.pk, ())) for n in notes if not n.corrects_id),
        prescriptions=tuple(_prescription_view(p) for p in prescriptions),
        documents=tuple(_document_view(d) for d in documents),
        masked_categories=(),
        opened_categories=(),
        # The bench seeds no allergy, problem or vital sign: the plain side shows the same
        # empty summary (the guarded side still pays its queries).
        summary=Summary(
            allergies=(),
            none_known=(),
            problems=(),
            history=(),
            medications=(),
            vitals=(),
            trend="",
        ),
    )
    actor = actor_for_request(request)
    assert actor is not None
    role = request.user.role  # type: ignore[union-attr]

    def may(capability: Capability) -> bool:
        return role_may(role, capability)

    context = {
        "chart": chart,
        "card": chart.card,
        # What opened the record for the reader on the guarded side (see _page_extras).
        "opened_by": "appointment",
        "can_write_note": may(Capability.WRITE_NOTE) and bool(chart.encounters),
        "can_manage_encounters": may(Capability.MANAGE_ENCOUNTERS),
        "can_prescribe": may(Capability.PRESCRIBE),
        "can_write_letter": may(Capability.SIGN_LETTER),
        "can_add_document": may(Capability.ADD_DOCUMENT) and bool(chart.encounters),
        "can_open_sensitive": may(Capability.OPEN_SENSITIVE),
        "can_discharge": may(Capability.MANAGE_ENCOUNTERS),
        "can_record_allergy": may(Capability.RECORD_ALLERGY),
        "can_record_problem": may(Capability.RECORD_PROBLEM),
        "can_record_vitals": may(Capability.RECORD_VITALS),
        "summary": chart.summary,
        "undoable": None,
        **chart_forms(actor, chart),
    }
    return render(request, "web/clinical/chart.html", context)


# ---- the laboratory results ----------------------------------------------------------------


def _items() -> QuerySet:
    return (
        PlainLabItem.objects.select_related(
            "test",
            "result__entered_by",
            "result__validated_by",
            "result__returned_by",
            "result__corrected_by",
        )
        .prefetch_related("result__versions__replaced_by", "result__alerts__acknowledged_by")
        .order_by("test__rank")
    )


@public_view
def plain_lab(request: HttpRequest, patient_id: str) -> HttpResponse:
    """A patient's validated results, newest order first, with trends and blood group: the
    same objects as carnet.laboratory.selectors.patient_results, from clear columns."""
    row = get_object_or_404(PlainPatient, id=patient_id)
    orders = (
        PlainLabOrder.objects.filter(patient=row)
        .select_related("laboratory", "ordered_by")
        .prefetch_related("specimens", Prefetch("items", queryset=_items()))
        .order_by("-ordered_at")
    )
    reports = []
    series: dict[int, list[tuple[datetime.datetime, Line]]] = defaultdict(list)
    groups: list[tuple[datetime.datetime, str, str]] = []
    for order in orders:
        collected = [s.collected_at for s in order.specimens.all()]
        when = min(collected) if collected else order.ordered_at
        lines, awaited = [], []
        for item in order.items.all():
            result = getattr(item, "result", None)
            validated = result is not None and result.validated_at is not None
            line = _line(item, open_value=validated)  # type: ignore[arg-type]
            (lines if validated else awaited).append(line)
            if validated:
                series[item.test.pk].append((when, line))
                if item.test.loinc == BLOOD_GROUP_LOINC:
                    groups.append((when, line.value, line.shown))
        reports.append(
            ReportGroup(
                order_id=str(order.pk),
                accession=order.accession,
                when=when,
                laboratory=order.laboratory.name,
                ordered_by=order.ordered_by.display_name,
                done=order.status == OrderStatus.DONE,
                status_label=order.get_status_display(),
                lines=tuple(lines),
                awaited=tuple(awaited),
            )
        )
    role = request.user.role  # type: ignore[union-attr]
    lab = PatientLab(
        patient=LabPatient(
            id=str(row.id),
            name=display_name(row),  # type: ignore[arg-type]
            sex=row.sex or Sex.UNKNOWN,
            birth_date=row.birth_date,
        ),
        reports=tuple(reports),
        blood_group=_blood_group(groups),
        trends=_trends(series),
        masked_categories=(),
        can_order=role_may(role, Capability.ORDER_LAB),
        can_open=role_may(role, Capability.OPEN_SENSITIVE),
    )
    actor = actor_for_request(request)
    form = OrderForm(actor=actor) if lab.can_order and actor is not None else None
    return render(
        request,
        "web/laboratory/patient_lab.html",
        {"lab": lab, "form": form, "chosen": set()},
    )
