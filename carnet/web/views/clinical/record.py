"""The structured record written from the chart: allergies, problems and history, vital
signs. Each view parses its form, calls one service of the clinical domain, and goes back to
the chart (or shows it again with the form's errors)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.clinical.chart import open_chart
from carnet.clinical.record import (
    end_allergy,
    end_reported_medication,
    record_allergy,
    record_problem,
    record_reported_medication,
    record_vitals,
    resolve_problem,
)
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability

from ..common import add_domain_errors, signed_in_actor
from .chart import render_chart
from .forms import AllergyForm, ProblemForm, ReportedMedicationForm, VitalsForm


def _write(
    request: HttpRequest,
    patient_id: str,
    form: forms.Form,
    name: str,
    anchor: str,
    done: str,
    work: Callable[[dict[str, Any]], object],
) -> HttpResponse:
    if form.is_valid():
        try:
            work(form.cleaned_data)
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, done)
            return redirect(reverse("web:chart", args=[patient_id]) + f"#{anchor}")
    chart = open_chart(actor=signed_in_actor(request), patient_id=patient_id)
    return render_chart(request, chart, status=400, **{name: form})


@staff_view("clinical.allergy.record", Capability.RECORD_ALLERGY)
@require_POST
def allergy_add(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    return _write(
        request,
        patient_id,
        AllergyForm(request.POST),
        "allergy_form",
        "allergies",
        _("Allergy record saved."),
        lambda data: record_allergy(actor=actor, patient_id=patient_id, **data),
    )


@staff_view("clinical.allergy.end", Capability.RECORD_ALLERGY)
@require_POST
def allergy_end(request: HttpRequest, patient_id: str, allergy_id: str) -> HttpResponse:
    end_allergy(actor=signed_in_actor(request), patient_id=patient_id, allergy_id=allergy_id)
    messages.success(request, _("Allergy ended (kept in the record's history)."))
    return redirect(reverse("web:chart", args=[patient_id]) + "#allergies")


@staff_view("clinical.problem.record", Capability.RECORD_PROBLEM)
@require_POST
def problem_add(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    return _write(
        request,
        patient_id,
        ProblemForm(request.POST),
        "problem_form",
        "problems",
        _("Problem saved."),
        lambda data: record_problem(actor=actor, patient_id=patient_id, **data),
    )


@staff_view("clinical.problem.resolve", Capability.RECORD_PROBLEM)
@require_POST
def problem_resolve(request: HttpRequest, patient_id: str, problem_id: str) -> HttpResponse:
    resolve_problem(actor=signed_in_actor(request), patient_id=patient_id, problem_id=problem_id)
    messages.success(request, _("Problem marked resolved."))
    return redirect(reverse("web:chart", args=[patient_id]) + "#problems")


@staff_view("clinical.vitals.record", Capability.RECORD_VITALS)
@require_POST
def vitals_add(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    chart = open_chart(actor=actor, patient_id=patient_id)
    current = chart.current_admission
    return _write(
        request,
        patient_id,
        VitalsForm(request.POST),
        "vitals_form",
        "vitals",
        _("Vital signs saved."),
        lambda data: record_vitals(
            actor=actor,
            patient_id=patient_id,
            values=data,
            encounter_id=current.id if current else None,
        ),
    )


@staff_view("clinical.medication.reported", Capability.RECORD_ALLERGY)
@require_POST
def reported_add(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    return _write(
        request,
        patient_id,
        ReportedMedicationForm(request.POST),
        "reported_form",
        "medications",
        _("Medication reported by the patient saved."),
        lambda data: record_reported_medication(
            actor=actor,
            patient_id=patient_id,
            medication_id=data["medication"],
            name=data["name"],
            dosage=data["dosage"],
            category=data["category"],
        ),
    )


@staff_view("clinical.medication.reported_end", Capability.RECORD_ALLERGY)
@require_POST
def reported_end(request: HttpRequest, patient_id: str, reported_id: str) -> HttpResponse:
    end_reported_medication(
        actor=signed_in_actor(request), patient_id=patient_id, reported_id=reported_id
    )
    messages.success(request, _("Medication stopped (kept in the record's history)."))
    return redirect(reverse("web:chart", args=[patient_id]) + "#medications")
