"""The demo's day, whatever the hour `carnet demo` starts (or starts again, days later): the
hospital's emergency department has appointments in the hours to come, and the patients due
about now have checked in, so the desk has a queue to call and the screen numbers to show.
Written as the system's import, through the scheduling domain; never as a staff account's act."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from django.utils import timezone

from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.guard.policy import Capability
from carnet.patients.selectors import ids_known_at
from carnet.scheduling.models import (
    Agenda,
    Appointment,
    AppointmentState,
    Ticket,
    TicketState,
    WaitingRoom,
)
from carnet.scheduling.queue import EARLY_ARRIVAL, QUEUE_HOURS, check_in
from carnet.scheduling.setup import fill_agenda

from .demo_structure import AROUND_THE_CLOCK_AGENDA

# Patients booked within this span of now are the ones in the building (some come early).
ARRIVALS_BEFORE = datetime.timedelta(minutes=30)
ARRIVALS_AFTER = datetime.timedelta(hours=2)
WAITING = 3
# Appointments still to come: the emergency agenda half booked over the next hours.
AHEAD = datetime.timedelta(hours=4)
AHEAD_SHARE = 0.5


@dataclass(frozen=True)
class DemoDay:
    booked: int
    checked_in: int


def prepare_day(*, seed: int) -> DemoDay:
    """Idempotent within the hour: slots already taken stay taken, tickets are not doubled."""
    agenda = (
        Agenda.objects.filter(name=AROUND_THE_CLOCK_AGENDA, active=True)
        .select_related("establishment")
        .first()
    )
    hospital = agenda.establishment_id if agenda else None
    waiting_room = WaitingRoom.objects.filter(establishment_id=hospital).order_by("pk").first()
    if agenda is None or waiting_room is None:
        return DemoDay(0, 0)
    now = timezone.now()
    today = timezone.localdate(now)
    rng = random.Random(f"{seed}:{now:%Y-%m-%dT%H}")
    actor = system_actor("demo-day")
    booked = checked_in = 0
    with system_job(actor, "scheduling.import"):
        patients = ids_known_at(actor=actor, establishment_id=hospital, limit=3000)

        def book(**span: object) -> int:
            return fill_agenda(
                actor=actor,
                agenda=agenda,
                patient_ids=patients,
                first_day=today,
                days=2,
                rng=rng,
                **span,  # type: ignore[arg-type]
            )

        due = _due(hospital, now)
        if len(due) < WAITING:
            # Enough patients in the building: the next free slots, all taken.
            booked += book(share=1.0, not_before=now - ARRIVALS_BEFORE, limit=WAITING - len(due))
            due = _due(hospital, now)
        booked += book(share=AHEAD_SHARE, not_before=now, until=now + AHEAD)
        waiting = Ticket.objects.filter(
            waiting_room=waiting_room,
            state=TicketState.WAITING,
            issued_at__gte=now - datetime.timedelta(hours=QUEUE_HOURS),
        ).count()
        for appointment_id in due[: max(0, WAITING - waiting)]:
            check_in(
                actor=actor,
                appointment_id=appointment_id,
                waiting_room_id=waiting_room.pk,
                capability=Capability.IMPORT_APPOINTMENTS,
            )
            checked_in += 1
    return DemoDay(booked, checked_in)


def _due(establishment_id: int, now: datetime.datetime) -> list[int]:
    """Booked appointments about now, not checked in yet, the soonest first; those a check-in
    accepts now (today's, or just after midnight: see `may_check_in`)."""
    today = timezone.localdate(now)
    midnight = timezone.make_aware(datetime.datetime.combine(today, datetime.time.min))
    tomorrow = timezone.make_aware(
        datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time.min)
    )
    rows = Appointment.objects.filter(
        agenda__establishment_id=establishment_id,
        state__in=(AppointmentState.BOOKED, AppointmentState.CONFIRMED),
        starts_at__gte=max(now - ARRIVALS_BEFORE, midnight),
        starts_at__lt=min(now + ARRIVALS_AFTER, max(tomorrow, now + EARLY_ARRIVAL)),
        ticket__isnull=True,
    ).order_by("starts_at", "pk")
    return list(rows.values_list("pk", flat=True))
