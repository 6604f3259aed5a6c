"""The desk: one agenda's day (appointments and free slots), check-in with a ticket, cancel
with a reason. Names come through the guard: the desk's own window around appointments."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.guard.http import staff_view
from carnet.guard.policy import Capability
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.scheduling.models import AppointmentState
from carnet.scheduling.queue import check_in
from carnet.scheduling.selectors import agendas_for, day_sheet
from carnet.scheduling.services import SlotTaken, book_appointment, change_state

from ..forms import SearchForm
from .common import signed_in_actor


def _back(request: HttpRequest) -> HttpResponse:
    agenda, day = request.POST.get("agenda", ""), request.POST.get("day", "")
    return redirect(f"{reverse('web:desk')}?agenda={agenda}&day={day}")


@staff_view("desk.day", Capability.BOOK_APPOINTMENT)
def desk(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    agendas = list(agendas_for(actor=actor))
    day = parse_date(request.GET.get("day", "")) or timezone.localdate()
    chosen = request.GET.get("agenda", "")
    agenda_id = int(chosen) if chosen.isdigit() else (agendas[0].pk if agendas else None)
    sheet = day_sheet(actor=actor, agenda_id=agenda_id, day=day) if agenda_id else None
    return render(
        request,
        "web/desk.html",
        {
            "agendas": agendas,
            "sheet": sheet,
            "day": day,
            "previous": day - datetime.timedelta(days=1),
            "next": day + datetime.timedelta(days=1),
            "checkable": (AppointmentState.BOOKED, AppointmentState.CONFIRMED),
        },
    )


@staff_view("desk.check_in", Capability.BOOK_APPOINTMENT)
@require_POST
def desk_check_in(request: HttpRequest, appointment_id: str) -> HttpResponse:
    try:
        ticket = check_in(
            actor=signed_in_actor(request),
            appointment_id=appointment_id,
            waiting_room_id=int(request.POST.get("waiting_room", "0") or 0),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Checked in: ticket %(number)s.") % {"number": ticket.number})
    return _back(request)


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
    return _back(request)


@staff_view("desk.book", Capability.BOOK_APPOINTMENT)
def desk_book(request: HttpRequest) -> HttpResponse:
    """Book a free slot: find the patient (the same guarded search), then book in one click."""
    actor = signed_in_actor(request)
    data = request.POST if request.method == "POST" else request.GET
    starts_at = parse_datetime(data.get("start", ""))
    consultation_id = data.get("type", "")
    if starts_at is None or not consultation_id.isdigit():
        messages.error(request, _("Choose a free slot in the agenda first."))
        return redirect("web:desk")
    back = f"{reverse('web:desk')}?agenda={data.get('agenda', '')}&day={starts_at.date()}"
    if request.method == "POST":
        try:
            book_appointment(
                actor=actor,
                consultation_type_id=int(consultation_id),
                patient_id=request.POST.get("patient", ""),
                starts_at=starts_at,
            )
        except SlotTaken:
            messages.error(request, _("This slot was just taken: please choose another one."))
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Appointment booked."))
        return redirect(back)
    form = SearchForm(request.GET)
    outcome = None
    if form.has_criteria() and form.is_valid():
        outcome = search_identities(actor=actor, query=SearchQuery(**form.cleaned_data))
    return render(
        request,
        "web/desk_book.html",
        {
            "form": form,
            "outcome": outcome,
            "start": starts_at,
            "type": consultation_id,
            "agenda": data.get("agenda", ""),
            "back": back,
        },
    )
