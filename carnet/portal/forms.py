"""Portal forms: sign-in by e-mail, sign-up with the establishment's code, slot search,
password reset, cancellation reasons."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carnet.guard.policy import Role
from carnet.patients.accounts import sign_in_name


class PortalSignInForm(AuthenticationForm):
    """The e-mail address is turned into the account's keyed sign-in name before checking;
    staff accounts cannot sign in here, nor patients on the staff pages."""

    username = forms.EmailField(
        label=_("E-mail address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def clean(self) -> dict:
        email = self.cleaned_data.get("username")
        if email:
            self.cleaned_data["username"] = sign_in_name(email)
        return super().clean()

    def confirm_login_allowed(self, user: object) -> None:
        super().confirm_login_allowed(user)
        if getattr(user, "role", None) != Role.PATIENT:
            raise self.get_invalid_login_error()


class SignUpForm(forms.Form):
    code = forms.CharField(
        label=_("Sign-up code"),
        help_text=_("12 letters and digits, on the letter or message from the establishment."),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    birth_date = forms.DateField(
        label=_("Your birth date"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        help_text=_("You will sign in with it."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        label=_("Password"),
        help_text=_("At least 12 characters; a sentence is easy to remember."),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords differ."))
        return data


class SlotSearchForm(forms.Form):
    specialty = forms.ChoiceField(label=_("Specialty"), required=False)
    establishment = forms.ChoiceField(label=_("Establishment"), required=False)
    day = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )

    def __init__(self, *args, specialties=(), establishments=(), **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["specialty"].choices = [("", _("Any specialty"))] + [
            (s, s) for s in specialties
        ]
        self.fields["establishment"].choices = [("", _("Any establishment"))] + [
            (str(e.pk), f"{e.name} ({e.city})" if e.city else e.name) for e in establishments
        ]

    def first_day(self) -> datetime.date:
        today = timezone.localdate()
        day = self.cleaned_data.get("day") if self.is_bound and self.is_valid() else None
        return max(day or today, today)


class ResetRequestForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        help_text=_("The one you sign in with."),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )


class NewPasswordForm(forms.Form):
    new_password1 = forms.CharField(
        label=_("New password"),
        help_text=_("At least 12 characters; a sentence is easy to remember."),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}),
    )
    new_password2 = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("new_password1") and data.get("new_password1") != data.get("new_password2"):
            self.add_error("new_password2", _("The two passwords differ."))
        return data


class CancelReason(models.TextChoices):
    """Why a patient cancels, from a short list: what the establishment can act on (free
    times, access), never free text, which could carry health details in clear."""

    UNAVAILABLE = "unavailable", _("I am not available at that time")
    BETTER = "no_longer_needed", _("I no longer need it")
    ELSEWHERE = "elsewhere", _("I found an appointment elsewhere")
    TRANSPORT = "transport", _("Transport or access difficulty")
    OTHER = "other", _("Another reason")


class CancelForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason (optional)"),
        required=False,
        choices=[("", _("I prefer not to say")), *CancelReason.choices],
    )

    def reason_code(self) -> str:
        """The reason chosen, or "" (an unknown value never stops a cancellation)."""
        return self.cleaned_data.get("reason", "") if self.is_valid() else ""
