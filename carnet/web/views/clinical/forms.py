"""Input of the clinical pages. Choices (encounters, units, medications) come from what the
domain handed over; the rules stay in the domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from carnet.clinical.sensitivity import SensitiveCategory

_NONE = [("", _("Not sensitive"))]


def _categories() -> list[tuple[str, str]]:
    return _NONE + [(v, str(label)) for v, label in SensitiveCategory.choices if v]


class _EncounterChoice(forms.Form):
    def __init__(self, *args: Any, encounters: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["encounter"]
        field.choices = [(e.id, e.label) for e in encounters]
        if encounters and not self.is_bound:
            field.initial = encounters[0].id


class NoteForm(_EncounterChoice):
    encounter = forms.ChoiceField(label=_("Encounter"))
    category = forms.ChoiceField(
        label=_("Sensitive category"),
        required=False,
        help_text=_("Masked for anyone outside your care team unless they open it with a reason."),
    )
    text = forms.CharField(
        label=_("Note"), max_length=20_000, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _categories()


class AddendumForm(forms.Form):
    text = forms.CharField(
        label=_("Addendum"),
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 5, "autofocus": True}),
        help_text=_("The note stays as it was written; the addendum is shown with it."),
    )


class ConsultationForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the consultation"), max_length=500)
    practitioner = forms.ChoiceField(label=_("Practitioner"), required=False)

    def __init__(self, *args: Any, practitioners: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["practitioner"].choices = [("", _("Myself"))] + [
            (p.user_id, str(p)) for p in practitioners
        ]


class AdmissionForm(forms.Form):
    unit = forms.ChoiceField(label=_("Unit"))
    room = forms.ChoiceField(label=_("Room"), required=False)
    practitioner = forms.ChoiceField(label=_("Practitioner in charge"), required=False)
    reason = forms.CharField(label=_("Reason for the admission"), max_length=500)

    def __init__(
        self,
        *args: Any,
        units: Sequence[Any] = (),
        rooms: Sequence[Any] = (),
        practitioners: Sequence[Any] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].choices = [(u.pk, f"{u.name} — {u.establishment.name}") for u in units]
        self.fields["room"].choices = [("", _("Not yet"))] + [
            (r.pk, f"{r.unit.name} · {r.name}") for r in rooms
        ]
        self.fields["practitioner"].choices = [("", "—")] + [
            (p.user_id, str(p)) for p in practitioners
        ]


class DocumentForm(_EncounterChoice):
    # The file comes last in the form: an upload stopped at the size limit drops what follows.
    encounter = forms.ChoiceField(label=_("Encounter"))
    title = forms.CharField(label=_("Title"), max_length=200)
    category = forms.ChoiceField(label=_("Sensitive category"), required=False)
    file = forms.FileField(
        label=_("File"),
        help_text=_("PDF, PNG or JPEG."),
        widget=forms.ClearableFileInput(
            attrs={"accept": "application/pdf,image/png,image/jpeg,.pdf,.png,.jpg,.jpeg"}
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _categories()


class SensitiveOpeningForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you need to see these items?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}),
        help_text=_(
            "Recorded in the audit log and reviewed. The items stay open for you for a few hours."
        ),
    )


class PrescriptionForm(forms.Form):
    encounter = forms.ChoiceField(label=_("Encounter"), required=False)
    category = forms.ChoiceField(
        label=_("Sensitive category"),
        required=False,
        help_text=_("Set by itself for medications that tell one (antiretrovirals, substitution)."),
    )
    notes = forms.CharField(
        label=_("Notes for the patient"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, encounters: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["encounter"].choices = [("", "—")] + [(e.id, e.label) for e in encounters]
        self.fields["category"].choices = _categories()


class LineForm(forms.Form):
    medication = forms.TypedChoiceField(label=_("Medication"), coerce=int, required=False)
    dosage = forms.CharField(
        label=_("Dosage"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 1 tablet 3 times a day")}),
    )
    duration_days = forms.IntegerField(label=_("Days"), min_value=1, max_value=365, required=False)
    renewals = forms.IntegerField(
        label=_("Renewals"), min_value=0, max_value=12, required=False, initial=0
    )

    def __init__(self, *args: Any, medications: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["medication"].choices = [("", "—")] + [
            (m.pk, f"{m}{f' ({m.brand})' if m.brand else ''}") for m in medications
        ]

    @property
    def filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return bool(data.get("medication") or data.get("dosage"))


LineFormSet = forms.formset_factory(LineForm, extra=4, max_num=12)
