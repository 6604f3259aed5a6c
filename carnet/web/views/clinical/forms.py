"""Input of the clinical pages. Choices (encounters, units, medications) come from what the
domain handed over; the rules stay in the domain."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from carnet.clinical.encounters import UNIT_AFTER_DISCHARGE
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
    override_reason = forms.CharField(
        label=_("Reason for going on despite the warnings"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded on the prescription and in the audit log."),
    )
    confirm_allergy = forms.BooleanField(
        label=_(
            "I confirm that I prescribe, knowingly, a medication contraindicated by a recorded "
            "allergy."
        ),
        required=False,
    )

    def __init__(self, *args: Any, encounters: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["encounter"].choices = [("", "—")] + [(e.id, e.label) for e in encounters]
        self.fields["category"].choices = _categories()


class LineForm(forms.Form):
    medication = forms.TypedChoiceField(label=_("Medication"), coerce=int, required=False)
    dosage = forms.CharField(
        label=_("Dose"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 1 tablet")}),
    )
    route = forms.ChoiceField(label=_("Route"), required=False)
    frequency = forms.CharField(
        label=_("Frequency"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. 3 times a day")}),
    )
    duration_days = forms.IntegerField(label=_("Days"), min_value=1, max_value=365, required=False)
    renewals = forms.IntegerField(
        label=_("Renewals"), min_value=0, max_value=12, required=False, initial=0
    )
    ald = forms.BooleanField(label=_("ALD"), required=False)

    def __init__(self, *args: Any, medications: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from carnet.clinical.models import Route
        from carnet.clinical.prescriptions import route_for

        self.fields["medication"].choices = [("", "—")] + [
            (m.pk, f"{m}{f' ({m.brand})' if m.brand else ''}") for m in medications
        ]
        self.fields["medication"].widget.attrs["data-clinical-drug"] = "1"
        self.routes = {str(m.pk): route_for(m) for m in medications}
        self.fields["route"].choices = [("", "—")] + list(Route.choices)

    @property
    def filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return bool(data.get("medication") or data.get("dosage") or data.get("frequency"))


LineFormSet = forms.formset_factory(LineForm, extra=4, max_num=12)


class AllergyForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"))
    substance_code = forms.ChoiceField(label=_("Substance or class"), required=False)
    substance = forms.CharField(
        label=_("Other substance"),
        required=False,
        max_length=300,
        help_text=_("When it is not in the list (latex, iodine, a food...)."),
    )
    reaction = forms.CharField(label=_("Reaction"), required=False, max_length=300)
    severity = forms.ChoiceField(label=_("Severity"), required=False)
    certainty = forms.ChoiceField(label=_("Certainty"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from carnet.clinical.formulary import allergen_choices
        from carnet.clinical.models import AllergyKind, Certainty, Severity

        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = AllergyKind.choices
        self.fields["substance_code"].choices = [("", "—")] + list(allergen_choices())
        self.fields["severity"].choices = [("", "—")] + list(Severity.choices)
        self.fields["certainty"].choices = [("", "—")] + list(Certainty.choices)


class ProblemForm(forms.Form):
    code = forms.ChoiceField(label=_("CIM-10 code"), required=False)
    label = forms.CharField(
        label=_("Problem"),
        required=False,
        max_length=300,
        help_text=_("Written out when the code is not in the list."),
    )
    scope = forms.ChoiceField(label=_("Kind"))
    status = forms.ChoiceField(label=_("Status"))
    onset = forms.CharField(label=_("Since"), required=False, max_length=300)
    category = forms.ChoiceField(label=_("Sensitive category"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from carnet.clinical.formulary import cim10_codes
        from carnet.clinical.models import ProblemScope, ProblemStatus

        super().__init__(*args, **kwargs)
        self.fields["code"].choices = [("", "—")] + [
            (code, f"{code} {label}") for code, (label, _c) in sorted(cim10_codes().items())
        ]
        self.fields["scope"].choices = ProblemScope.choices
        self.fields["status"].choices = ProblemStatus.choices
        self.fields["category"].choices = _categories()


class VitalsForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from carnet.clinical.record import MEASURES

        super().__init__(*args, **kwargs)
        for measure in MEASURES:
            self.fields[measure.key] = forms.CharField(
                label=f"{measure.label} ({measure.unit})",
                required=False,
                max_length=8,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "size": 5}),
            )


class LocalMomentField(forms.DateTimeField):
    """A local date and time as a form gives it, read on any night of the year: the hour
    that happens twice when the clocks go back is read as the latest of its two moments that
    is not in the future (the page's own "now" sent back is now, not an hour ago); the hour
    skipped when they go forward, likewise. Django's field refuses both as ambiguous."""

    def to_python(self, value: Any) -> datetime.datetime | None:
        try:
            return super().to_python(value)
        except ValidationError as error:
            if error.code != "ambiguous_timezone":
                raise
        naive = None
        for layout in self.input_formats:
            try:
                naive = datetime.datetime.strptime(str(value).strip(), layout)  # noqa: DTZ007 (made aware below, fold chosen)
                break
            except ValueError:
                continue
        if naive is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        zone = timezone.get_current_timezone()
        now = timezone.now()
        # In UTC: within one zone, Python compares wall times and ignores the fold.
        moments = sorted(
            {naive.replace(tzinfo=zone, fold=fold).astimezone(datetime.UTC) for fold in (0, 1)}
        )
        past = [m for m in moments if m <= now]
        return past[-1] if past else moments[0]


class DischargeForm(forms.Form):
    at = LocalMomentField(
        label=_("Discharged at"),
        required=False,
        help_text=_("Now when left empty."),
        input_formats=["%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    destination = forms.ChoiceField(label=_("Destination"))
    confirm = forms.BooleanField(
        label=format_lazy(
            _(
                "I confirm the discharge: the unit keeps this chart {hours} hours to finish its "
                "notes, then no longer opens it."
            ),
            hours=int(UNIT_AFTER_DISCHARGE.total_seconds() // 3600),
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from carnet.clinical.models import DischargeDestination

        super().__init__(*args, **kwargs)
        self.fields["destination"].choices = [("", "—")] + list(DischargeDestination.choices)


class UndoDischargeForm(forms.Form):
    reason = forms.CharField(
        label=_("Why undo this discharge?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded with the stay and in the audit log."),
    )


class ReportedMedicationForm(forms.Form):
    medication = forms.TypedChoiceField(
        label=_("Medication"), coerce=int, required=False, empty_value=None
    )
    name = forms.CharField(
        label=_("Or written out"),
        required=False,
        max_length=300,
        help_text=_("Not in the list: shown, but not checked when prescribing."),
    )
    dosage = forms.CharField(label=_("How they take it"), required=False, max_length=300)
    category = forms.ChoiceField(label=_("Sensitive category"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from carnet.clinical.prescriptions import medications

        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _categories()
        self.fields["medication"].choices = [("", "—")] + [
            (m.pk, str(m)) for m in medications() if not m.sensitive
        ]


class LetterForm(forms.Form):
    """The discharge letter's sections, drafted from the stay and completed by the
    practitioner; "sign" checks that the sections a letter cannot go without are written."""

    reason = forms.CharField(
        label=_("Reason for the stay"),
        required=False,
        max_length=8_000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    course = forms.CharField(
        label=_("Course of the stay"),
        required=False,
        max_length=8_000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Drafted from the stay's notes: write the synthesis the reader needs."),
    )
    results = forms.CharField(
        label=_("Relevant results"),
        required=False,
        max_length=8_000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("The results validated during the stay: keep those that matter."),
    )
    allergies = forms.CharField(
        label=_("Allergies and intolerances"),
        required=False,
        max_length=8_000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    treatment = forms.CharField(
        label=_("Treatment at discharge"),
        required=False,
        max_length=8_000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Say what was started, changed or stopped during the stay."),
    )
    follow_up = forms.CharField(
        label=_("Follow-up"),
        required=False,
        max_length=8_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Appointments, care at home, what to watch and when to come back."),
    )
    category = forms.ChoiceField(
        label=_("Sensitive category"),
        required=False,
        help_text=_("Masked for anyone outside your care team unless they open it with a reason."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _categories()
