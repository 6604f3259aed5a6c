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
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.guard.actors import Actor
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.scheduling.models import AppointmentState, CancellationReason
from carnet.scheduling.printouts import ARRIVE_EARLY, TO_BRING, confirmation_pdf
from carnet.scheduling.queue import (
    call_next,
    check_in,
    desk_queues,
    home_waiting_room,
    waiting_rooms_for,
)
from carnet.scheduling.reminders import send_confirmation
from carnet.scheduling.selectors import (
    WEEK_GRID_AGENDAS,
    agendas_for,
    confirmation,
    day_grid,
    day_sheet,
    monday_of,
    move_choices,
    next_free,
    specialties_for,
    unit_day,
    units_for,
    week_grid,
)
from carnet.scheduling.services import (
    Details,
    SlotTaken,
    add_walk_in,
    book_appointment,
    change_state,
    move_appointment,
    set_details,
)

from ..forms import SearchForm
from .common import file_response, signed_in_actor

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


def _details(data: QueryDict) -> Details:
    first = data.get("first_visit", "")
    return Details(
        comment=data.get("comment", ""),
        visit_reason=data.get("visit_reason", ""),
        first_visit=True if first == "yes" else False if first == "no" else None,
    )


# Offered to the desk when cancelling (the death is declared elsewhere, a move is a move).
DESK_CANCELLATION_REASONS = [
    (value, label)
    for value, label in CancellationReason.choices
    if value not in (CancellationReason.DEATH, CancellationReason.MOVED)
]


