"""The patient's appointments: to come and past, one in detail, cancelling within the rules."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.guard.http import portal_view
from carnet.guard.policy import Capability
from carnet.patients.accounts import own_patient
from carnet.patients.cards import display_name
from carnet.scheduling.online import cancel_online, own_appointment, own_appointments
from carnet.web.views.common import signed_in_actor

from ..calendar import OPTIONAL_DETAILS, appointment_ics
from ..forms import CancelForm


@portal_view("portal.home")
def home(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    coming, past = own_appointments(actor=actor)
    return render(
        request,
        "portal/home.html",
        {"name": display_name(own_patient(actor)), "coming": coming, "past": past},
    )


@portal_view("portal.appointment")
def detail(request: HttpRequest, appointment_id: str) -> HttpResponse:
    appointment = own_appointment(actor=signed_in_actor(request), appointment_id=appointment_id)
    return render(
        request, "portal/appointment.html", {"appointment": appointment, "cancel": CancelForm()}
    )


@portal_view("portal.calendar")
def calendar_file(request: HttpRequest, appointment_id: str) -> HttpResponse:
    """The appointment for the patient's calendar: when and where, and only the details the
    patient ticked."""
    appointment = own_appointment(actor=signed_in_actor(request), appointment_id=appointment_id)
    details = frozenset(d for d in request.GET.getlist("with") if d in OPTIONAL_DETAILS)
    response = HttpResponse(
        appointment_ics(appointment, details=details), content_type="text/calendar; charset=utf-8"
    )
    stamp = f"{appointment.starts_at:%Y%m%d}"
    response["Content-Disposition"] = f'attachment; filename="rendez-vous-{stamp}.ics"'
    return response


@portal_view("portal.cancel", Capability.BOOK_ONLINE)
@require_POST
def cancel(request: HttpRequest, appointment_id: str) -> HttpResponse:
    code = CancelForm(request.POST).reason_code()
    try:
        cancel_online(
            actor=signed_in_actor(request),
            appointment_id=appointment_id,
            reason=f"cancelled on the portal: {code}" if code else "",
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("portal:appointment", appointment_id=appointment_id)
    messages.success(request, _("Your appointment is cancelled. Thank you for letting us know."))
    return redirect("portal:home")
