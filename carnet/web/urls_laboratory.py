"""Staff routes of the laboratory pages (part of the `web` namespace, see urls.py)."""

from django.urls import path

from .views import laboratory

urlpatterns: list = [
    path("lab/", laboratory.lab_worklist, name="lab"),
    path("lab/orders/<uuid:order_id>/", laboratory.lab_order, name="lab_order"),
    path("lab/orders/<uuid:order_id>/collect/", laboratory.lab_collect, name="lab_collect"),
    path("lab/orders/<uuid:order_id>/results/", laboratory.lab_results, name="lab_results"),
    path("lab/orders/<uuid:order_id>/validate/", laboratory.lab_validate, name="lab_validate"),
    path("patients/<uuid:patient_id>/lab/", laboratory.patient_lab, name="patient_lab"),
    path(
        "patients/<uuid:patient_id>/lab/order/",
        laboratory.patient_lab_order,
        name="patient_lab_order",
    ),
]
