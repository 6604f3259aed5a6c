"""The patient's account: who opened my record (from the audit log), password, and the
optional second factor."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from carnet.guard.http import client_ip, portal_view
from carnet.guard.incidents import own_access_history
from carnet.guard.reports import report_unrecognised_access, reported_entries
from carnet.patients.accounts import own_patient_id
from carnet.staff import second_factor
from carnet.web.forms import TokenForm
from carnet.web.views.common import signed_in_actor

from ..history import grouped_history


@portal_view("portal.history")
def history(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    patient_id = own_patient_id(actor)
    lines = own_access_history(actor=actor, patient_id=patient_id)
    others, own = grouped_history(lines)
    return render(
        request,
        "portal/history.html",
        {
            "lines": lines,
            "days": others,
            "own_days": own,
            "reported": reported_entries(actor=actor, patient_id=patient_id),
        },
    )


@portal_view("portal.history_report")
@require_POST
def report_access(request: HttpRequest, entry_id: int) -> HttpResponse:
    """ "I do not recognise this": an alert to the security officer about one line."""
    actor = signed_in_actor(request)
    try:
        _alert, raised = report_unrecognised_access(
            actor=actor, patient_id=own_patient_id(actor), entry_id=entry_id
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            _(
                "Thank you. The security officer is alerted and will look into this access; "
                "the establishment will contact you if needed."
            )
            if raised
            else _("You already reported this line: the security officer is looking into it."),
        )
    return redirect("portal:history")


@portal_view("portal.account")
def settings_page(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.save()
        update_session_auth_hash(request, form.user)
        messages.success(request, _("Your password is changed."))
        return redirect("portal:account")
    return render(
        request,
        "portal/account.html",
        {"form": form, "has_second_factor": second_factor.confirmed_device(request.user)},
    )


@portal_view("portal.second_factor")
def second_factor_page(request: HttpRequest) -> HttpResponse:
    """Enrols an authenticator app; from then on it is asked at every sign-in."""
    user = request.user
    if second_factor.confirmed_device(user):
        return redirect("portal:account")
    device = second_factor.pending_device(user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        accepted, message = second_factor.attempt(
            user,
            device,
            form.cleaned_data["token"],
            request_id=request.request_id,
            client_ip=client_ip(request),
        )
        if accepted:
            second_factor.confirm(device)
            otp_login(request, device)
            messages.success(request, _("Your authenticator app is now asked at every sign-in."))
            return redirect("portal:account")
        form.add_error("token", message)
    return render(
        request,
        "portal/second_factor.html",
        {
            "form": form,
            "qr_svg": second_factor.qr_svg(device),
            "secret": second_factor.secret_text(device),
        },
    )
