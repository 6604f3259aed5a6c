from django.apps import AppConfig


def last_appointments(patient_ids):
    """Retention's activity source: each patient's latest appointment that was not cancelled
    nor missed (one still to come counts: the record is in use)."""
    from django.db.models import Max

    from .models import Appointment, AppointmentState

    not_visits = (
        AppointmentState.CANCELLED_BY_PATIENT,
        AppointmentState.CANCELLED_BY_ESTABLISHMENT,
        AppointmentState.NO_SHOW,
    )
    rows = (
        Appointment.objects.filter(patient_id__in=patient_ids)
        .exclude(state__in=not_visits)
        .values("patient_id")
        .annotate(last=Max("starts_at"))
    )
    return {row["patient_id"]: row["last"] for row in rows}


class SchedulingConfig(AppConfig):
    name = "carnet.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from carnet.patients.retention import register_activity_source

        register_activity_source(last_appointments)
