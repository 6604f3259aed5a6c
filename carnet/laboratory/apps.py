"""The laboratory: orders of tests (LOINC-coded catalogue), specimens, results with units,
reference ranges and flags, validation, blood group. Part of the clinical record, kept as its
own app because a laboratory runs as its own service, often for several establishments."""

from django.apps import AppConfig


def last_collections(patient_ids):
    """Retention's activity source: a specimen taken is a visit (an order never collected is
    not), so a patient seen only at the laboratory keeps their record its legal term."""
    from django.db.models import Max

    from .models import Specimen

    rows = (
        Specimen.objects.filter(order__patient_id__in=patient_ids)
        .values("order__patient_id")
        .annotate(last=Max("collected_at"))
    )
    return {row["order__patient_id"]: row["last"] for row in rows}


class LaboratoryConfig(AppConfig):
    name = "carnet.laboratory"
    label = "laboratory"
    verbose_name = "Laboratory"

    def ready(self) -> None:
        from carnet.patients.retention import register_activity_source

        register_activity_source(last_collections)
