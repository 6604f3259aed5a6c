"""The clinical record: encounters and admissions, notes with addenda, prescriptions,
laboratory orders and results, documents, and the sensitive categories that stay masked."""

from django.apps import AppConfig


def last_encounters(patient_ids):
    """Retention's activity source: each patient's latest stay or consultation (a current
    admission counts as today's: the record is in use)."""
    from django.db.models import Case, DateTimeField, Max, Q, Value, When
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from .models import Encounter

    current = Q(kind="admission", discharged_at__isnull=True)
    rows = (
        Encounter.objects.filter(patient_id__in=patient_ids)
        .values("patient_id")
        .annotate(
            last=Max(
                Case(
                    # The application's clock, not the database's: one "now" for every rule.
                    When(current, then=Value(timezone.now(), output_field=DateTimeField())),
                    default=Coalesce("discharged_at", "started_at"),
                )
            )
        )
    )
    return {row["patient_id"]: row["last"] for row in rows}


class ClinicalConfig(AppConfig):
    name = "carnet.clinical"
    label = "clinical"
    verbose_name = "Clinical record"

    def ready(self) -> None:
        from carnet.patients.retention import register_activity_source

        register_activity_source(last_encounters)

        from carnet.sharing.models import ShareKind
        from carnet.sharing.services import register_kind

        from . import shareable

        register_kind(
            ShareKind.NOTE,
            available=shareable.available_notes,
            describe=shareable.describe_note,
        )
        register_kind(
            ShareKind.DOCUMENT,
            available=shareable.available_documents,
            describe=shareable.describe_document,
        )
