"""The waiting-room queue: on check-in a patient gets a ticket number for the day; staff call
the next ticket to a room; a screen shows ticket numbers and room names, never a name, a
birth date or a motive. Screens authenticate with a revocable device token, kept hashed."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, require
from carnet.guard.policy import Capability
from carnet.organisations.models import Room
from carnet.staff.models import Membership

from .models import AppointmentState, QueueCounter, ScreenDevice, Ticket, TicketState, WaitingRoom
from .selectors import names_in_relationship
from .services import change_state

TOKEN_BYTES = 32
# A queue is the tickets of the last hours, not of the calendar day: a patient who checked in
# at 23:50 in an emergency department is still waiting at 00:05 (the numbers start again each
# day; longest waiting first). Past this, a ticket never called is someone who left.
QUEUE_HOURS = 12


# A patient may check in on the day of the appointment; the evening before, only this close
# to it (the night's emergency patient who comes at 23:50 for 00:15).
EARLY_ARRIVAL = datetime.timedelta(hours=1)


def may_check_in(starts_at: datetime.datetime, now: datetime.datetime | None = None) -> bool:
    """On the appointment's local day (the establishment's time zone), or within the hour
    before it across midnight; never days ahead, never the day after."""
    now = now or timezone.now()
    if timezone.localdate(starts_at) == timezone.localdate(now):
        return True
    return now <= starts_at <= now + EARLY_ARRIVAL


def _recent() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(hours=QUEUE_HOURS)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def check_in(
    *,
    actor: Actor,
    appointment_id: object,
    waiting_room_id: int,
    capability: Capability = Capability.BOOK_APPOINTMENT,
) -> Ticket:
    """The patient is here: the appointment becomes "arrived" and a ticket is issued, on the
    day of the appointment only (see `may_check_in`): a patient who comes on another day is
    booked again, not queued. (`capability`: the desk's, or an import's for
    arrivals recorded by a system job.)"""
    appointment = change_state(
        actor=actor,
        appointment_id=appointment_id,
        to_state=AppointmentState.ARRIVED,
        capability=capability,
    )
    # Checked after the guard (the same answer for someone else's appointment and for none);
    # the refusal rolls the state change back.
    booked_day = timezone.localdate(appointment.starts_at)
    if not may_check_in(appointment.starts_at):
        raise ValidationError(
            _(
                "Check-in is possible on the day of the appointment only: this one is on "
                "%(day)s. For today, book a new appointment or add the patient as a walk-in."
            )
            % {"day": formats.date_format(booked_day, "l j F Y")}
        )
    room = WaitingRoom.objects.filter(
        pk=waiting_room_id, establishment_id=appointment.agenda.establishment_id
    ).first()
    if room is None:
        raise Refused("no such waiting room in the appointment's establishment")
    today = timezone.localdate()
    counter, _created = QueueCounter.objects.get_or_create(waiting_room=room, day=today)
    QueueCounter.objects.filter(pk=counter.pk).update(last=F("last") + 1)
    number = QueueCounter.objects.values_list("last", flat=True).get(pk=counter.pk)
    return Ticket.objects.create(
        waiting_room=room, day=today, number=number, appointment=appointment
    )


@transaction.atomic
def call_next(*, actor: Actor, waiting_room_id: int, room_id: int) -> Ticket | None:
    """Calls the longest-waiting ticket to a consultation room."""
    require(actor, Capability.BOOK_APPOINTMENT)
    waiting_room = WaitingRoom.objects.filter(
        pk=waiting_room_id, establishment_id__in=actor.establishment_ids
    ).first()
    room = Room.objects.filter(
        pk=room_id, unit__establishment_id__in=actor.establishment_ids
    ).first()
    if waiting_room is None or room is None:
        raise Refused("no such room in the actor's establishments")
    if waiting_room.unit_id is not None and room.unit_id != waiting_room.unit_id:
        raise Refused("a waiting room's tickets are called to its own unit's rooms")
    ticket = (
        Ticket.objects.select_for_update()
        .filter(waiting_room=waiting_room, issued_at__gte=_recent(), state=TicketState.WAITING)
        .order_by("issued_at", "pk")
        .first()
    )
    if ticket is None:
        return None
    ticket.state = TicketState.CALLED
    ticket.called_at = timezone.now()
    ticket.room = room
    ticket.save(update_fields=["state", "called_at", "room"])
    return ticket


def register_screen(*, waiting_room: WaitingRoom, name: str) -> str:
    """A new screen device for one waiting room; returns its token (shown once)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    ScreenDevice.objects.create(waiting_room=waiting_room, name=name, token_digest=_digest(token))
    return token


