"""Schedules (agendas), free Slots (computed from opening hours, absences and appointments,
as the desk sees them) and Appointments of the reader's establishments. Patients appear in an
appointment as a reference; their name only where the guard hands it over within the
reader's care relationships (the desk's window), so paging through agendas spends no budget.
Asking for one patient's appointments opens that patient through the guard."""

from __future__ import annotations

import datetime
import uuid
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

from ..fhir import ApiError, instant, parse_resource, reference_id
from ..registry import (
    Call,
    Interaction,
    ResourceDefinition,
    Result,
    SearchParameter,
    register,
    register_resolver,
)
from ..search import searchset_of, searchset_rows

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
    SearchParameter("_count", "number", "Page size (at most 50).", clear=True),
    SearchParameter(
        "_offset", "number", "Where the page starts (the Bundle's links carry it).", clear=True
    ),
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
    rows = _agendas(call).order_by("pk")
    actors = call.query.references("actor", "Practitioner")
    if actors:
        rows = rows.filter(practitioner_id__in=[_int_id(a, "Practitioner") for a in actors])
    if call.query.has("active"):
        rows = rows.filter(active=call.query.text("active").lower() == "true")
    return searchset_rows(call, "Schedule", rows, schedule_resource)


def resolve_schedules(call: Call, ids: list[str]) -> tuple[list[dict], list[str]]:
    rows = _agendas(call).filter(pk__in=[i for i in ids if i.isdigit()])
    found = [schedule_resource(a) for a in rows]
    return found, [i for i in ids if i not in {r["id"] for r in found}]


# --- Slot -------------------------------------------------------------------------------------


def slot_id(consultation_id: int, starts_at: datetime.datetime) -> str:
    return f"{consultation_id}-{starts_at.astimezone(datetime.UTC):%Y%m%dT%H%M}Z"


def _parse_slot_id(value: str) -> tuple[int, datetime.datetime]:
    head, _, stamp = value.partition("-")
    try:
        moment = datetime.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=datetime.UTC)
        return int(head), moment
    except (ValueError, OverflowError):
        raise ApiError(404, "not-found", f"Slot/{value} not found.") from None


def slot_resource(consultation: ConsultationType, starts_at, ends_at, status="free") -> dict:
    return {
        "resourceType": "Slot",
        "id": slot_id(consultation.pk, starts_at),
        "schedule": {"reference": f"Schedule/{consultation.agenda_id}"},
        "serviceType": [{"text": consultation.motive}],
        "status": status,
        "start": instant(starts_at),
        "end": instant(ends_at),
    }


def _consultations(call: Call) -> QuerySet:
    return ConsultationType.objects.filter(agenda__in=agendas_for(actor=call.actor)).select_related(
        "agenda"
    )


def _slot(call: Call, value: str) -> dict | None:
    """A Slot by id: free, or busy when an appointment holds it (an appointment's `slot`
    reference resolves); never who holds it."""
    consultation_id, starts_at = _parse_slot_id(value)
    consultation = _consultations(call).filter(pk=consultation_id).first()
    if consultation is None:
        return None
    day = timezone.localtime(starts_at).date()
    for slot in free_slots(consultation_type=consultation, first_day=day, days=1):
        if slot.starts_at == starts_at:
            return slot_resource(consultation, slot.starts_at, slot.ends_at)
    held = Appointment.objects.filter(
        consultation_type=consultation, starts_at=starts_at, holds_slot=True
    ).values_list("ends_at", flat=True)
    ends_at = next(iter(held), None)
    if ends_at is not None:
        return slot_resource(consultation, starts_at, ends_at, status="busy")
    return None


def read_slot(call: Call) -> Result:
    found = _slot(call, call.resource_id)
    if found is None:
        raise ApiError(404, "not-found", f"Slot/{call.resource_id} not found.")
    return 200, found, {}


def resolve_slots(call: Call, ids: list[str]) -> tuple[list[dict], list[str]]:
    found = []
    for ident in ids:
        try:
            slot = _slot(call, ident)
        except ApiError:
            slot = None
        if slot is not None:
            found.append(slot)
    return found, [i for i in ids if i not in {r["id"] for r in found}]


def _window(
    call: Call, name: str, default_days: int
) -> tuple[datetime.datetime, datetime.datetime]:
    span = call.query.dates(name)
    start = span.start or timezone.now()
    end = span.end or start + datetime.timedelta(days=default_days)
    if end <= start:
        raise ApiError(400, "value", f"{name}: the range is empty.")
    if (end - start).days > MAX_DAYS:
        raise ApiError(400, "too-costly", f"{name}: at most {MAX_DAYS} days at a time.")
    return start, end


