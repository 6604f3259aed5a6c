"""Prescribing (practitioners only) and the printable prescription."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.clinical.chart import open_chart, prescription_sheet
from carnet.clinical.prescriptions import (
    LineInput,
    PrescriptionWarnings,
    medications,
    prescribe,
    route_for,
)
from carnet.clinical.printouts import ALD_ZONE, OTHER_ZONE, prescription_pdf
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability

from ..common import add_domain_errors, file_response, signed_in_actor
from .forms import LineFormSet, PrescriptionForm


@staff_view("clinical.prescribe", Capability.PRESCRIBE)
def prescription_new(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    chart = open_chart(actor=actor, patient_id=patient_id)
    listed = list(medications())
    data = request.POST if request.method == "POST" else None
    form = PrescriptionForm(data, encounters=chart.encounters)
    lines = LineFormSet(data, prefix="line", form_kwargs={"medications": listed})
    if chart.current_admission and data is None:
        form.initial["encounter"] = chart.current_admission.id
    warnings: list = []
    if data is not None and form.is_valid() and lines.is_valid():
        filled = [line.cleaned_data for line in lines if line.filled]
        try:
            made = prescribe(
                actor=actor,
                patient_id=patient_id,
                lines=[
                    LineInput(
                        medication_id=line.get("medication") or 0,
                        dosage=line.get("dosage") or "",
                        duration_days=line.get("duration_days") or 0,
                        renewals=line.get("renewals") or 0,
                        route=line.get("route") or "",
                        frequency=line.get("frequency") or "",
                        ald=bool(line.get("ald")),
                    )
                    for line in filled
                ],
                notes=form.cleaned_data["notes"],
                encounter_id=form.cleaned_data["encounter"] or None,
                category=form.cleaned_data["category"],
                override_reason=form.cleaned_data["override_reason"],
                confirm_allergy=form.cleaned_data["confirm_allergy"],
            )
        except PrescriptionWarnings as checked:
            warnings = checked.warnings
            add_domain_errors(form, checked)
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Prescription saved: print it from here."))
            return redirect(
                "web:chart_prescription", patient_id=chart.card.id, prescription_id=made.pk
            )
    status = (
        400 if form.errors or (data is not None and lines.errors and any(lines.errors)) else 200
    )
    return render(
        request,
        "web/clinical/prescription_form.html",
        {
            "card": chart.card,
            "chart": chart,
            "form": form,
            "lines": lines,
            "warnings": warnings,
            "needs_confirmation": any(w.needs_confirmation for w in warnings),
            "routes": {str(m.pk): route_for(m) for m in listed},
        },
        status=status,
    )


@staff_view("clinical.prescription.view", Capability.VIEW_CLINICAL)
def prescription_print(request: HttpRequest, patient_id: str, prescription_id: str) -> HttpResponse:
    sheet = prescription_sheet(
        actor=signed_in_actor(request), patient_id=patient_id, prescription_id=prescription_id
    )
    return render(
        request,
        "web/clinical/prescription_print.html",
        {
            "sheet": sheet,
            "printed_at": timezone.localtime(),
            "code": sheet.code,
            "ald_zone": ALD_ZONE,
            "other_zone": OTHER_ZONE,
        },
    )


@staff_view("clinical.prescription.view", Capability.VIEW_CLINICAL)
def prescription_document(
    request: HttpRequest, patient_id: str, prescription_id: str
) -> HttpResponse:
    """The prescription as a PDF: a masked one answers with its page (open it first)."""
    sheet = prescription_sheet(
        actor=signed_in_actor(request), patient_id=patient_id, prescription_id=prescription_id
    )
    if sheet.masked:
        return redirect("web:chart_prescription", patient_id, prescription_id)
    content = prescription_pdf(sheet, printed_at=timezone.now())
    day = timezone.localtime(sheet.created_at)
    return file_response(content, "application/pdf", f"ordonnance-{day:%Y-%m-%d}.pdf")
