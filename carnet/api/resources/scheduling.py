"""Schedules (agendas), free Slots (computed from opening hours, absences and appointments,
as the desk sees them) and Appointments of the reader's establishments. Patients appear in an
appointment as a reference; their name only where the guard hands it over within the
reader's care relationships (the desk's window), so paging through agendas spends no budget.
Asking for one patient's appointments opens that patient through the guard."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from carnet.guard.policy import Capability
from carnet.patients.selectors import display_names, open_identity
from carnet.scheduling.models import Appointment, AppointmentState, ConsultationType
from carnet.scheduling.selectors import agendas_for, names_in_relationship
from carnet.scheduling.services import SlotTaken, book_appointment
from carnet.scheduling.slots import free_slots

from ..fhir import (
    ApiError,
    Page,
    check_parameters,
    date_range,
    instant,
    parse_resource,
    reference_id,
    searchset,
)
from ..registry import Call, Interaction, ResourceDefinition, Result, SearchParameter, register

BOOKING = Capability.BOOK_APPOINTMENT
MAX_DAYS = 31
STATUS = {
    AppointmentState.BOOKED: "booked",
    AppointmentState.CONFIRMED: "booked",
    AppointmentState.ARRIVED: "arrived",
    AppointmentState.IN_CONSULTATION: "checked-in",
    AppointmentState.DONE: "fulfilled",
    AppointmentState.NO_SHOW: "noshow",
    AppointmentState.CANCELLED_BY_PATIENT: "cancelled",
    AppointmentState.CANCELLED_BY_ESTABLISHMENT: "cancelled",
}
_COUNT = (
    SearchParameter("_count", "number", "Page size (at most 50)."),
    SearchParameter("_offset", "number", "Where the page starts (the Bundle's links carry it)."),
)


def _int_id(value: str, what: str) -> int:
    if not value.isdigit():
        raise ApiError(404, "not-found", f"{what}/{value} not found.")
    return int(value)


# --- Schedule -------------------------------------------------------------------------------


def schedule_resource(agenda: Any) -> dict[str, Any]:
    actors = []
    if agenda.practitioner_id:
        actors.append(
            {
                "reference": f"Practitioner/{agenda.practitioner_id}",
                "display": f"Dr {agenda.practitioner.user.get_full_name()}",
            }
        )
    if agenda.room_id:
        actors.append({"reference": f"Location/{agenda.room_id}", "display": agenda.room.name})
    if not actors:
        actors.append({"display": agenda.name})
    return {
        "resourceType": "Schedule",
        "id": str(agenda.pk),
        "active": agenda.active,
        "serviceType": [{"text": c.motive} for c in agenda.consultation_types.all()],
        "actor": actors,
        "comment": f"{agenda.name} — {agenda.establishment.name}",
    }


def _agendas(call: Call) -> QuerySet:
    return (
        agendas_for(actor=call.actor)
        .select_related("practitioner__user", "room")
        .prefetch_related("consultation_types")
    )


def read_schedule(call: Call) -> Result:
    agenda = _agendas(call).filter(pk=_int_id(call.resource_id, "Schedule")).first()
    if agenda is None:
        raise ApiError(404, "not-found", f"Schedule/{call.resource_id} not found.")
    return 200, schedule_resource(agenda), {}


def search_schedules(call: Call) -> Result:
    params = call.params
    check_parameters(params, ["actor", "active", "_count", "_offset"])
    rows = _agendas(call)
    if params.get("actor"):
        rows = rows.filter(
            practitioner_id=_int_id(
                reference_id(params["actor"], "Practitioner", "actor"), "Practitioner"
            )
        )
    page = Page.of(params)
    chunk, more = page.window(rows)
    bundle = searchset(
        base=call.base,
        resource_type="Schedule",
        params=params,
        resources=[schedule_resource(a) for a in chunk],
        page=page,
        more=more,
    )
    return 200, bundle, {}


# --- Slot -------------------------------------------------------------------------------------


def slot_id(consultation_id: int, starts_at: datetime.datetime) -> str:
    return f"{consultation_id}-{starts_at.astimezone(datetime.UTC):%Y%m%dT%H%M}Z"


def _parse_slot_id(value: str) -> tuple[int, datetime.datetime]:
    head, _, stamp = value.partition("-")
    try:
        moment = datetime.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=datetime.UTC)
        return int(head), moment
    except ValueError:
        raise ApiError(404, "not-found", f"Slot/{value} not found.") from None


def slot_resource(consultation: ConsultationType, starts_at, ends_at) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": slot_id(consultation.pk, starts_at),
        "schedule": {"reference": f"Schedule/{consultation.agenda_id}"},
        "serviceType": [{"text": consultation.motive}],
        "status": "free",
        "start": instant(starts_at),
        "end": instant(ends_at),
    }


def _consultations(call: Call) -> QuerySet:
    return ConsultationType.objects.filter(agenda__in=agendas_for(actor=call.actor)).select_related(
        "agenda"
    )


def read_slot(call: Call) -> Result:
    consultation_id, starts_at = _parse_slot_id(call.resource_id)
    consultation = _consultations(call).filter(pk=consultation_id).first()
    day = timezone.localtime(starts_at).date()
    if consultation is not None:
        for slot in free_slots(consultation_type=consultation, first_day=day, days=1):
            if slot.starts_at == starts_at:
                return 200, slot_resource(consultation, slot.starts_at, slot.ends_at), {}
    raise ApiError(404, "not-found", f"Slot/{call.resource_id} is not a free slot.")


def _window(
    call: Call, name: str, default_days: int
) -> tuple[datetime.datetime, datetime.datetime]:
    values = call.params.getlist(name)
    span = date_range(values, name)
    start = span.start or timezone.now()
    end = span.end or start + datetime.timedelta(days=default_days)
    if end <= start:
        raise ApiError(400, "value", f"{name}: the range is empty.")
    if (end - start).days > MAX_DAYS:
        raise ApiError(400, "too-costly", f"{name}: at most {MAX_DAYS} days at a time.")
    return start, end


def search_slots(call: Call) -> Result:
    params = call.params
    check_parameters(params, ["schedule", "start", "status", "service-type", "_count", "_offset"])
    if not params.get("schedule"):
        raise ApiError(400, "required", "schedule is required (Schedule/<id>).")
    agenda_id = _int_id(reference_id(params["schedule"], "Schedule", "schedule"), "Schedule")
    start, end = _window(call, "start", 7)
    wanted = set(",".join(params.getlist("status")).split(",")) - {""}
    if wanted and wanted != {"free"} and "free" not in wanted:
        raise ApiError(400, "not-supported", "status: Carnet publishes free slots only.")
    found = []
    first_day = timezone.localtime(start).date()
    days = (timezone.localtime(end).date() - first_day).days + 1
    motives = set(",".join(params.getlist("service-type")).split(",")) - {""}
    for consultation in _consultations(call).filter(agenda_id=agenda_id).order_by("pk"):
        if motives and consultation.motive not in motives:
            continue
        for slot in free_slots(consultation_type=consultation, first_day=first_day, days=days):
            if start <= slot.starts_at < end:
                found.append((slot.starts_at, consultation, slot))
    found.sort(key=lambda item: (item[0], item[1].pk))
    page = Page.of(params)
    chunk, more = page.window(found)
    bundle = searchset(
        base=call.base,
        resource_type="Slot",
        params=params,
        resources=[slot_resource(c, s.starts_at, s.ends_at) for _, c, s in chunk],
        page=page,
        more=more,
    )
    return 200, bundle, {}


# --- Appointment ------------------------------------------------------------------------------


def appointment_resource(appointment: Appointment, names: dict[str, str]) -> dict[str, Any]:
    patient_id = str(appointment.patient_id)
    patient: dict[str, Any] = {"reference": f"Patient/{patient_id}"}
    if names.get(patient_id):
        patient["display"] = names[patient_id]
    participants = [{"actor": patient, "required": "required", "status": "accepted"}]
    agenda = appointment.agenda
    if agenda.practitioner_id:
        participants.append(
            {
                "actor": {
                    "reference": f"Practitioner/{agenda.practitioner_id}",
                    "display": f"Dr {agenda.practitioner.user.get_full_name()}",
                },
                "required": "required",
                "status": "accepted",
            }
        )
    if agenda.room_id:
        participants.append(
            {"actor": {"reference": f"Location/{agenda.room_id}"}, "status": "accepted"}
        )
    start = appointment.starts_at
    return {
        "resourceType": "Appointment",
        "id": str(appointment.pk),
        "status": STATUS.get(appointment.state, "booked"),
        "serviceType": [{"text": appointment.consultation_type.motive}],
        "start": instant(appointment.starts_at),
        "end": instant(appointment.ends_at),
        "minutesDuration": appointment.consultation_type.minutes,
        "created": instant(appointment.created_at),
        "slot": [{"reference": f"Slot/{slot_id(appointment.consultation_type_id, start)}"}],
        "participant": participants,
    }


def _appointments(call: Call) -> QuerySet:
    return Appointment.objects.filter(
        agenda__establishment_id__in=call.actor.establishment_ids
    ).select_related("agenda__practitioner__user", "consultation_type")


def read_appointment(call: Call) -> Result:
    try:
        appointment = _appointments(call).filter(pk=call.resource_id).first()
    except ValidationError:
        appointment = None
    if appointment is None:
        raise ApiError(404, "not-found", f"Appointment/{call.resource_id} not found.")
    patient_id = str(appointment.patient_id)
    if call.only_patient and patient_id != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    # Reading one appointment opens its patient, like the desk's confirmation page.
    names = display_names(actor=call.actor, patient_ids=[patient_id], capability=BOOKING)
    if patient_id not in names:
        raise ApiError(404, "not-found", f"Appointment/{call.resource_id} not found.")
    return 200, appointment_resource(appointment, names), {}


STATES_OF = {}
for _state, _status in STATUS.items():
    STATES_OF.setdefault(_status, []).append(_state)


def search_appointments(call: Call) -> Result:
    params = call.params
    check_parameters(params, ["patient", "practitioner", "date", "status", "_count", "_offset"])
    rows = _appointments(call)
    patient = params.get("patient") or call.only_patient or ""
    if patient:
        patient = reference_id(patient, "Patient", "patient")
        if call.only_patient and patient != call.only_patient:
            raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
        # Whose appointments: the guard decides (and counts) that patient first.
        open_identity(actor=call.actor, patient_id=patient)
        rows = rows.filter(patient_id=patient)
    if params.getlist("date"):
        start, end = _window(call, "date", 1)
        rows = rows.filter(starts_at__gte=start, starts_at__lt=end)
    elif not patient:
        raise ApiError(
            400,
            "too-costly",
            f"Say whose or when: patient, or a date range of at most {MAX_DAYS} days.",
        )
    if params.get("practitioner"):
        ident = reference_id(params["practitioner"], "Practitioner", "practitioner")
        rows = rows.filter(agenda__practitioner_id=_int_id(ident, "Practitioner"))
    statuses = set(",".join(params.getlist("status")).split(",")) - {""}
    if statuses:
        unknown = statuses - set(STATES_OF)
        if unknown:
            raise ApiError(400, "value", f"status: unknown {', '.join(sorted(unknown))}.")
        rows = rows.filter(state__in=[s for st in statuses for s in STATES_OF[st]])
    page = Page.of(params)
    chunk, more = page.window(rows.order_by("starts_at", "pk"))
    names = names_in_relationship(actor=call.actor, patient_ids=[str(a.patient_id) for a in chunk])
    bundle = searchset(
        base=call.base,
        resource_type="Appointment",
        params=params,
        resources=[appointment_resource(a, names) for a in chunk],
        page=page,
        more=more,
    )
    return 200, bundle, {}


def create_appointment(call: Call) -> Result:
    resource = parse_resource(call.body, "Appointment")
    patients = [
        p["actor"]["reference"]
        for p in resource.get("participant", [])
        if (p.get("actor") or {}).get("reference", "").startswith("Patient/")
    ]
    slots = [s.get("reference", "") for s in resource.get("slot", [])]
    if len(patients) != 1 or len(slots) != 1:
        raise ApiError(
            400, "required", "An appointment names one Patient participant and one Slot."
        )
    patient = reference_id(patients[0], "Patient", "participant")
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    consultation_id, starts_at = _parse_slot_id(reference_id(slots[0], "Slot", "slot"))
    try:
        appointment = book_appointment(
            actor=call.actor,
            consultation_type_id=consultation_id,
            patient_id=patient,
            starts_at=starts_at,
        )
    except SlotTaken:
        raise ApiError(409, "conflict", SlotTaken.message) from None
    appointment = _appointments(call).get(pk=appointment.pk)
    names = display_names(actor=call.actor, patient_ids=[patient], capability=BOOKING)
    location = f"{call.base}Appointment/{appointment.pk}"
    return 201, appointment_resource(appointment, names), {"Location": location}


register(
    ResourceDefinition(
        type="Schedule",
        documentation="Agendas of your establishments (a practitioner's, a room's, a desk's).",
        interactions={
            "read": Interaction("scheduling.schedule", BOOKING, read_schedule),
            "search": Interaction("scheduling.schedule", BOOKING, search_schedules),
        },
        search=(SearchParameter("actor", "reference", "Practitioner/<id>."), *_COUNT),
    )
)
register(
    ResourceDefinition(
        type="Slot",
        documentation=(
            "Free slots of an agenda, one per consultation type and start; a Slot's id books it "
            "(POST Appointment)."
        ),
        interactions={
            "read": Interaction("scheduling.slot", BOOKING, read_slot),
            "search": Interaction("scheduling.slot", BOOKING, search_slots),
        },
        search=(
            SearchParameter("schedule", "reference", "Schedule/<id> (required)."),
            SearchParameter(
                "start", "date", f"Range (ge/lt...), default the next 7 days, at most {MAX_DAYS}."
            ),
            SearchParameter("status", "token", "free (the only status published)."),
            SearchParameter("service-type", "token", "The consultation's motive."),
            *_COUNT,
        ),
    )
)
register(
    ResourceDefinition(
        type="Appointment",
        documentation=(
            "Appointments of your establishments. Search needs a patient (opened through the "
            "guard) or a date range of at most 31 days; create books a free Slot for a Patient."
        ),
        interactions={
            "read": Interaction("scheduling.appointment", BOOKING, read_appointment),
            "search": Interaction("scheduling.appointments", BOOKING, search_appointments),
            "create": Interaction("scheduling.book", BOOKING, create_appointment),
        },
        search=(
            SearchParameter("patient", "reference", "Patient/<id>."),
            SearchParameter("practitioner", "reference", "Practitioner/<id>."),
            SearchParameter(
                "date", "date", f"Range of the start (ge/lt...), at most {MAX_DAYS} days."
            ),
            SearchParameter(
                "status", "token", "booked, arrived, checked-in, fulfilled, noshow, cancelled."
            ),
            *_COUNT,
        ),
        patient_compartment=True,
    )
)
