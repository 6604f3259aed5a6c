"""The desk: one agenda's day or week, a unit's agendas side by side, booking, check-in with a
ticket, cancelling with a reason, calling the next ticket, a printed confirmation. Names come
through the guard (the desk's window around appointments). Actions answer htmx with the day's
sheet, and anything else with a redirect."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.guard.actors import Actor
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.scheduling.models import AppointmentState
from carnet.scheduling.queue import call_next, check_in, desk_queues
from carnet.scheduling.reminders import send_confirmation
from carnet.scheduling.selectors import (
    agendas_for,
    confirmation,
    day_sheet,
    monday_of,
    unit_day,
    units_for,
    week_sheet,
)
from carnet.scheduling.services import SlotTaken, book_appointment, change_state

from ..forms import SearchForm
from .common import signed_in_actor

ONE_DAY = datetime.timedelta(days=1)
ONE_WEEK = datetime.timedelta(days=7)


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _choice(actor: Actor, data: QueryDict) -> tuple[list, int | None, datetime.date]:
    """The agendas to choose from, the chosen one (the first by default), and the day."""
    agendas = list(agendas_for(actor=actor))
    chosen = _number(data.get("agenda"))
    agenda_id = chosen if chosen is not None else (agendas[0].pk if agendas else None)
    day = parse_date(data.get("day", "") or "") or timezone.localdate()
    return agendas, agenda_id, day


def _url(name: str, **query: object) -> str:
    wanted = {k: v for k, v in query.items() if v not in (None, "")}
    return f"{reverse(name)}?{urlencode(wanted)}" if wanted else reverse(name)


def _views(agenda_id: int | None, day: datetime.date, unit_id: int | None = None) -> dict:
    """Links between the day, week and unit views, keeping the agenda and the day."""
    return {
        "day_url": _url("web:desk", agenda=agenda_id, day=day),
        "week_url": _url("web:desk_week", agenda=agenda_id, day=day),
        "unit_url": _url("web:desk_unit", agenda=agenda_id, day=day, unit=unit_id),
    }


def _day_context(actor: Actor, agenda_id: int | None, day: datetime.date) -> dict:
    return {
        "sheet": day_sheet(actor=actor, agenda_id=agenda_id, day=day) if agenda_id else None,
        "day": day,
        "today": timezone.localdate(),
    }


def _sheet_or_back(request: HttpRequest, agenda: str, day: str, fresh: str = "") -> HttpResponse:
    """After an action: the day's sheet for htmx (messages in it), else back to the page;
    `fresh` is the appointment just booked, to be found at once."""
    if not request.htmx:  # type: ignore[attr-defined]
        anchor = f"#a-{fresh}" if fresh else ""
        return redirect(_url("web:desk", agenda=agenda, day=day) + anchor)
    actor = signed_in_actor(request)
    chosen = parse_date(day) or timezone.localdate()
    context = {**_day_context(actor, _number(agenda), chosen), "swapped": True, "fresh": fresh}
    return render(request, "web/desk_sheet.html", context)


@staff_view("desk.day", Capability.BOOK_APPOINTMENT)
def desk(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    agendas, agenda_id, day = _choice(actor, request.GET)
    context = _day_context(actor, agenda_id, day)
    return render(
        request,
        "web/desk.html",
        {
            **context,
            **_views(agenda_id, day),
            "agendas": agendas,
            "agenda_id": agenda_id,
            "view": "day",
            "previous_url": _url("web:desk", agenda=agenda_id, day=day - ONE_DAY),
            "next_url": _url("web:desk", agenda=agenda_id, day=day + ONE_DAY),
            "today_url": _url("web:desk", agenda=agenda_id),
        },
    )


@staff_view("desk.week", Capability.BOOK_APPOINTMENT)
def desk_week(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    agendas, agenda_id, day = _choice(actor, request.GET)
    week = week_sheet(actor=actor, agenda_id=agenda_id, day=day) if agenda_id else None
    monday = monday_of(day)
    return render(
        request,
        "web/desk_week.html",
        {
            **_views(agenda_id, day),
            "agendas": agendas,
            "agenda_id": agenda_id,
            "view": "week",
            "week": week,
            "day": day,
            "sunday": monday + datetime.timedelta(days=6),
            "monday": monday,
            "today": timezone.localdate(),
            "previous_url": _url("web:desk_week", agenda=agenda_id, day=monday - ONE_WEEK),
            "next_url": _url("web:desk_week", agenda=agenda_id, day=monday + ONE_WEEK),
            "today_url": _url("web:desk_week", agenda=agenda_id),
        },
    )


@staff_view("desk.unit", Capability.BOOK_APPOINTMENT)
def desk_unit(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    agendas, agenda_id, day = _choice(actor, request.GET)
    unit_id = _number(request.GET.get("unit"))
    home = next((a.establishment_id for a in agendas if a.pk == agenda_id), None)
    board = unit_day(actor=actor, day=day, unit_id=unit_id, establishment_id=home)
    return render(
        request,
        "web/desk_unit.html",
        {
            **_views(agenda_id, day, unit_id),
            "agenda_id": agenda_id,
            "units": list(units_for(actor=actor)),
            "unit_id": unit_id,
            "view": "unit",
            "board": board,
            "day": day,
            "today": timezone.localdate(),
            "previous_url": _url(
                "web:desk_unit", agenda=agenda_id, day=day - ONE_DAY, unit=unit_id
            ),
            "next_url": _url("web:desk_unit", agenda=agenda_id, day=day + ONE_DAY, unit=unit_id),
            "today_url": _url("web:desk_unit", agenda=agenda_id, unit=unit_id),
        },
    )


@staff_view("desk.check_in", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_check_in(request: HttpRequest, appointment_id: str) -> HttpResponse:
    try:
        ticket = check_in(
            actor=signed_in_actor(request),
            appointment_id=appointment_id,
            waiting_room_id=_number(request.POST.get("waiting_room")) or 0,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Checked in: ticket %(number)s.") % {"number": ticket.number})
    return _sheet_or_back(request, request.POST.get("agenda", ""), request.POST.get("day", ""))


@staff_view("desk.cancel", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_cancel(request: HttpRequest, appointment_id: str) -> HttpResponse:
    try:
        change_state(
            actor=signed_in_actor(request),
            appointment_id=appointment_id,
            to_state=AppointmentState.CANCELLED_BY_ESTABLISHMENT,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Appointment cancelled; the slot is free again."))
    return _sheet_or_back(request, request.POST.get("agenda", ""), request.POST.get("day", ""))


@staff_view("desk.book", Capability.BOOK_APPOINTMENT)
def desk_book(request: HttpRequest) -> HttpResponse:
    """Book a free slot: find the patient (the same guarded search), then book in one click.
    From the day view, htmx opens this as a panel beside the sheet."""
    actor = signed_in_actor(request)
    data = request.POST if request.method == "POST" else request.GET
    starts_at = parse_datetime(data.get("start", ""))
    consultation_id = _number(data.get("type"))
    if starts_at is None or consultation_id is None:
        messages.error(request, _("Choose a free slot in the agenda first."))
        return redirect("web:desk")
    agenda, day = data.get("agenda", ""), timezone.localtime(starts_at).date()
    if request.method == "POST":
        fresh = ""
        try:
            appointment = book_appointment(
                actor=actor,
                consultation_type_id=consultation_id,
                patient_id=request.POST.get("patient", ""),
                starts_at=starts_at,
            )
        except SlotTaken:
            messages.error(request, _("This slot was just taken: please choose another one."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            fresh = str(appointment.pk)
            booked = _("Appointment booked at %(time)s.") % {
                "time": timezone.localtime(appointment.starts_at).strftime("%H:%M")
            }
            link = reverse("web:desk_confirmation", args=[appointment.pk])
            messages.success(
                request,
                format_html('{} <a href="{}">{}</a>', booked, link, _("Print the confirmation")),
            )
        return _sheet_or_back(request, agenda, day.isoformat(), fresh)
    form = SearchForm(request.GET)
    outcome = None
    if form.has_criteria() and form.is_valid():
        outcome = search_identities(actor=actor, query=SearchQuery(**form.cleaned_data))
    template = "web/desk_book_panel.html" if request.htmx else "web/desk_book.html"  # type: ignore[attr-defined]
    return render(
        request,
        template,
        {
            "form": form,
            "outcome": outcome,
            "start": starts_at,
            "type": consultation_id,
            "agenda": agenda,
            "panel": bool(request.htmx),  # type: ignore[attr-defined]
            "back": _url("web:desk", agenda=agenda, day=day),
        },
    )


def _queue_context(request: HttpRequest, room_id: int | None) -> dict:
    return {
        "queues": desk_queues(actor=signed_in_actor(request)),
        "room_id": room_id,
        "today": timezone.localdate(),
    }


@staff_view("desk.queue", Capability.BOOK_APPOINTMENT)
def desk_queue(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request, _number(request.GET.get("room")))
    return render(request, "web/desk_queue.html", context)


@staff_view("desk.call_next", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_call_next(request: HttpRequest) -> HttpResponse:
    room_id = _number(request.POST.get("room")) or 0
    ticket = call_next(
        actor=signed_in_actor(request),
        waiting_room_id=_number(request.POST.get("waiting_room")) or 0,
        room_id=room_id,
    )
    if ticket is None:
        messages.warning(request, _("Nobody is waiting: no ticket was called."))
    else:
        messages.success(
            request,
            _("Ticket %(number)s called to %(room)s.")
            % {"number": ticket.number, "room": ticket.room.name if ticket.room else ""},
        )
    if request.htmx:  # type: ignore[attr-defined]
        context = {**_queue_context(request, room_id), "swapped": True}
        return render(request, "web/desk_queue_board.html", context)
    return redirect(_url("web:desk_queue", room=room_id))


@staff_view("desk.confirmation", Capability.BOOK_APPOINTMENT)
def desk_confirmation(request: HttpRequest, appointment_id: str) -> HttpResponse:
    shown = confirmation(actor=signed_in_actor(request), appointment_id=appointment_id)
    day = timezone.localtime(shown.starts_at).date()
    return render(
        request,
        "web/desk_confirmation.html",
        {
            "confirmation": shown,
            "printed_at": timezone.now(),
            "back": _url("web:desk", agenda=shown.agenda_id, day=day),
        },
    )


@staff_view("desk.send_confirmation", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_send_confirmation(request: HttpRequest, appointment_id: str) -> HttpResponse:
    """Sends the confirmation by e-mail and SMS, on the channels the patient has."""
    try:
        outcome = send_confirmation(actor=signed_in_actor(request), appointment_id=appointment_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        channels = {"email": _("e-mail"), "sms": _("SMS")}
        if outcome.sent:
            messages.success(
                request,
                _("Confirmation sent by %(channels)s.")
                % {"channels": ", ".join(str(channels[c]) for c in outcome.sent)},
            )
        if outcome.failed:
            messages.error(
                request,
                _("Could not send by %(channels)s: print the confirmation instead.")
                % {"channels": ", ".join(str(channels[c]) for c in outcome.failed)},
            )
    return redirect("web:desk_confirmation", appointment_id=appointment_id)
