"""The chart and the forms written on it: notes and addenda, consultations, admissions and
discharges, and opening a sensitive category with a reason."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.clinical.chart import Chart, open_chart
from carnet.clinical.encounters import (
    UNDO_WINDOW,
    admit,
    discharge,
    open_encounter,
    rooms_for,
    undo_discharge,
    units_for,
)
from carnet.clinical.notes import write_addendum, write_note
from carnet.clinical.sensitivity import SensitiveCategory, category_label, open_category
from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, opened_through
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability, role_may
from carnet.patients.selectors import open_identity, practitioners_for

from ..common import add_domain_errors, signed_in_actor
from .forms import (
    AddendumForm,
    AdmissionForm,
    AllergyForm,
    ConsultationForm,
    DischargeForm,
    DocumentForm,
    NoteForm,
    ProblemForm,
    ReportedMedicationForm,
    SensitiveOpeningForm,
    UndoDischargeForm,
    VitalsForm,
)


def chart_forms(actor: Actor, chart: Chart, **bound: forms.Form) -> dict[str, forms.Form]:
    """The chart's forms, blank, except those given bound (with their errors)."""
    practitioners = list(practitioners_for(actor))
    made: dict[str, forms.Form] = {
        "note_form": NoteForm(encounters=chart.encounters),
        "document_form": DocumentForm(encounters=chart.encounters),
        "consultation_form": ConsultationForm(practitioners=practitioners),
        "admission_form": AdmissionForm(
            units=list(units_for(actor)), rooms=list(rooms_for(actor)), practitioners=practitioners
        ),
        "allergy_form": AllergyForm(),
        "problem_form": ProblemForm(),
        "vitals_form": VitalsForm(),
        "reported_form": ReportedMedicationForm(),
        "discharge_form": DischargeForm(
            initial={"at": timezone.localtime().replace(second=0, microsecond=0)}
        ),
        "undo_form": UndoDischargeForm(),
    }
    made.update(bound)
    return made


def render_chart(
    request: HttpRequest, chart: Chart, status: int = 200, **bound: forms.Form
) -> HttpResponse:
    actor = signed_in_actor(request)
    writable = not chart.closed

    def may(capability: Capability) -> bool:
        return writable and role_may(actor.role, capability)

    context: dict[str, Any] = {
        "chart": chart,
        "card": chart.card,
        "opened_by": opened_through(actor, chart.card.id),
        "can_write_note": may(Capability.WRITE_NOTE) and bool(chart.encounters),
        "can_manage_encounters": may(Capability.MANAGE_ENCOUNTERS),
        "can_prescribe": may(Capability.PRESCRIBE),
        "can_write_letter": may(Capability.SIGN_LETTER),
        "can_add_document": may(Capability.ADD_DOCUMENT) and bool(chart.encounters),
        "can_open_sensitive": role_may(actor.role, Capability.OPEN_SENSITIVE),
        "can_discharge": role_may(actor.role, Capability.MANAGE_ENCOUNTERS),
        "undoable": _undoable(actor, chart),
        "can_record_allergy": may(Capability.RECORD_ALLERGY),
        "can_record_problem": may(Capability.RECORD_PROBLEM),
        "can_record_vitals": may(Capability.RECORD_VITALS),
        "summary": chart.summary,
        **chart_forms(actor, chart, **bound),
    }
    return render(request, "web/clinical/chart.html", context, status=status)


@staff_view("clinical.chart", Capability.VIEW_CLINICAL)
def chart(request: HttpRequest, patient_id: str) -> HttpResponse:
    return render_chart(request, open_chart(actor=signed_in_actor(request), patient_id=patient_id))


def _failed(request: HttpRequest, patient_id: str, name: str, form: forms.Form) -> HttpResponse:
    """The chart again, with this form's errors, and nothing of the failed write kept."""
    chart = open_chart(actor=signed_in_actor(request), patient_id=patient_id)
    return render_chart(request, chart, status=400, **{name: form})


def _to_chart(request: HttpRequest, patient_id: str, anchor: str = "") -> HttpResponse:
    """Back to the chart, or to the identity page for the desk (it admits, it reads no chart)."""
    if not role_may(signed_in_actor(request).role, Capability.VIEW_CLINICAL):
        return redirect("web:patient_detail", patient_id=patient_id)
    return redirect(reverse("web:chart", args=[patient_id]) + (f"#{anchor}" if anchor else ""))


