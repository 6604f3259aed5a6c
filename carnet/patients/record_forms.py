"""Forms of the record beyond the INS traits: insurance cards, death, an authorised correction,
merging and undoing a merge. Values are checked here (each error says what to fix); the rules
(who may, what happens) are in insurance.py, death.py and merges.py."""

from __future__ import annotations

import datetime
import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .forms import IdentityForm
from .models import AmoScheme

FUND_RE = re.compile(r"^\d{3}(?:\d{4})?$")
AMC_RE = re.compile(r"^\d{6,10}$")
MEMBER_RE = re.compile(r"^[A-Z0-9][A-Z0-9 \-/]{0,29}$")
REASON_HELP = _("Say why, in a sentence. It is recorded with your name.")


def _date(label: Any, *, required: bool = True) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )


def _reason(label: Any = None) -> forms.CharField:
    return forms.CharField(
        label=label or _("Reason"),
        max_length=300,
        help_text=REASON_HELP,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class _Validity(forms.Form):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("valid_from"), data.get("valid_to")
        if start and end and end < start:
            self.add_error("valid_to", _("The end date comes before the start date."))
        return data


class MandatoryCoverageForm(_Validity):
    """An AMO card: the scheme, the fund (caisse, 3 digits, and its centre, 4 digits, when the
    card shows it) and the dates of the rights."""

    scheme = forms.ChoiceField(label=_("Scheme"), choices=AmoScheme.choices)
    fund_code = forms.CharField(
        label=_("Fund (caisse) code"),
        max_length=14,
        help_text=_("3 digits, or 7 with the centre, e.g. 691 or 691 0000."),
    )
    valid_from = _date(_("Rights from"))
    valid_to = _date(_("Rights until"), required=False)

    def clean_fund_code(self) -> str:
        digits = re.sub(r"[\s.\-]", "", self.cleaned_data["fund_code"])
        scheme = self.data.get(self.add_prefix("scheme"), "")
        # The full organism code on the card starts with the scheme's two digits.
        if len(digits) == 9 and digits[:2] == scheme:
            digits = digits[2:]
        if not FUND_RE.match(digits):
            raise forms.ValidationError(
                _("A fund code has 3 digits (the caisse), or 7 with the centre: e.g. 691 0000.")
            )
        return digits


class ComplementaryCoverageForm(_Validity):
    """An AMC card (mutuelle): organism, AMC number, member number, validity."""

    organism = forms.CharField(label=_("Organism (mutuelle)"), max_length=100)
    amc_number = forms.CharField(
        label=_("AMC number"),
        max_length=14,
        help_text=_("The organism's number on the card, 6 to 10 digits."),
    )
    member_number = forms.CharField(label=_("Member number"), max_length=30)
    valid_from = _date(_("Valid from"))
    valid_to = _date(_("Valid until"), required=False)

    def clean_organism(self) -> str:
        value = " ".join(self.cleaned_data["organism"].split())
        if len(value) < 2:
            raise forms.ValidationError(_("Enter the organism's name as on the card."))
        return value

    def clean_amc_number(self) -> str:
        digits = re.sub(r"[\s.\-]", "", self.cleaned_data["amc_number"])
        if not AMC_RE.match(digits):
            raise forms.ValidationError(_("An AMC number has 6 to 10 digits."))
        return digits

    def clean_member_number(self) -> str:
        value = " ".join(self.cleaned_data["member_number"].upper().split())
        if not MEMBER_RE.match(value):
            raise forms.ValidationError(_("Use letters, digits, spaces, hyphens or slashes."))
        return value


class DeathForm(forms.Form):
    died_on = _date(_("Date of death"))
    died_time = forms.TimeField(
        label=_("Time of death"),
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
    )
    place = forms.CharField(
        label=_("Place of death"),
        max_length=200,
        help_text=_("Where: the establishment and unit, the home address or the commune."),
    )

    def clean_place(self) -> str:
        return " ".join(self.cleaned_data["place"].split())

    @property
    def died_at(self) -> datetime.datetime:
        """The moment, in the installation's time zone (Europe/Paris by default)."""
        data = self.cleaned_data
        return timezone.make_aware(datetime.datetime.combine(data["died_on"], data["died_time"]))


class ReasonForm(forms.Form):
    reason = _reason()

    def clean_reason(self) -> str:
        return self.cleaned_data["reason"].strip()


class CorrectionForm(IdentityForm):
    """The identity form, plus the reason an authorised correction needs."""

    correction_reason = _reason(_("Reason for the correction"))


class MergeForm(forms.Form):
    survivor = forms.ChoiceField(label=_("Record that stays"), widget=forms.RadioSelect)
    reason = _reason(_("Why these are the same person"))

    def __init__(self, *args: Any, first_id: str, second_id: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survivor"].choices = [(first_id, first_id), (second_id, second_id)]


class PairForm(forms.Form):
    first = forms.UUIDField(widget=forms.HiddenInput)
    second = forms.UUIDField(widget=forms.HiddenInput)
