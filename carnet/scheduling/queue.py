"""The waiting-room queue: on check-in a patient gets a ticket number for the day; staff call
the next ticket to a room; a screen shows ticket numbers and room names, never a name, a
birth date or a motive. Screens authenticate with a revocable device token, kept hashed."""

from __future__ import annotations

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
