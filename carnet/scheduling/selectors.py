"""Reading agendas for the desk: a day of one agenda, with its appointments (names handed over
by the guard: the desk's window, the practitioner's appointments) and its free slots."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, require
from carnet.guard.policy import Capability
from carnet.patients.selectors import display_names

from .models import Agenda, Appointment, WaitingRoom
from .slots import Slot, free_slots


@dataclass(frozen=True)
class SheetRow:
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    appointment_id: str
    patient_id: str
    name: str
    motive: str
    state: str
    state_label: str
    ticket: int | None


@dataclass(frozen=True)
class DaySheet:
    agenda: Agenda
    day: datetime.date
    rows: tuple[SheetRow, ...]
    free: tuple[Slot, ...]
    waiting_rooms: tuple[WaitingRoom, ...]
    consultation_id: int | None


def agendas_for(*, actor: Actor) -> QuerySet:
    require(actor, Capability.BOOK_APPOINTMENT)
    return Agenda.objects.filter(
        establishment_id__in=actor.establishment_ids, active=True
    ).order_by("establishment__name", "name")


def day_sheet(*, actor: Actor, agenda_id: int, day: datetime.date) -> DaySheet:
    agenda = agendas_for(actor=actor).filter(pk=agenda_id).first()
    if agenda is None:
        raise Refused("no such agenda in the actor's establishments")
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    appointments = list(
        Appointment.objects.filter(
            agenda=agenda, starts_at__gte=start, starts_at__lt=start + datetime.timedelta(days=1)
        )
        .select_related("consultation_type", "ticket")
        .order_by("starts_at")
    )
    names = display_names(
        actor=actor,
        patient_ids=[str(a.patient_id) for a in appointments],
        capability=Capability.BOOK_APPOINTMENT,
    )
    rows = tuple(
        SheetRow(
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            appointment_id=str(a.pk),
            patient_id=str(a.patient_id),
            name=names.get(str(a.patient_id), "—"),
            motive=a.consultation_type.motive,
            state=a.state,
            state_label=a.get_state_display(),
            ticket=getattr(getattr(a, "ticket", None), "number", None),
        )
        for a in appointments
    )
    consultation = agenda.consultation_types.order_by("pk").first()
    free = (
        tuple(free_slots(consultation_type=consultation, first_day=day, days=1))
        if consultation
        else ()
    )
    rooms = tuple(WaitingRoom.objects.filter(establishment_id=agenda.establishment_id))
    return DaySheet(
        agenda=agenda,
        day=day,
        rows=rows,
        free=free,
        waiting_rooms=rooms,
        consultation_id=consultation.pk if consultation else None,
    )