def _day_context(actor: Actor, agenda_id: int | None, day: datetime.date) -> dict:
    return {
        "sheet": day_sheet(actor=actor, agenda_id=agenda_id, day=day) if agenda_id else None,
        "day": day,
        "today": timezone.localdate(),
        "cancellation_reasons": DESK_CANCELLATION_REASONS,
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


def _week_url(agenda_id: int | None, also: list[int], day: datetime.date | None = None) -> str:
    query = [("agenda", agenda_id)] if agenda_id else []
    query += [("day", day)] if day else []
    query += [("also", pk) for pk in also]
    return f"{reverse('web:desk_week')}?{urlencode(query)}" if query else reverse("web:desk_week")


@staff_view("desk.week", Capability.BOOK_APPOINTMENT)
def desk_week(request: HttpRequest) -> HttpResponse:
    """The week as a time grid: the chosen agenda, and others beside it within each day."""
    actor = signed_in_actor(request)
    agendas, agenda_id, day = _choice(actor, request.GET)
    also = [
        pk
        for pk in dict.fromkeys(_number(v) for v in request.GET.getlist("also"))
        if pk is not None and pk != agenda_id
    ][: WEEK_GRID_AGENDAS - 1]
    week = grid = None
    if agenda_id:
        week, grid = week_grid(actor=actor, agenda_ids=[agenda_id, *also], day=day)
    monday = monday_of(day)
    return render(
        request,
        "web/desk_week.html",
        {
            **_views(agenda_id, day),
            "week_url": _week_url(agenda_id, also, day),
            "agendas": agendas,
            "agenda_id": agenda_id,
            "also": also,
            "view": "week",
            "week": week,
            "grid": grid,
            "day": day,
            "sunday": monday + datetime.timedelta(days=6),
            "monday": monday,
            "today": timezone.localdate(),
            "previous_url": _week_url(agenda_id, also, monday - ONE_WEEK),
            "next_url": _week_url(agenda_id, also, monday + ONE_WEEK),
            "today_url": _week_url(agenda_id, also),
        },
    )


@staff_view("desk.unit", Capability.BOOK_APPOINTMENT)
def desk_unit(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    agendas, agenda_id, day = _choice(actor, request.GET)
    unit_id = _number(request.GET.get("unit"))
    home = next((a.establishment_id for a in agendas if a.pk == agenda_id), None)
    board = unit_day(actor=actor, day=day, unit_id=unit_id, establishment_id=home)
    grid = day_grid(actor=actor, board=board)
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
            "grid": grid,
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
            to_state=_cancelled_by(request.POST.get("cancellation", "")),
            reason=request.POST.get("reason", ""),
            cancellation_reason=request.POST.get("cancellation", ""),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Appointment cancelled; the slot is free again."))
    return _sheet_or_back(request, request.POST.get("agenda", ""), request.POST.get("day", ""))


def _cancelled_by(code: str) -> str:
    """The patient called to cancel: cancelled by the patient; anything else, by us."""
    if code == CancellationReason.PATIENT_REQUEST:
        return AppointmentState.CANCELLED_BY_PATIENT
    return AppointmentState.CANCELLED_BY_ESTABLISHMENT


@staff_view("desk.details", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_details(request: HttpRequest, appointment_id: str) -> HttpResponse:
    """The comment, the visit reason and first visit or not of an appointment (sealed)."""
    try:
        set_details(
            actor=signed_in_actor(request),
            appointment_id=appointment_id,
            details=_details(request.POST),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Appointment details saved."))
    return _sheet_or_back(request, request.POST.get("agenda", ""), request.POST.get("day", ""))


@staff_view("desk.book", Capability.BOOK_APPOINTMENT)
def desk_book(request: HttpRequest) -> HttpResponse:
    """Book a free slot: find the patient (the same guarded search), then book in one click.
    From the day view, htmx opens this as a panel beside the sheet."""
    actor = signed_in_actor(request)
    data = request.POST if request.method == "POST" else request.GET
    starts_at = parse_datetime(data.get("start", "") or "")
    consultation_id = _number(data.get("type"))
    # A walk-in has no slot: the patient is here, seen at the agenda's first free time.
    walk_in = data.get("walk_in") == "1"
    if (starts_at is None and not walk_in) or consultation_id is None:
        messages.error(request, _("Choose a free slot in the agenda first."))
        return redirect("web:desk")
    agenda = data.get("agenda", "")
    day = timezone.localtime(starts_at).date() if starts_at else timezone.localdate()
    # Finding the patient is a POST too (criteria never in the address); booking carries the
    # chosen patient instead.
    finding = request.method == "POST" and "find" in request.POST
    if request.method == "POST" and not finding and walk_in:
        fresh = ""
        try:
            ticket = add_walk_in(
                actor=actor,
                consultation_type_id=consultation_id,
                patient_id=request.POST.get("patient", ""),
                details=_details(request.POST),
            )
        except SlotTaken:
            messages.error(request, _("This slot was just taken: please choose another one."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            fresh = str(ticket.appointment_id)
            messages.success(
                request,
                _("Walk-in added at %(time)s: ticket %(number)s.")
                % {
                    "time": timezone.localtime(ticket.appointment.starts_at).strftime("%H:%M"),
                    "number": ticket.number,
                },
            )
        return _sheet_or_back(request, agenda, day.isoformat(), fresh)
    if request.method == "POST" and not finding:
        fresh = ""
        try:
            appointment = book_appointment(
                actor=actor,
                consultation_type_id=consultation_id,
                patient_id=request.POST.get("patient", ""),
                starts_at=starts_at,
                details=_details(request.POST),
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
    form = SearchForm(request.POST if finding else None)
    outcome = None
    if finding and form.has_criteria() and form.is_valid():
        outcome = search_identities(actor=actor, query=SearchQuery(**form.cleaned_data))
    template = "web/desk_book_panel.html" if request.htmx else "web/desk_book.html"  # type: ignore[attr-defined]
    return render(
        request,
        template,
        {
            "form": form,
            "outcome": outcome,
            "start": starts_at,
            "walk_in": walk_in,
            "type": consultation_id,
            "agenda": agenda,
            "panel": bool(request.htmx),  # type: ignore[attr-defined]
            "back": _url("web:desk", agenda=agenda, day=day),
        },
    )


def _queue_context(request: HttpRequest, room_id: int | None, waiting_room_id: int | None) -> dict:
    """One waiting room's queue at a time (the one asked for, else the desk's own unit's):
    each waiting room calls its tickets to its own unit's rooms."""
    actor = signed_in_actor(request)
    waiting_rooms = waiting_rooms_for(actor=actor)
    chosen = next((w for w in waiting_rooms if w.pk == waiting_room_id), None) or (
        home_waiting_room(actor=actor, waiting_rooms=waiting_rooms)
    )
    queues = desk_queues(actor=actor, waiting_room_id=chosen.pk) if chosen else ()
    return {
        "queues": queues,
        "waiting_rooms": waiting_rooms,
        "waiting_room_id": chosen.pk if chosen else None,
        "room_id": room_id,
        "today": timezone.localdate(),
    }


@staff_view("desk.queue", Capability.BOOK_APPOINTMENT)
def desk_queue(request: HttpRequest) -> HttpResponse:
    context = _queue_context(
        request, _number(request.GET.get("room")), _number(request.GET.get("waiting_room"))
    )
    return render(request, "web/desk_queue.html", context)


@staff_view("desk.call_next", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_call_next(request: HttpRequest) -> HttpResponse:
    room_id = _number(request.POST.get("room")) or 0
    waiting_room_id = _number(request.POST.get("waiting_room")) or 0
    ticket = call_next(
        actor=signed_in_actor(request), waiting_room_id=waiting_room_id, room_id=room_id
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
        context = {**_queue_context(request, room_id, waiting_room_id), "swapped": True}
        return render(request, "web/desk_queue_board.html", context)
    return redirect(_url("web:desk_queue", waiting_room=waiting_room_id, room=room_id))


@staff_view("desk.confirmation", Capability.BOOK_APPOINTMENT)
def desk_confirmation(request: HttpRequest, appointment_id: str) -> HttpResponse:
    shown = confirmation(actor=signed_in_actor(request), appointment_id=appointment_id)
    day = timezone.localtime(shown.starts_at).date()
    return render(
        request,
        "web/desk_confirmation.html",
        {
            "confirmation": shown,
            "to_bring": TO_BRING,
            "arrive_early": ARRIVE_EARLY,
            "printed_at": timezone.now(),
            "back": _url("web:desk", agenda=shown.agenda_id, day=day),
        },
    )


@staff_view("desk.confirmation", Capability.BOOK_APPOINTMENT)
def desk_confirmation_pdf(request: HttpRequest, appointment_id: str) -> HttpResponse:
    """The confirmation as a PDF to print or hand over; an appointment no longer held answers
    with its page (which says so)."""
    shown = confirmation(actor=signed_in_actor(request), appointment_id=appointment_id)
    if shown.called_off:
        return redirect("web:desk_confirmation", appointment_id=appointment_id)
    content = confirmation_pdf(shown, printed_at=timezone.now())
    day = timezone.localtime(shown.starts_at)
    return file_response(content, "application/pdf", f"rendez-vous-{day:%Y-%m-%d-%H%M}.pdf")


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


@staff_view("desk.next_free", Capability.BOOK_APPOINTMENT)
def desk_next_free(request: HttpRequest) -> HttpResponse:
    """The next free slots with any practitioner of a specialty (the caller wants "the first
    cardiologist available"), each a link to book it."""
    actor = signed_in_actor(request)
    specialty = request.GET.get("specialty", "")[:100]
    motive = request.GET.get("motive", "")[:100]
    offers = next_free(actor=actor, specialty=specialty, motive=motive) if specialty else None
    return render(
        request,
        "web/desk_next_free.html",
        {
            "specialties": specialties_for(actor=actor),
            "specialty": specialty,
            "motive": motive,
            "offers": offers,
            "view": "next",
        },
    )


# Where a move dragged on the time grid comes back to.
GRID_PAGES = ("/desk/week/", "/desk/unit/")


@staff_view("desk.move", Capability.BOOK_APPOINTMENT)
def desk_move(request: HttpRequest, appointment_id: str) -> HttpResponse:
    """Moving an appointment: choose a day, then one of its free slots (the same visit type);
    the old time is freed as moved, the comment and the visit reason follow."""
    actor = signed_in_actor(request)
    if request.method == "POST":
        starts_at = parse_datetime(request.POST.get("start", "") or "")
        try:
            if starts_at is None:
                raise ValidationError(_("Choose a free slot in the agenda first."))
            moved = move_appointment(
                actor=actor,
                appointment_id=appointment_id,
                starts_at=starts_at,
                reason=request.POST.get("reason", ""),
            )
        except SlotTaken:
            messages.error(request, _("This slot was just taken: please choose another one."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("Appointment moved to %(day)s at %(time)s.")
                % {
                    "day": timezone.localtime(moved.starts_at).strftime("%d/%m/%Y"),
                    "time": timezone.localtime(moved.starts_at).strftime("%H:%M"),
                },
            )
            back = request.POST.get("back", "")
            if back.startswith(GRID_PAGES) and url_has_allowed_host_and_scheme(back, None):
                return redirect(back)  # dragged on the grid: back to the same grid
            day = timezone.localtime(moved.starts_at).date()
            return redirect(_url("web:desk", agenda=moved.agenda_id, day=day) + f"#a-{moved.pk}")
    wanted = parse_date(request.GET.get("day", "") or "")
    choices = move_choices(actor=actor, appointment_id=appointment_id, day=wanted)
    return render(
        request,
        "web/desk_move.html",
        {
            "choices": choices,
            "move_url": reverse("web:desk_move", args=[choices.appointment_id]),
            "previous_day": choices.day - ONE_DAY,
            "next_day": choices.day + ONE_DAY,
            "today": timezone.localdate(),
            "back": _url("web:desk", agenda=choices.agenda.pk, day=choices.current_day),
        },
    )


@staff_view("desk.print_day", Capability.BOOK_APPOINTMENT)
def desk_print_day(request: HttpRequest) -> HttpResponse:
    """The day's list of an agenda, to print: times, names (as the sheet shows them), visit
    types, first visit, comments; no visit reason (a list left on a desk)."""
    actor = signed_in_actor(request)
    agendas, agenda_id, day = _choice(actor, request.GET)
    sheet = day_sheet(actor=actor, agenda_id=agenda_id, day=day) if agenda_id else None
    return render(
        request,
        "web/desk_print_day.html",
        {
            "sheet": sheet,
            "day": day,
            "printed_at": timezone.now(),
            "back": _url("web:desk", agenda=agenda_id, day=day),
        },
    )