def search_slots(call: Call) -> Result:
    schedule = call.query.reference("schedule")
    if not schedule:
        raise ApiError(400, "required", "schedule is required (Schedule/<id>).")
    agenda_id = _int_id(schedule, "Schedule")
    start, end = _window(call, "start", 7)
    wanted = {t.code for t in call.query.tokens("status")}
    if wanted and "free" not in wanted:
        raise ApiError(400, "not-supported", "status: Carnet publishes free slots only.")
    found = []
    first_day = timezone.localtime(start).date()
    days = (timezone.localtime(end).date() - first_day).days + 1
    motives = {t.code for t in call.query.tokens("service-type")}
    for consultation in _consultations(call).filter(agenda_id=agenda_id).order_by("pk"):
        if motives and consultation.motive not in motives:
            continue
        for slot in free_slots(consultation_type=consultation, first_day=first_day, days=days):
            if start <= slot.starts_at < end:
                found.append((slot.starts_at, consultation, slot))
    found.sort(key=lambda item: (item[0], item[1].pk))
    resources = [slot_resource(c, s.starts_at, s.ends_at) for _, c, s in found]
    return searchset_of(call, "Slot", resources)


# --- Appointment ------------------------------------------------------------------------------

# What an appointment says of a patient outside the reader's care relationships: that there
# is one, not who (an agenda's list must not hand out patient ids).
ANONYMOUS = {"display": "Patient (outside your care relationships: not shown)"}


def appointment_resource(appointment: Appointment, names: dict[str, str]) -> dict[str, Any]:
    patient_id = str(appointment.patient_id)
    patient: dict[str, Any] = dict(ANONYMOUS)
    if patient_id in names:
        patient = {"reference": f"Patient/{patient_id}", "display": names[patient_id]}
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
        "meta": {"lastUpdated": instant(appointment.created_at)},
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


STATES_OF: dict[str, list[str]] = {}
for _state, _status in STATUS.items():
    STATES_OF.setdefault(_status, []).append(_state)


def search_appointments(call: Call) -> Result:
    query = call.query
    rows = _appointments(call)
    patient = query.reference("patient") or call.only_patient or ""
    if patient:
        if call.only_patient and patient != call.only_patient:
            raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
        # Whose appointments: the guard decides (and counts) that patient first.
        open_identity(actor=call.actor, patient_id=patient)
        rows = rows.filter(patient_id=patient)
    if query.has("date"):
        start, end = _window(call, "date", 1)
        rows = rows.filter(starts_at__gte=start, starts_at__lt=end)
    elif not patient:
        raise ApiError(
            400,
            "too-costly",
            f"Say whose or when: patient, or a date range of at most {MAX_DAYS} days.",
        )
    if query.last_updated.given:
        span = query.last_updated
        if span.start:
            rows = rows.filter(created_at__gte=span.start)
        if span.end:
            rows = rows.filter(created_at__lt=span.end)
    practitioners = query.references("practitioner", "Practitioner")
    if practitioners:
        rows = rows.filter(
            agenda__practitioner_id__in=[_int_id(p, "Practitioner") for p in practitioners]
        )
    statuses = {t.code for t in query.tokens("status")}
    if statuses:
        unknown = statuses - set(STATES_OF)
        if unknown:
            raise ApiError(400, "value", f"status: unknown {', '.join(sorted(unknown))}.")
        rows = rows.filter(state__in=[s for st in statuses for s in STATES_OF[st]])
    names: dict[str, str] = {}

    def name_them(chunk: list[Appointment]) -> None:
        # Names (and references) only within the reader's care relationships: paging through
        # an agenda hands out no patient id beyond what the desk's own page would show.
        ids = [str(a.patient_id) for a in chunk]
        names.update(names_in_relationship(actor=call.actor, patient_ids=ids))
        if patient and patient in ids and patient not in names:
            names.update(display_names(actor=call.actor, patient_ids=[patient], capability=BOOKING))

    return searchset_rows(
        call,
        "Appointment",
        rows.order_by("starts_at", "pk"),
        lambda a: appointment_resource(a, names),
        order={"date": "starts_at"},
        valid_id=_is_uuid,
        prepare=name_them,
    )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _booking_problems(resource: dict[str, Any], slot: dict[str, Any]) -> list[str]:
    problems = []
    if resource.get("status") not in ("booked", "proposed", "pending"):
        problems.append(
            f"status {resource.get('status')!r}: Carnet books the slot (booked, or proposed / "
            "pending which it books as booked)"
        )
    for name in ("start", "end"):
        if resource.get(name) and _moment(resource[name]) != _moment(slot[name]):
            problems.append(f"{name} {resource[name]} is not the slot's ({slot[name]})")
    return problems


