"""Forgotten password: ask for a link (the same answer whether an account uses the address
or not), follow it, choose a new password. The link's token moves from the URL into the
session at once, so it never stays in the address bar, the history or a Referer header."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from carnet.guard.http import client_ip, public_view
from carnet.web.views.common import add_domain_errors

from ..forms import NewPasswordForm, ResetRequestForm
from ..reset import ResetThrottled, complete_reset, open_link, request_reset

SESSION_KEY = "carnet_portal_reset_token"


@public_view
def ask(request: HttpRequest) -> HttpResponse:
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            request_reset(
                email=form.cleaned_data["email"],
                client_ip=client_ip(request),
                request_id=request.request_id,  # type: ignore[attr-defined]
            )
        except ResetThrottled as error:
            return render(
                request,
                "portal/reset_ask.html",
                {"form": form, "throttled": error.messages},
                status=429,
            )
        return redirect("portal:password_reset_sent")
    return render(request, "portal/reset_ask.html", {"form": form})


@public_view
def sent(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/reset_sent.html")


@public_view
def follow(request: HttpRequest, token: str) -> HttpResponse:
    request.session[SESSION_KEY] = token
    return redirect("portal:password_reset_set")


@public_view
def set_password(request: HttpRequest) -> HttpResponse:
    token = request.session.get(SESSION_KEY, "")
    if open_link(token) is None:
        request.session.pop(SESSION_KEY, None)
        return render(request, "portal/reset_invalid.html", status=400)
    form = NewPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            complete_reset(
                token=token,
                password=form.cleaned_data["new_password1"],
                client_ip=client_ip(request),
                request_id=request.request_id,  # type: ignore[attr-defined]
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            request.session.pop(SESSION_KEY, None)
            messages.success(request, _("Your password is changed: sign in with it."))
            return redirect("portal:login")
    return render(request, "portal/reset_set.html", {"form": form})
