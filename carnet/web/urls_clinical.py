"""Staff routes of the clinical pages (part of the `web` namespace, see urls.py). Every one
names its patient, so that a refusal answers the same for a missing and a forbidden item,
and offers break-the-glass where the role may."""

from django.urls import path

from .views.clinical import chart, documents, letters, prescriptions, record

_CHART = "patients/<uuid:patient_id>/chart/"

urlpatterns: list = [
    path(_CHART, chart.chart, name="chart"),
    path(f"{_CHART}notes/", chart.note, name="chart_note"),
    path(f"{_CHART}notes/<uuid:note_id>/addendum/", chart.addendum, name="chart_addendum"),
    path(f"{_CHART}consultations/", chart.consultation, name="chart_consultation"),
    path(f"{_CHART}admissions/", chart.admission, name="chart_admit"),
    path(
        f"{_CHART}encounters/<uuid:encounter_id>/discharge/",
        chart.discharge_view,
        name="chart_discharge",
    ),
    path(
        f"{_CHART}encounters/<uuid:encounter_id>/discharge/undo/",
        chart.discharge_undo,
        name="chart_discharge_undo",
    ),
    path(
        f"{_CHART}encounters/<uuid:encounter_id>/letter/",
        letters.letter_write,
        name="chart_letter_write",
    ),
    path(f"{_CHART}letters/<uuid:letter_id>/", letters.letter_view, name="chart_letter"),
    path(
        f"{_CHART}letters/<uuid:letter_id>/pdf/",
        letters.letter_document,
        name="chart_letter_pdf",
    ),
    path(f"{_CHART}sensitive/<slug:category>/", chart.sensitive_open, name="chart_sensitive_open"),
    path(
        f"{_CHART}prescriptions/new/",
        prescriptions.prescription_new,
        name="chart_prescribe",
    ),
    path(
        f"{_CHART}prescriptions/<uuid:prescription_id>/",
        prescriptions.prescription_print,
        name="chart_prescription",
    ),
    path(
        f"{_CHART}prescriptions/<uuid:prescription_id>/pdf/",
        prescriptions.prescription_document,
        name="chart_prescription_pdf",
    ),
    path(f"{_CHART}allergies/", record.allergy_add, name="chart_allergy_add"),
    path(f"{_CHART}allergies/<uuid:allergy_id>/end/", record.allergy_end, name="chart_allergy_end"),
    path(f"{_CHART}problems/", record.problem_add, name="chart_problem_add"),
    path(
        f"{_CHART}problems/<uuid:problem_id>/resolve/",
        record.problem_resolve,
        name="chart_problem_resolve",
    ),
    path(f"{_CHART}vitals/", record.vitals_add, name="chart_vitals_add"),
    path(f"{_CHART}medications/", record.reported_add, name="chart_reported_add"),
    path(
        f"{_CHART}medications/<uuid:reported_id>/end/",
        record.reported_end,
        name="chart_reported_end",
    ),
    path(f"{_CHART}documents/", documents.document_add, name="chart_document_add"),
    path(
        f"{_CHART}documents/<uuid:document_id>/",
        documents.document_view,
        name="chart_document",
    ),
]
