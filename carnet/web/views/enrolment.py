"""The enrolment link's pages: the owner of a new account chooses the password, then sets up
the second factor; after a reset, confirms the password, then sets up the new second factor.
The link's token leaves the address bar at once (it is kept in the session for the steps)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome
from carnet.guard.http import client_ip, public_view
from carnet.staff import enrolment, second_factor
from carnet.staff.models import Enrolment, EnrolmentPurpose

from ..forms import TokenForm

SESSION_KEY = "carnet_enrolment"


class NewPasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("New password (12 characters or more)"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
    )
    again = forms.CharField(
        label=gettext_lazy("The same password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("again"):
            raise ValidationError(_("The two passwords differ."))
        if data.get("password"):
            validate_password(data["password"], self.user)
        return data


class CurrentPasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


def _record(request: HttpRequest, item: Enrolment, step: str, accepted: bool) -> None:
    user = item.user
    append(
        Record(
            actor_id=user.pk,
            actor=user.username,
            role=user.role,
            action=f"auth.enrolment.{step}",
            outcome=Outcome.ALLOWED if accepted else Outcome.REFUSED,
            reason=f"enrolment {item.pk} ({item.purpose})",
            request_id=request.request_id,  # type: ignore[attr-defined]
            client_ip=client_ip(request),
        )
    )


def _gone(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return render(request, "web/enrolment_gone.html", status=410)


@public_view
def enrolment_page(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("token", "")
    if token:
        item = enrolment.by_token(token)
        if item is None or not enrolment.usable(item):
            return _gone(request)
        # Whoever was signed in on this browser is not the one enrolling.
        request.session.flush()
        request.session[SESSION_KEY] = item.pk
        return redirect("web:enrolment")
    item = enrolment.open_by_id(request.session.get(SESSION_KEY, 0))
    if item is None or not enrolment.usable(item):
        return _gone(request)
    if item.password_set_at is None:
        return _password_step(request, item)
    return _device_step(request, item)


def _password_step(request: HttpRequest, item: Enrolment) -> HttpResponse:
    user = item.user
    if item.purpose == EnrolmentPurpose.ACCOUNT:
        form: forms.Form = NewPasswordForm(request.POST or None, user=user)
    else:
        form = CurrentPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if item.purpose == EnrolmentPurpose.ACCOUNT:
            enrolment.set_password(item, form.cleaned_data["password"])
            _record(request, item, "password", True)
            return redirect("web:enrolment")
        if user.check_password(form.cleaned_data["password"]):
            enrolment.password_confirmed(item)
            _record(request, item, "password", True)
            return redirect("web:enrolment")
        enrolment.failed(item)
        _record(request, item, "password", False)
        form.add_error("password", _("This is not the account's password."))
    return render(
        request,
        "web/enrolment_password.html",
        {"form": form, "account": user, "purpose": item.purpose},
        status=400 if form.errors else 200,
    )


def _device_step(request: HttpRequest, item: Enrolment) -> HttpResponse:
    device = enrolment.fresh_device(item)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        accepted, message = second_factor.check_token(device, form.cleaned_data["token"])
        _record(request, item, "second_factor", accepted)
        if accepted:
            enrolment.complete(item, device)
            request.session.pop(SESSION_KEY, None)
            messages.success(request, _("Your account is ready: sign in with your new password."))
            return redirect("web:login")
        enrolment.failed(item)
        form.add_error("token", message)
    return render(
        request,
        "web/enrol.html",
        {
            "form": form,
            "next": "",
            "account": item.user,
            "qr_svg": second_factor.qr_svg(device),
            "secret": second_factor.secret_text(device),
        },
        status=400 if form.errors else 200,
    )
