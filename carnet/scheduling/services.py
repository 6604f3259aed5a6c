"""Booking, moving and cancelling appointments, through the guard. No double booking: the
overlap check runs in an immediate transaction (SQLite: one writer at a time) and PostgreSQL's
exclusion constraint refuses what two concurrent transactions might both have checked."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Capability
from carnet.guard.relationships import end as end_relationship
from carnet.guard.relationships import relate, relate_desk_many
from carnet.patients.models import Patient
from carnet.patients.selectors import guarded_patient, parse_patient_id, writable_patient

from .models import HOLDING, Appointment, AppointmentEvent, AppointmentState, ConsultationType
from .slots import free_slots

# The practitioner keeps the patient open this long after the appointment (follow-up).
RELATIONSHIP_AFTER = datetime.timedelta(days=30)


class SlotTaken(Exception):
    """Someone booked this slot first."""

    message = "This slot was just taken: please choose another one."


def _on_the_grid(consultation_type: ConsultationType, starts_at: datetime.datetime) -> bool:
    """A bookable time of the agenda (hours, absences, notice, horizon), taken or not."""
    day = timezone.localtime(starts_at).date()
    slots = free_slots(
        consultation_type=consultation_type, first_day=day, days=1, ignore_appointments=True
    )
    return any(slot.starts_at == starts_at for slot in slots)


def book_appointment(
    *, actor: Actor, consultation_type_id: int, patient_id: object, starts_at: datetime.datetime
) -> Appointment:
    """The desk (or a practitioner) books a patient into a free slot of its establishment."""
    consultation_type = _bookable_type(consultation_type_id)
    if (
        consultation_type.agenda.establishment_id not in actor.establishment_ids
        and not actor.is_system
    ):
        raise ValidationError({"consultation_type": _("This agenda is not of your establishment.")})
    # Nobody is booked on a deceased patient's record, nor on a merged one.
    patient = writable_patient(actor, Capability.BOOK_APPOINTMENT, patient_id)
    return book_slot(actor, consultation_type, patient, starts_at)


def _bookable_type(consultation_type_id: object) -> ConsultationType:
    consultation_type = (
        ConsultationType.objects.select_related("agenda__practitioner")
        .filter(pk=consultation_type_id, agenda__active=True)
        .first()
    )
    if consultation_type is None:
        raise ValidationError({"consultation_type": _("Unknown consultation type.")})
    return consultation_type


def book_slot(
    actor: Actor,
    consultation_type: ConsultationType,
    patient: Patient,
    starts_at: datetime.datetime,
) -> Appointment:
    """Books a patient the guard already handed over; the one place an appointment is made."""
    agenda = consultation_type.agenda
    ends_at = starts_at + datetime.timedelta(minutes=consultation_type.minutes)
    if not _on_the_grid(consultation_type, starts_at):
        raise ValidationError({"starts_at": _("This time is not a free slot of the agenda.")})
    try:
        with transaction.atomic():
            taken = Appointment.objects.filter(
                agenda=agenda, state__in=HOLDING, starts_at__lt=ends_at, ends_at__gt=starts_at
            ).exists()
            if taken:
                raise SlotTaken()
            appointment = Appointment.objects.create(
                agenda=agenda,
                consultation_type=consultation_type,
                patient=patient,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by_id=actor.user_id,
            )
            AppointmentEvent.objects.create(
                appointment=appointment, to_state=AppointmentState.BOOKED, actor_id=actor.user_id
            )
            if agenda.practitioner_id:
                relate(
                    patient_id=patient.id,
                    kind=RelationshipKind.APPOINTMENT,
                    user_id=agenda.practitioner.user_id,
                    source=f"appointment:{appointment.id}",
                    ends_at=ends_at + RELATIONSHIP_AFTER,
                )
            relate_desk_many(
                [(patient.id, agenda.establishment_id, starts_at, ends_at)],
                source=f"appointment:{appointment.id}",
            )
    except IntegrityError:
        raise SlotTaken() from None
    return appointment


# Which state may follow which (the desk, the practitioner and the patient move along these).
TRANSITIONS: dict[str, set[str]] = {
    AppointmentState.BOOKED: {
        AppointmentState.CONFIRMED,
        AppointmentState.ARRIVED,
        AppointmentState.NO_SHOW,
        AppointmentState.CANCELLED_BY_PATIENT,
        AppointmentState.CANCELLED_BY_ESTABLISHMENT,
    },
    AppointmentState.CONFIRMED: {
        AppointmentState.ARRIVED,
        AppointmentState.NO_SHOW,
        AppointmentState.CANCELLED_BY_PATIENT,
        AppointmentState.CANCELLED_BY_ESTABLISHMENT,
    },
    AppointmentState.ARRIVED: {AppointmentState.IN_CONSULTATION, AppointmentState.NO_SHOW},
    AppointmentState.IN_CONSULTATION: {AppointmentState.DONE},
}
CANCELLED = {AppointmentState.CANCELLED_BY_PATIENT, AppointmentState.CANCELLED_BY_ESTABLISHMENT}
NEEDS_REASON = CANCELLED


class BadTransition(ValidationError):
    pass


def guarded_appointment(
    actor: Actor, appointment_id: object, capability: Capability = Capability.BOOK_APPOINTMENT
) -> Appointment:
    """The appointment, locked for change, if the guard hands its patient over to the actor
    (the same "not found" answer for someone else's appointment and for none)."""
    appointment = (
        Appointment.objects.select_for_update()
        .select_related("agenda__establishment", "consultation_type")
        .filter(pk=parse_patient_id(appointment_id))
        .first()
    )
    patient_id = appointment.patient_id if appointment else "00000000-0000-0000-0000-000000000000"
    guarded_patient(actor, capability, patient_id)
    assert appointment is not None
    return appointment


@transaction.atomic
def change_state(
    *,
    actor: Actor,
    appointment_id: object,
    to_state: str,
    reason: str = "",
    capability: Capability = Capability.BOOK_APPOINTMENT,
) -> Appointment:
    """Moves an appointment along its state machine; cancelling frees the slot and ends the
    care relationship it opened, and needs a reason."""
    appointment = guarded_appointment(actor, appointment_id, capability)
    if to_state not in TRANSITIONS.get(appointment.state, set()):
        raise BadTransition(
            _("An appointment %(state)s cannot become %(to)s.")
            % {"state": appointment.get_state_display(), "to": AppointmentState(to_state).label}
        )
    if to_state in NEEDS_REASON and not reason.strip():
        raise ValidationError({"reason": _("Say why the appointment is cancelled.")})
    AppointmentEvent.objects.create(
        appointment=appointment,
        from_state=appointment.state,
        to_state=to_state,
        actor_id=actor.user_id,
        reason=reason.strip(),
    )
    appointment.state = to_state
    appointment.holds_slot = to_state not in CANCELLED
    appointment.save(update_fields=["state", "holds_slot"])
    if to_state in CANCELLED:
        end_relationship(
            patient_id=appointment.patient_id,
            kind=RelationshipKind.APPOINTMENT,
            source=f"appointment:{appointment.id}",
        )
    return appointment


def move_appointment(
    *, actor: Actor, appointment_id: object, starts_at: datetime.datetime, reason: str
) -> Appointment:
    """A new appointment at the new time, the old one cancelled by the establishment, in one
    transaction: if the new slot is taken, nothing changes."""
    with transaction.atomic():
        old = guarded_appointment(actor, appointment_id)
        if old.state not in (AppointmentState.BOOKED, AppointmentState.CONFIRMED):
            raise BadTransition(_("Only a booked or confirmed appointment can be moved."))
        change_state(
            actor=actor,
            appointment_id=old.pk,
            to_state=AppointmentState.CANCELLED_BY_ESTABLISHMENT,
            reason=f"moved: {reason}" if reason.strip() else "",
        )
        return book_appointment(
            actor=actor,
            consultation_type_id=old.consultation_type_id,
            patient_id=old.patient_id,
            starts_at=starts_at,
        )
