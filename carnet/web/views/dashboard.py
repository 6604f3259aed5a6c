"""The staff dashboard: who you are, where you work, what you did today."""

from __future__ import annotations

from datetime import datetime, time

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from carnet.audit.selectors import recent_activity
from carnet.guard.actors import actor_for_request
from carnet.guard.http import staff_view
from carnet.staff.selectors import establishment_names

from ..forms import SearchForm


@staff_view("web.dashboard")
def dashboard(request: HttpRequest) -> HttpResponse:
    actor = actor_for_request(request)
    assert actor is not None and actor.user_id is not None
    start_of_day = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
    return render(
        request,
        "web/dashboard.html",
        {
            "establishments": establishment_names(actor),
            "activity": recent_activity(actor.user_id, start_of_day),
            "search_form": SearchForm(),
        },
    )
