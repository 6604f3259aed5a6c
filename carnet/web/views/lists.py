"""Each role's lists of the day: a unit's census (nurses, practitioners), a practitioner's
appointments and results to review, the desk's printable day sheet. Every list comes from a
domain selector that lists only patients in a care relationship with the reader."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.clinical.letters import RECEIVED_DAYS, letters_received
from carnet.clinical.worklists import Census, CensusRow, inpatients, practitioner_day
from carnet.guard.actors import Actor
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability
from carnet.laboratory.review import LabDue, due_for, results_to_review
from carnet.laboratory.services import acknowledge_result
from carnet.scheduling.selectors import DaySheet, unit_day

from .common import signed_in_actor


@dataclass(frozen=True)
class WardRow:
    """A census row with the laboratory work still due for its patient."""

    row: CensusRow
    lab: LabDue | None = None


@dataclass(frozen=True)
class Ward:
    census: Census
    rows: tuple[WardRow, ...] = field(default=())


def ward(actor: Actor) -> Ward:
    census = inpatients(actor=actor)
    due = due_for(actor=actor, patient_ids=census.patient_ids)
    return Ward(census, tuple(WardRow(row, due.get(row.patient_id)) for row in census.rows))


def desk_day(actor: Actor, day: datetime.date) -> list[tuple[str, tuple[DaySheet, ...]]]:
    """The day of every agenda of the actor's establishments, establishment by establishment."""
    days = [
        unit_day(actor=actor, day=day, establishment_id=e) for e in sorted(actor.establishment_ids)
    ]
    return [(d.establishment.name, d.sheets) for d in days if d.establishment and d.sheets]


def _page(request: HttpRequest, name: str) -> str:
    """The whole page, or only its list when the dashboard loads it into a card (htmx)."""
    partial = request.htmx and not request.htmx.boosted  # type: ignore[attr-defined]
    return f"web/lists/_{name}.html" if partial else f"web/lists/{name}.html"


def _day(request: HttpRequest) -> datetime.date:
    return parse_date(request.GET.get("day", "") or "") or timezone.localdate()


@staff_view("lists.census", Capability.VIEW_CLINICAL)
def census(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    return render(request, _page(request, "census"), {"ward": ward(actor)})


@staff_view("lists.day", Capability.ORDER_LAB)
def my_day(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    day = _day(request)
    return render(
        request,
        _page(request, "day"),
        {
            "agenda": practitioner_day(actor=actor, day=day),
            "previous": day - datetime.timedelta(days=1),
            "next": day + datetime.timedelta(days=1),
            "today": timezone.localdate(),
        },
    )


@staff_view("lists.results", Capability.ORDER_LAB)
def results(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    return render(request, _page(request, "results"), {"review": results_to_review(actor=actor)})


@staff_view("lists.acknowledge", Capability.ORDER_LAB)
@require_POST
def acknowledge(request: HttpRequest, result_id: int) -> HttpResponse:
    actor = signed_in_actor(request)
    acknowledge_result(actor=actor, result_id=result_id)
    if request.htmx:  # type: ignore[attr-defined]
        # The row leaves the list where it stood.
        return HttpResponse("")
    messages.success(request, _("Result marked as read."))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
        back = "web:results_to_review"
    return redirect(back)


@staff_view("lists.letters", Capability.SIGN_LETTER)
def letters(request: HttpRequest) -> HttpResponse:
    """The discharge letters sent to this practitioner as treating doctor."""
    actor = signed_in_actor(request)
    return render(
        request,
        _page(request, "letters"),
        {"letters": letters_received(actor=actor), "days": RECEIVED_DAYS},
    )


@staff_view("lists.desk_day", Capability.BOOK_APPOINTMENT)
def desk_day_sheet(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    day = _day(request)
    return render(
        request,
        _page(request, "desk_day"),
        {
            "establishments": desk_day(actor, day),
            "day": day,
            "today": timezone.localdate(),
            "previous": day - datetime.timedelta(days=1),
            "next": day + datetime.timedelta(days=1),
            "printed_at": timezone.localtime(),
        },
    )
