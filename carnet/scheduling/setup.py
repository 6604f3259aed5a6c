"""Setting agendas up (opening hours, consultation types) and filling them in bulk for system
jobs such as the demo. Bulk filling writes only on the agenda's grid, never overlapping."""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from carnet.guard.actors import Actor
from carnet.guard.boundary import require
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Capability
from carnet.guard.relationships import relate_desk_many, relate_many
from carnet.organisations.models import Establishment
from carnet.staff.models import Practitioner

from .models import (
    Agenda,
    AgendaKind,
    Appointment,
    AppointmentEvent,
    AppointmentState,
    ConsultationType,
    OpeningHours,
)
from .services import RELATIONSHIP_AFTER
from .slots import free_slots

WEEKDAYS_MORNING_AND_AFTERNOON = {
    day: [(datetime.time(8, 30), datetime.time(12, 30)), (datetime.time(14), datetime.time(18))]
    for day in range(5)
}
# An emergency department's unscheduled consultations: every day, all day (a closing time of
# 23:59 is midnight, see slots.py).
AROUND_THE_CLOCK = {day: [(datetime.time(0), datetime.time(23, 59))] for day in range(7)}


@transaction.atomic
def create_agenda(
    *,
    establishment: Establishment,
    name: str,
    practitioner: Practitioner | None = None,
    hours: dict[int, list[tuple[datetime.time, datetime.time]]] = WEEKDAYS_MORNING_AND_AFTERNOON,
    types: Iterable[tuple[str, int, bool]] = (("Consultation", 20, True),),
) -> Agenda:
    agenda = Agenda.objects.create(
        establishment=establishment,
        kind=AgendaKind.PRACTITIONER if practitioner else AgendaKind.RESOURCE,
        name=name,
        practitioner=practitioner,
    )
    OpeningHours.objects.bulk_create(
        OpeningHours(agenda=agenda, weekday=day, opens=opens, closes=closes)
        for day, spans in hours.items()
        for opens, closes in spans
    )
    ConsultationType.objects.bulk_create(
        ConsultationType(agenda=agenda, motive=motive, minutes=minutes, online=online)
        for motive, minutes, online in types
    )
    return agenda


def fill_agenda(
    *,
    actor: Actor,
    agenda: Agenda,
    patient_ids: list[str],
    first_day: datetime.date,
    days: int,
    share: float,
    rng: random.Random,
    not_before: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    limit: int | None = None,
) -> int:
    """Books `share` of the agenda's slots over the days with the given patients: past
    appointments done (some not attended), future ones booked or confirmed. `not_before`,
    `until` and `limit` keep to the slots starting in that span, the first `limit` of them."""
    require(actor, Capability.IMPORT_APPOINTMENTS)
    consultation = agenda.consultation_types.order_by("pk").first()
    if consultation is None or not patient_ids:
        return 0
    start = timezone.make_aware(datetime.datetime.combine(first_day, datetime.time.min))
    slots = free_slots(
        consultation_type=consultation,
        first_day=first_day,
        days=days,
        now=start - datetime.timedelta(days=1),
        ignore_appointments=False,
    )
    now = timezone.now()
    slots = [
        slot
        for slot in slots
        if (not_before is None or slot.starts_at >= not_before)
        and (until is None or slot.starts_at < until)
    ]
    chosen = [slot for slot in slots if rng.random() < share][:limit]
    appointments = []
    for slot in chosen:
        if slot.ends_at < now:
            state = AppointmentState.NO_SHOW if rng.random() < 0.08 else AppointmentState.DONE
        else:
            state = AppointmentState.CONFIRMED if rng.random() < 0.5 else AppointmentState.BOOKED
        appointments.append(
            Appointment(
                agenda=agenda,
                consultation_type=consultation,
                patient_id=rng.choice(patient_ids),
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                state=state,
            )
        )
    with transaction.atomic():
        Appointment.objects.bulk_create(appointments, batch_size=1000)
        AppointmentEvent.objects.bulk_create(
            (
                AppointmentEvent(appointment=a, to_state=a.state, reason="demo")
                for a in appointments
            ),
            batch_size=1000,
        )
        relate_desk_many(
            (
                (a.patient_id, agenda.establishment_id, a.starts_at, a.ends_at)
                for a in appointments
                if a.ends_at > now - datetime.timedelta(days=1)
            ),
            source="demo",
        )
        if agenda.practitioner_id:
            user_id = agenda.practitioner.user_id
            relate_many(
                (
                    (
                        a.patient_id,
                        user_id,
                        RelationshipKind.APPOINTMENT,
                        a.ends_at + RELATIONSHIP_AFTER,
                    )
                    for a in appointments
                    if a.ends_at + RELATIONSHIP_AFTER > now
                ),
                source="demo",
            )
    return len(appointments)
