"""The identity form: every field of an identity, with its errors next to it, and the
checks that tie the INS traits to the NIR. Used by every interface that edits identities."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carnet.staff.models import Practitioner

from .models import CHECKED_STATUSES, INS_STATUSES, IdentityDocument, IdentityStatus, Sex
from .validators import clean_birthplace, clean_name, clean_nir, clean_phone, clean_postal_code

OLDEST_BIRTH_DATE = datetime.date(1890, 1, 1)
NIR_SEX = {
    "1": Sex.MALE,
    "2": Sex.FEMALE,
    "3": Sex.MALE,
    "4": Sex.FEMALE,
    "7": Sex.MALE,
    "8": Sex.FEMALE,
}


class PractitionerChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Practitioner) -> str:
        return f"Dr {obj.user.get_full_name()} — {obj.specialty}"


class IdentityForm(forms.Form):
    status = forms.ChoiceField(label=_("Identity status"), choices=IdentityStatus.choices)
    document = forms.ChoiceField(
        label=_("Document checked"),
        choices=[("", "—"), *IdentityDocument.choices],
        required=False,
        help_text=_("Needed to validate or qualify the identity."),
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    birth_surname = forms.CharField(label=_("Birth surname"), max_length=100)
    first_names = forms.CharField(label=_("First names (birth certificate order)"), max_length=200)
    used_surname = forms.CharField(label=_("Used surname"), max_length=100, required=False)
    used_first_name = forms.CharField(label=_("Used first name"), max_length=100, required=False)
    birth_date = forms.DateField(
        label=_("Birth date"), widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    birthplace_code = forms.CharField(
        label=_("Birthplace (INSEE code)"), max_length=5, required=False
    )
    nir = forms.CharField(label=_("NIR (social security number)"), max_length=21, required=False)
    address_line = forms.CharField(label=_("Address"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=5, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    country = forms.CharField(label=_("Country"), max_length=100, required=False, initial="France")
    phone = forms.CharField(label=_("Phone"), max_length=25, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=200, required=False)
    treating_doctor = PractitionerChoice(
        label=_("Treating doctor"), queryset=Practitioner.objects.none(), required=False
    )

    def __init__(self, *args: Any, practitioners: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if practitioners is not None:
            self.fields["treating_doctor"].queryset = practitioners

    def clean_birth_surname(self) -> str:
        return clean_name(self.cleaned_data["birth_surname"])

    def clean_first_names(self) -> str:
        return clean_name(self.cleaned_data["first_names"])

    def clean_used_surname(self) -> str:
        return clean_name(self.cleaned_data["used_surname"])

    def clean_used_first_name(self) -> str:
        return clean_name(self.cleaned_data["used_first_name"])

    def clean_birth_date(self) -> datetime.date:
        day = self.cleaned_data["birth_date"]
        if day > timezone.localdate():
            raise forms.ValidationError(_("The birth date cannot be in the future."))
        if day < OLDEST_BIRTH_DATE:
            raise forms.ValidationError(_("The birth date is too far in the past."))
        return day

    def clean_birthplace_code(self) -> str:
        return clean_birthplace(self.cleaned_data["birthplace_code"])

    def clean_nir(self) -> str:
        value = self.cleaned_data["nir"]
        return clean_nir(value) if value.strip() else ""

    def clean_postal_code(self) -> str:
        return clean_postal_code(self.cleaned_data["postal_code"])

    def clean_phone(self) -> str:
        return clean_phone(self.cleaned_data["phone"])

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        nir = data.get("nir")
        status = data.get("status")
        if status in INS_STATUSES and not nir and "nir" not in self.errors:
            self.add_error("nir", _("A retrieved or qualified identity needs its INS (the NIR)."))
        if status in CHECKED_STATUSES and not data.get("document"):
            self.add_error(
                "document",
                _("Say which document you checked: a validated identity needs one."),
            )
        if nir:
            self._check_nir_matches_traits(nir, data)
        return data

    def _check_nir_matches_traits(self, nir: str, data: dict[str, Any]) -> None:
        sex, day, place = data.get("sex"), data.get("birth_date"), data.get("birthplace_code")
        if sex in (Sex.FEMALE, Sex.MALE) and NIR_SEX.get(nir[0], sex) != sex:
            self.add_error("nir", _("The NIR's first digit does not match the sex."))
        elif day and nir[1:3] != f"{day.year % 100:02d}":
            self.add_error("nir", _("The NIR's year of birth does not match the birth date."))
        elif day and 1 <= int(nir[3:5]) <= 12 and int(nir[3:5]) != day.month:
            self.add_error("nir", _("The NIR's month of birth does not match the birth date."))
        elif place and nir[5:10] != place:
            self.add_error("nir", _("The NIR's birthplace does not match the INSEE code."))
