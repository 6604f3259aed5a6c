"""Staff routes of the laboratory pages (part of the `web` namespace, see urls.py)."""

from django.urls import path

from .views import laboratory

urlpatterns: list = [
    path("lab/", laboratory.lab_worklist, name="lab"),
    path("lab/orders/<uuid:order_id>/", laboratory.lab_order, name="lab_order"),
    path("lab/orders/<uuid:order_id>/collect/", laboratory.lab_collect, name="lab_collect"),
    path("lab/orders/<uuid:order_id>/results/", laboratory.lab_results, name="lab_results"),
    path("lab/orders/<uuid:order_id>/validate/", laboratory.lab_validate, name="lab_validate"),
    path("lab/orders/<uuid:order_id>/return/", laboratory.lab_return, name="lab_return"),
    path("lab/orders/<uuid:order_id>/correct/", laboratory.lab_correct, name="lab_correct"),
    path("lab/orders/<uuid:order_id>/labels/", laboratory.lab_labels, name="lab_labels"),
    path("lab/alerts/", laboratory.lab_alerts, name="lab_alerts"),
    path("lab/quarantine/", laboratory.lab_quarantine, name="lab_quarantine"),
    path(
        "lab/quarantine/<uuid:message_id>/resolve/",
        laboratory.lab_quarantine_resolve,
        name="lab_quarantine_resolve",
    ),
    path(
        "lab/alerts/<int:alert_id>/acknowledge/",
        laboratory.lab_alert_acknowledge,
        name="lab_alert_acknowledge",
    ),
    path("patients/<uuid:patient_id>/lab/", laboratory.patient_lab, name="patient_lab"),
    path(
        "patients/<uuid:patient_id>/lab/order/",
        laboratory.patient_lab_order,
        name="patient_lab_order",
    ),
]
