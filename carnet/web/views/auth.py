"""Sign-in: password (throttled per account and address), then the second factor, enrolled on
the first sign-in. Every step is recorded in the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import auth
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language
from django_otp import login as otp_login

from carnet.guard.http import client_ip, public_view
from carnet.guard.policy import Role
from carnet.staff import enrolment, second_factor
from carnet.staff.models import Enrolment
from carnet.staff.selectors import locked_account_with_password

from ..forms import TokenForm

STAFF_ROLES = set(Role.values) - {Role.PATIENT, Role.SCREEN}


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return ""


def _after_password(request: HttpRequest, next_url: str) -> HttpResponse:
    if second_factor.confirmed_device(request.user):
        step = "web:verify"
    elif enrolment.at_sign_in(request.user):
        step = "web:enrol"
    else:
        # No device and no enrolment open at sign-in: a password alone never sets one up.
        auth.logout(request)
        return render(request, "web/no_second_factor.html", status=403)
    response = redirect(step)
    if next_url:
        response["Location"] += "?" + urlencode({"next": next_url})
    return response


class StaffAuthenticationForm(AuthenticationForm):
    def clean(self) -> dict:
        try:
            return super().clean()
        except ValidationError:
            if locked_account_with_password(
                self.cleaned_data.get("username", ""), self.cleaned_data.get("password", "")
            ):
                raise ValidationError(
                    _(
                        "This account is locked. Contact your establishment's security "
                        "officer (RSSI): only they can unlock it."
                    ),
                    code="locked",
                ) from None
            raise

    def confirm_login_allowed(self, user: object) -> None:
        super().confirm_login_allowed(user)
        if getattr(user, "role", None) not in STAFF_ROLES:
            raise self.get_invalid_login_error()


@public_view
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        if request.user.is_verified():
            return redirect("web:dashboard")
        return _after_password(request, _next_url(request))
    form = StaffAuthenticationForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        auth.login(request, form.get_user())
        return _after_password(request, _next_url(request))
    return render(request, "web/login.html", {"form": form, "next": _next_url(request)})


def _second_factor_step(
    request: HttpRequest,
    device: object,
    template: str,
    extra: dict,
    enrolling: Enrolment | None = None,
) -> HttpResponse:
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        accepted, message = second_factor.attempt(
            request.user,
            device,
            form.cleaned_data["token"],
            request_id=request.request_id,
            client_ip=client_ip(request),
        )
        if not accepted and enrolling is not None:
            enrolment.failed(enrolling)
        if accepted:
            if enrolling is not None:
                enrolment.complete(enrolling, device)
            otp_login(request, device)
            return redirect(_next_url(request) or "web:dashboard")
        form.add_error("token", message)
    return render(request, template, {"form": form, "next": _next_url(request), **extra})


@public_view
def verify_view(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("web:login")
    device = second_factor.confirmed_device(request.user)
    if device is None:
        return redirect("web:enrol")
    return _second_factor_step(request, device, "web/verify.html", {})


@public_view
def enrol_view(request: HttpRequest) -> HttpResponse:
    """First sign-in of an account the installation's operator made: its enrolment is open at
    sign-in. Any other account enrols through the link e-mailed once it was approved."""
    if not request.user.is_authenticated:
        return redirect("web:login")
    if second_factor.confirmed_device(request.user):
        return redirect("web:verify")
    opened = enrolment.at_sign_in(request.user)
    if opened is None:
        auth.logout(request)
        return render(request, "web/no_second_factor.html", status=403)
    device = enrolment.fresh_device(opened)
    extra = {"qr_svg": second_factor.qr_svg(device), "secret": second_factor.secret_text(device)}
    return _second_factor_step(request, device, "web/enrol.html", extra, enrolling=opened)


@public_view
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    auth.logout(request)
    return redirect("web:login")


@public_view
def language_view(request: HttpRequest) -> HttpResponse:
    return set_language(request)
