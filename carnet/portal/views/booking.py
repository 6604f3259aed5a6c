"""Online booking: free slots by specialty, establishment and date; a confirmation step;
moving an appointment to another slot of the same consultation."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from carnet.guard.http import portal_view
from carnet.guard.policy import Capability
from carnet.scheduling.online import (
    book_online,
    find_online_slots,
    move_online,
    online_choice,
    online_establishments,
    online_specialties,
    own_appointment,
    slots_for_move,
)
from carnet.scheduling.services import SlotTaken
from carnet.web.views.common import signed_in_actor

from ..forms import SlotSearchForm

DAYS_SHOWN = 7


def _week(day: datetime.date) -> dict:
    return {
        "first_day": day,
        "previous": max(day - datetime.timedelta(days=DAYS_SHOWN), timezone.localdate()),
        "next": day + datetime.timedelta(days=DAYS_SHOWN),
        "at_start": day <= timezone.localdate(),
    }


@portal_view("portal.book", Capability.BOOK_ONLINE)
def search(request: HttpRequest) -> HttpResponse:
    form = SlotSearchForm(
        request.GET or None,
        specialties=online_specialties(),
        establishments=online_establishments(),
    )
    choices = None
    first_day = form.first_day() if request.GET else timezone.localdate()
    if form.is_bound and form.is_valid():
        establishment = form.cleaned_data["establishment"]
        choices = find_online_slots(
            actor=signed_in_actor(request),
            first_day=first_day,
            specialty=form.cleaned_data["specialty"],
            establishment_id=int(establishment) if establishment else None,
            days=DAYS_SHOWN,
        )
    query = request.GET.copy()
    query.pop("day", None)
    return render(
        request,
        "portal/book.html",
        {"form": form, "choices": choices, "query": query.urlencode(), **_week(first_day)},
    )


@portal_view("portal.book_confirm", Capability.BOOK_ONLINE)
def confirm(request: HttpRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    starts_at = parse_datetime(data.get("start", ""))
    type_id = data.get("type", "")
    choice = online_choice(type_id) if type_id.isdigit() else None
    if starts_at is None or choice is None:
        messages.error(request, _("Choose a free time first."))
        return redirect("portal:book")
    if request.method == "POST":
        try:
            first = data.get("first_visit", "")
            appointment = book_online(
                actor=signed_in_actor(request),
                consultation_type_id=int(type_id),
                starts_at=starts_at,
                visit_reason=data.get("visit_reason", ""),
                first_visit={"yes": True, "no": False}.get(first),
            )
        except SlotTaken:
            messages.error(request, _("This time was just taken: please choose another one."))
            return redirect("portal:book")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("portal:book")
        messages.success(request, _("Your appointment is booked."))
        return redirect("portal:appointment", appointment_id=appointment.pk)
    return render(request, "portal/book_confirm.html", {"choice": choice, "start": starts_at})


@portal_view("portal.move", Capability.BOOK_ONLINE)
def move(request: HttpRequest, appointment_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    appointment = own_appointment(actor=actor, appointment_id=appointment_id)
    if request.method == "POST":
        starts_at = parse_datetime(request.POST.get("start", ""))
        if starts_at is None:
            messages.error(request, _("Choose a free time first."))
            return redirect("portal:appointment_move", appointment_id=appointment_id)
        try:
            moved = move_online(actor=actor, appointment_id=appointment_id, starts_at=starts_at)
        except SlotTaken:
            messages.error(request, _("This time was just taken: please choose another one."))
            return redirect("portal:appointment_move", appointment_id=appointment_id)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("portal:appointment", appointment_id=appointment_id)
        messages.success(request, _("Your appointment is moved."))
        return redirect("portal:appointment", appointment_id=moved.pk)
    first_day = max(
        parse_date(request.GET.get("day", "")) or timezone.localdate(), timezone.localdate()
    )
    slots = slots_for_move(
        actor=actor, appointment_id=appointment_id, first_day=first_day, days=DAYS_SHOWN
    )
    return render(
        request,
        "portal/move.html",
        {"appointment": appointment, "slots": slots, **_week(first_day)},
    )