def revoke_screen(*, device_id: int) -> None:
    ScreenDevice.objects.filter(pk=device_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def screen_for(token: str) -> ScreenDevice | None:
    if not token or len(token) > 128:
        return None
    device = (
        ScreenDevice.objects.select_related("waiting_room")
        .filter(token_digest=_digest(token), revoked_at__isnull=True)
        .first()
    )
    if device is not None:
        ScreenDevice.objects.filter(pk=device.pk).update(last_seen_at=timezone.now())
    return device


@dataclass(frozen=True)
class Board:
    """What a waiting-room screen may show: numbers and room names. Nothing else exists here."""

    title: str
    called: tuple[tuple[int, str], ...]
    waiting: int


def board(device: ScreenDevice, *, latest: int = 8) -> Board:
    tickets = Ticket.objects.filter(waiting_room=device.waiting_room, issued_at__gte=_recent())
    called = tuple(
        tickets.filter(state=TicketState.CALLED)
        .order_by("-called_at")
        .values_list("number", "room__name")[:latest]
    )
    return Board(
        title=device.waiting_room.name or _("Waiting room"),
        called=called,
        waiting=tickets.filter(state=TicketState.WAITING).count(),
    )


@dataclass(frozen=True)
class QueueLine:
    number: int
    appointment_at: datetime.datetime
    agenda: str
    name: str  # empty unless the guard handed the patient over (the desk's window)
    issued_at: datetime.datetime
    called_at: datetime.datetime | None
    room: str


@dataclass(frozen=True)
class DeskQueue:
    """A waiting room as the desk sees it now: who waits, who was called lately, and the
    rooms of its establishment a ticket can be called to."""

    waiting_room: WaitingRoom
    waiting: tuple[QueueLine, ...]
    called: tuple[QueueLine, ...]
    rooms: tuple[Room, ...]


def waiting_rooms_for(*, actor: Actor) -> list[WaitingRoom]:
    require(actor, Capability.BOOK_APPOINTMENT)
    return list(
        WaitingRoom.objects.filter(establishment_id__in=actor.establishment_ids)
        .select_related("establishment", "unit")
        .order_by("establishment__name", "name")
    )


def home_waiting_room(*, actor: Actor, waiting_rooms: list[WaitingRoom]) -> WaitingRoom | None:
    """The waiting room a desk opens on: one of its own units' if it has one, else the first."""
    if not waiting_rooms:
        return None
    units = set(
        Membership.objects.filter(user_id=actor.user_id, unit__isnull=False).values_list(
            "unit_id", flat=True
        )
    )
    return next((w for w in waiting_rooms if w.unit_id in units), waiting_rooms[0])


def desk_queues(
    *, actor: Actor, latest: int = 8, waiting_room_id: int | None = None
) -> tuple[DeskQueue, ...]:
    """The queue of each waiting room of the actor's establishments (the last hours'
    tickets, across midnight), or of the one asked for, in a fixed number of queries. Each
    queue is its own waiting room's: the rooms it calls to are its unit's (or, for a waiting
    room placed in no unit, the establishment's)."""
    waiting_rooms = waiting_rooms_for(actor=actor)
    if waiting_room_id is not None:
        waiting_rooms = [w for w in waiting_rooms if w.pk == waiting_room_id]
    tickets = list(
        Ticket.objects.filter(waiting_room__in=waiting_rooms, issued_at__gte=_recent())
        .select_related("appointment__agenda", "room")
        .order_by("issued_at", "pk")
    )
    waiting = [str(t.appointment.patient_id) for t in tickets if t.state == TicketState.WAITING]
    names = names_in_relationship(actor=actor, patient_ids=waiting)
    rooms: dict[int, list[Room]] = {}
    by_unit: dict[int, list[Room]] = {}
    for room in (
        Room.objects.filter(unit__establishment_id__in=actor.establishment_ids)
        .select_related("unit")
        .order_by("unit__name", "name")
    ):
        rooms.setdefault(room.unit.establishment_id, []).append(room)
        by_unit.setdefault(room.unit_id, []).append(room)
    queues = []
    for waiting_room in waiting_rooms:
        mine = [t for t in tickets if t.waiting_room_id == waiting_room.pk]
        called = sorted(
            (t for t in mine if t.state == TicketState.CALLED),
            key=lambda t: t.called_at,
            reverse=True,
        )[:latest]
        queues.append(
            DeskQueue(
                waiting_room=waiting_room,
                waiting=tuple(_line(t, names) for t in mine if t.state == TicketState.WAITING),
                called=tuple(_line(t, {}) for t in called),
                rooms=tuple(
                    by_unit.get(waiting_room.unit_id, ())
                    if waiting_room.unit_id is not None
                    else rooms.get(waiting_room.establishment_id, ())
                ),
            )
        )
    return tuple(queues)


def _line(ticket: Ticket, names: dict[str, str]) -> QueueLine:
    return QueueLine(
        number=ticket.number,
        appointment_at=ticket.appointment.starts_at,
        agenda=ticket.appointment.agenda.name,
        name=names.get(str(ticket.appointment.patient_id), ""),
        issued_at=ticket.issued_at,
        called_at=ticket.called_at,
        room=ticket.room.name if ticket.room else "",
    )