@staff_view("clinical.note.write", Capability.WRITE_NOTE)
@require_POST
def note(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    chart = open_chart(actor=actor, patient_id=patient_id)
    form = NoteForm(request.POST, encounters=chart.encounters)
    if form.is_valid():
        data = form.cleaned_data
        try:
            written = write_note(
                actor=actor,
                patient_id=patient_id,
                encounter_id=data["encounter"],
                text=data["text"],
                category=data["category"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Note saved."))
            return _to_chart(request, patient_id, f"note-{written.pk}")
    return render_chart(request, chart, status=400, note_form=form)


@staff_view("clinical.note.addendum", Capability.WRITE_NOTE)
def addendum(request: HttpRequest, patient_id: str, note_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    chart = open_chart(actor=actor, patient_id=patient_id)
    original = next((n for n in chart.notes if n.id == str(note_id)), None)
    if original is None:
        raise Refused("no such note for this patient", patients=[chart.card.id])
    if original.masked:
        raise Refused("sensitive note not opened", patients=[chart.card.id], not_found=False)
    form = AddendumForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            write_addendum(
                actor=actor, patient_id=patient_id, note_id=note_id, text=form.cleaned_data["text"]
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Addendum saved; the note is unchanged."))
            return _to_chart(request, patient_id, f"note-{original.id}")
    return render(
        request,
        "web/clinical/addendum.html",
        {"card": chart.card, "chart": chart, "note": original, "form": form},
        status=400 if form.errors else 200,
    )


@staff_view("clinical.encounter.open", Capability.MANAGE_ENCOUNTERS)
@require_POST
def consultation(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    form = ConsultationForm(request.POST, practitioners=list(practitioners_for(actor)))
    if form.is_valid():
        data = form.cleaned_data
        try:
            encounter = open_encounter(
                actor=actor,
                patient_id=patient_id,
                reason=data["reason"],
                practitioner_user_id=data["practitioner"] or None,
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Consultation opened."))
            return _to_chart(request, patient_id, f"encounter-{encounter.pk}")
    return _failed(request, patient_id, "consultation_form", form)


@staff_view("clinical.encounter.admit", Capability.MANAGE_ENCOUNTERS)
@require_POST
def admission(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    form = AdmissionForm(
        request.POST,
        units=list(units_for(actor)),
        rooms=list(rooms_for(actor)),
        practitioners=list(practitioners_for(actor)),
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            encounter = admit(
                actor=actor,
                patient_id=patient_id,
                unit_id=data["unit"],
                room_id=data["room"] or None,
                practitioner_user_id=data["practitioner"] or None,
                reason=data["reason"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(
                request,
                _("Admitted in %(unit)s: the unit's team now has the chart.")
                % {"unit": encounter.unit.name},
            )
            return _to_chart(request, patient_id, f"encounter-{encounter.pk}")
    return _failed(request, patient_id, "admission_form", form)


def _undoable(actor: Actor, chart: Chart) -> object:
    """The stay whose discharge this actor may still undo, if any (the newest)."""
    if chart.closed or chart.current_admission or not role_may(actor.role, Capability.PRESCRIBE):
        return None
    now = timezone.now()
    return next(
        (
            e
            for e in chart.encounters
            if e.is_admission
            and e.discharge_recorded_at
            and now - e.discharge_recorded_at <= UNDO_WINDOW
        ),
        None,
    )


@staff_view("clinical.encounter.discharge", Capability.MANAGE_ENCOUNTERS)
@require_POST
def discharge_view(request: HttpRequest, patient_id: str, encounter_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    form = DischargeForm(request.POST)
    if form.is_valid():
        try:
            discharge(
                actor=actor,
                patient_id=patient_id,
                encounter_id=encounter_id,
                destination=form.cleaned_data["destination"],
                at=form.cleaned_data["at"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Discharged: the unit no longer opens this chart. A practitioner can undo "
                    "it within %(hours)d hours, with a reason."
                )
                % {"hours": UNDO_WINDOW.total_seconds() // 3600},
            )
            return _to_chart(request, patient_id)
    if not role_may(actor.role, Capability.VIEW_CLINICAL):
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return _to_chart(request, patient_id)
    return _failed(request, patient_id, "discharge_form", form)


@staff_view("clinical.encounter.discharge_undo", Capability.MANAGE_ENCOUNTERS)
@require_POST
def discharge_undo(request: HttpRequest, patient_id: str, encounter_id: str) -> HttpResponse:
    form = UndoDischargeForm(request.POST)
    if form.is_valid():
        try:
            undo_discharge(
                actor=signed_in_actor(request),
                patient_id=patient_id,
                encounter_id=encounter_id,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Discharge undone: the stay is current again."))
            return _to_chart(request, patient_id, "encounters")
    return _failed(request, patient_id, "undo_form", form)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and allowed else fallback


@staff_view("clinical.sensitive.open", Capability.OPEN_SENSITIVE)
def sensitive_open(request: HttpRequest, patient_id: str, category: str) -> HttpResponse:
    """Opens one sensitive category of this patient for a few hours, with a reason."""
    actor = signed_in_actor(request)
    if category not in SensitiveCategory.values or not category:
        raise Refused("no such sensitive category")
    card = open_identity(actor=actor, patient_id=patient_id)
    back = _safe_next(request, reverse("web:chart", args=[card.id]))
    form = SensitiveOpeningForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            opening = open_category(
                actor=actor,
                patient_id=card.id,
                category=category,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            until = timezone.localtime(opening.until)
            messages.success(
                request,
                _("%(category)s items are open for you until %(until)s (recorded).")
                % {"category": category_label(category), "until": until.strftime("%H:%M")},
            )
            return redirect(back)
    return render(
        request,
        "web/clinical/sensitive_open.html",
        {
            "card": card,
            "form": form,
            "category": category,
            "category_label": category_label(category),
            "back": back,
        },
        status=400 if form.errors else 200,
    )
