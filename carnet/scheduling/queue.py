"""The waiting-room queue: on check-in a patient gets a ticket number for the day; staff call
the next ticket to a room; a screen shows ticket numbers and room names, never a name, a
birth date or a motive. Screens authenticate with a revocable device token, kept hashed."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, require
from carnet.guard.policy import Capability
from carnet.organisations.models import Room

from .models import AppointmentState, QueueCounter, ScreenDevice, Ticket, TicketState, WaitingRoom
from .selectors import names_in_relationship
from .services import change_state

TOKEN_BYTES = 32


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def check_in(*, actor: Actor, appointment_id: object, waiting_room_id: int) -> Ticket:
    """The patient is here: the appointment becomes "arrived" and a ticket is issued."""
    appointment = change_state(
        actor=actor, appointment_id=appointment_id, to_state=AppointmentState.ARRIVED
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
    """Calls the longest-waiting ticket of today to a consultation room."""
    require(actor, Capability.BOOK_APPOINTMENT)
    waiting_room = WaitingRoom.objects.filter(
        pk=waiting_room_id, establishment_id__in=actor.establishment_ids
    ).first()
    room = Room.objects.filter(
        pk=room_id, unit__establishment_id__in=actor.establishment_ids
    ).first()
    if waiting_room is None or room is None:
        raise Refused("no such room in the actor's establishments")
    ticket = (
        Ticket.objects.select_for_update()
        .filter(waiting_room=waiting_room, day=timezone.localdate(), state=TicketState.WAITING)
        .order_by("number")
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
    today = timezone.localdate()
    tickets = Ticket.objects.filter(waiting_room=device.waiting_room, day=today)
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
    """A waiting room as the desk sees it today: who waits, who was called lately, and the
    rooms of its establishment a ticket can be called to."""

    waiting_room: WaitingRoom
    waiting: tuple[QueueLine, ...]
    called: tuple[QueueLine, ...]
    rooms: tuple[Room, ...]


def desk_queues(*, actor: Actor, latest: int = 8) -> tuple[DeskQueue, ...]:
    """Today's queue of every waiting room of the actor's establishments, in a fixed number
    of queries."""
    require(actor, Capability.BOOK_APPOINTMENT)
    waiting_rooms = list(
        WaitingRoom.objects.filter(establishment_id__in=actor.establishment_ids)
        .select_related("establishment")
        .order_by("establishment__name", "name")
    )
    tickets = list(
        Ticket.objects.filter(waiting_room__in=waiting_rooms, day=timezone.localdate())
        .select_related("appointment__agenda", "room")
        .order_by("number")
    )
    waiting = [str(t.appointment.patient_id) for t in tickets if t.state == TicketState.WAITING]
    names = names_in_relationship(actor=actor, patient_ids=waiting)
    rooms: dict[int, list[Room]] = {}
    for room in (
        Room.objects.filter(unit__establishment_id__in=actor.establishment_ids)
        .select_related("unit")
        .order_by("unit__name", "name")
    ):
        rooms.setdefault(room.unit.establishment_id, []).append(room)
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
                rooms=tuple(rooms.get(waiting_room.establishment_id, ())),
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
