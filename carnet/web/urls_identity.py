"""Staff routes of the identity pages (part of the `web` namespace, see urls.py): insurance,
death, the authorised correction, duplicates and merges."""

from django.urls import path

from .views import identity

urlpatterns: list = [
    path(
        "patients/<uuid:patient_id>/insurance/", identity.insurance_page, name="patient_insurance"
    ),
    path(
        "patients/<uuid:patient_id>/insurance/amo/",
        identity.insurance_mandatory,
        name="patient_insurance_amo",
    ),
    path(
        "patients/<uuid:patient_id>/insurance/amc/",
        identity.insurance_complementary,
        name="patient_insurance_amc",
    ),
    path("patients/<uuid:patient_id>/death/", identity.declare_death, name="patient_death"),
    path(
        "patients/<uuid:patient_id>/death/retract/",
        identity.retract_death,
        name="patient_death_retract",
    ),
    path("patients/<uuid:patient_id>/correct/", identity.correct_identity, name="patient_correct"),
    path("identity/duplicates/", identity.duplicates, name="duplicates"),
    path("identity/duplicates/dismiss/", identity.dismiss, name="duplicates_dismiss"),
    path("identity/merge/", identity.merge, name="merge"),
    path("identity/merges/<int:merge_id>/", identity.merge_detail, name="merge_detail"),
    path("identity/merges/<int:merge_id>/undo/", identity.merge_undo, name="merge_undo"),
]
