"""Forms of the staff pages that are not domain input (sign-in steps, search criteria)."""

from django import forms
from django.utils.translation import gettext_lazy as _


class TokenForm(forms.Form):
    token = forms.CharField(
        label=_("6-digit code from your authenticator app"),
        min_length=6,
        max_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if not token.isdigit():
            raise forms.ValidationError(_("The code is made of 6 digits."))
        return token


class SearchForm(forms.Form):
    surname = forms.CharField(
        label=_("Surname"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "off"}),
    )
    birth_date = forms.DateField(
        label=_("Birth date"),
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    nir = forms.CharField(label=_("NIR"), required=False, max_length=21)
    ipp = forms.CharField(label=_("IPP"), required=False, max_length=20)

    def has_criteria(self) -> bool:
        return any(self.data.get(name) for name in self.fields)
