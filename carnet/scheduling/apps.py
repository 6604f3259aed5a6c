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


def future_appointments(patient_id, since):
    """A patient's appointments still to come from `since` (booked or confirmed), in order:
    what a death cancels."""
    from .models import Appointment, AppointmentState

    return list(
        Appointment.objects.filter(
            patient_id=patient_id,
            starts_at__gte=since,
            state__in=[AppointmentState.BOOKED, AppointmentState.CONFIRMED],
        )
        .order_by("starts_at")
        .values_list("pk", flat=True)
    )


def cancel_by_establishment(*, actor, appointment_id, reason, capability):
    from .models import AppointmentState
    from .services import change_state

    change_state(
        actor=actor,
        appointment_id=appointment_id,
        to_state=AppointmentState.CANCELLED_BY_ESTABLISHMENT,
        reason=reason,
        capability=capability,
    )


class SchedulingConfig(AppConfig):
    name = "carnet.scheduling"
    label = "scheduling"
    verbose_name = "Scheduling"

    def ready(self) -> None:
        from carnet.patients.death import FutureAppointments, register_future_appointments
        from carnet.patients.retention import register_activity_source

        register_activity_source(last_appointments)
        # A death cancels the appointments still to come; the patients domain does not import
        # this one (domains import only those below them).
        register_future_appointments(
            FutureAppointments(find=future_appointments, cancel=cancel_by_establishment)
        )
