"""The staff dashboard: each role's lists of the day first (loaded as pages of their own, each
recorded under its own action: the dashboard itself hands over no patient), then who you are,
where you work, what you did today."""

from __future__ import annotations

from datetime import datetime, time

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from carnet.audit.selectors import recent_activity
from carnet.guard.actors import actor_for_request
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability, role_may
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
            "lists": _lists(actor.role),
        },
    )


def _lists(role: str) -> dict[str, bool]:
    """Which lists of the day this role works through: the census for the care team, the day
    and the results to review for whoever orders tests, the day sheet for the desk."""
    clinical = role_may(role, Capability.VIEW_CLINICAL)
    return {
        "census": clinical,
        "day": role_may(role, Capability.ORDER_LAB),
        "results": role_may(role, Capability.ORDER_LAB),
        "letters": role_may(role, Capability.SIGN_LETTER),
        "day_sheet": role_may(role, Capability.BOOK_APPOINTMENT) and not clinical,
    }