def _moment(text: str) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


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
    slot = _slot(call, reference_id(slots[0], "Slot", "slot"))
    if slot is None:
        raise ApiError(422, "processing", f"{slots[0]} is not a slot of your agendas.")
    problems = _booking_problems(resource, slot)
    if problems:
        raise ApiError(422, "processing", "Cannot book: " + "; ".join(problems) + ".")
    if slot["status"] != "free":
        raise ApiError(409, "conflict", SlotTaken.message)
    consultation_id, starts_at = _parse_slot_id(slot["id"])
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


def _actors(kind: str = ""):
    def extract(resource: dict[str, Any]) -> list[str]:
        found = []
        for participant in resource.get("participant", []):
            reference = (participant.get("actor") or {}).get("reference", "")
            if reference and (not kind or reference.startswith(kind + "/")):
                found.append(reference)
        return found

    return extract


def _schedule_actors(resource: dict[str, Any]) -> list[str]:
    return [a["reference"] for a in resource.get("actor", []) if a.get("reference")]


register(
    ResourceDefinition(
        type="Schedule",
        documentation="Agendas of your establishments (a practitioner's, a room's, a desk's).",
        interactions={
            "read": Interaction("scheduling.schedule", BOOKING, read_schedule),
            "search": Interaction("scheduling.schedule", BOOKING, search_schedules),
        },
        search=(
            SearchParameter("actor", "reference", "Practitioner/<id>.", clear=True),
            SearchParameter("active", "token", "true or false.", clear=True),
            *_COUNT,
        ),
        includes={"actor": _schedule_actors},
    )
)
register(
    ResourceDefinition(
        type="Slot",
        documentation=(
            "Free slots of an agenda, one per consultation type and start; a Slot's id books it "
            "(POST Appointment). A booked appointment's slot reads as busy."
        ),
        interactions={
            "read": Interaction("scheduling.slot", BOOKING, read_slot),
            "search": Interaction("scheduling.slot", BOOKING, search_slots),
        },
        search=(
            SearchParameter(
                "schedule", "reference", "Schedule/<id> (required).", target="Schedule", clear=True
            ),
            SearchParameter(
                "start",
                "date",
                f"Range (ge/lt...), default the next 7 days, at most {MAX_DAYS}.",
                clear=True,
                sort=lambda r: r.get("start"),
            ),
            SearchParameter("status", "token", "free (the only status published).", clear=True),
            SearchParameter("service-type", "token", "The consultation's motive.", clear=True),
            *_COUNT,
        ),
        includes={"schedule": lambda r: [r["schedule"]["reference"]]},
    )
)
register(
    ResourceDefinition(
        type="Appointment",
        documentation=(
            "Appointments of your establishments. Search needs a patient (opened through the "
            "guard) or a date range of at most 31 days; a patient is referenced (and named) "
            "only within your care relationships. Create books a free Slot for a Patient."
        ),
        interactions={
            "read": Interaction("scheduling.appointment", BOOKING, read_appointment),
            "search": Interaction("scheduling.appointments", BOOKING, search_appointments),
            "create": Interaction("scheduling.book", BOOKING, create_appointment),
        },
        search=(
            SearchParameter("patient", "reference", "Patient/<id>.", target="Patient", clear=True),
            SearchParameter(
                "practitioner",
                "reference",
                "Practitioner/<id>.",
                target="Practitioner",
                clear=True,
            ),
            SearchParameter(
                "date",
                "date",
                f"Range of the start (ge/lt...), at most {MAX_DAYS} days.",
                clear=True,
                sort=lambda r: r.get("start"),
            ),
            SearchParameter(
                "status",
                "token",
                "booked, arrived, checked-in, fulfilled, noshow, cancelled.",
                clear=True,
            ),
            SearchParameter("actor", "reference", "To _include participants.", clear=True),
            SearchParameter("_lastUpdated", "date", "When it was booked (ge/lt...).", clear=True),
            SearchParameter("slot", "reference", "To _include the Slot.", clear=True),
            *_COUNT,
        ),
        patient_compartment=True,
        includes={
            "patient": _actors("Patient"),
            "practitioner": _actors("Practitioner"),
            "location": _actors("Location"),
            "actor": _actors(),
            "slot": lambda r: [s["reference"] for s in r.get("slot", [])],
        },
    )
)
register_resolver("Schedule", resolve_schedules)
register_resolver("Slot", resolve_slots)
