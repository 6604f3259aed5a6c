"""Booking, moving and cancelling appointments, through the guard. No double booking: the
overlap check runs in an immediate transaction (SQLite: one writer at a time) and PostgreSQL's
exclusion constraint refuses what two concurrent transactions might both have checked."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

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
from carnet.patients.services import register_at

from .models import (
    HOLDING,
    Appointment,
    AppointmentEvent,
    AppointmentState,
    CancellationReason,
    ConsultationType,
)
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


# Longest desk comment and visit reason (sealed, but a note, not a letter).
NOTE_LENGTH = 500


@dataclass(frozen=True)
class Details:
    """What the desk (or the patient, on the portal) says about an appointment: a comment and
    the visit reason are sealed with the patient's key; first visit or not (None: not said)."""

    comment: str = ""
    visit_reason: str = ""
    first_visit: bool | None = None

    def clean(self) -> Details:
        comment, reason = self.comment.strip(), self.visit_reason.strip()
        if len(comment) > NOTE_LENGTH or len(reason) > NOTE_LENGTH:
            raise ValidationError(
                _("A comment or a visit reason is at most %(n)s characters.") % {"n": NOTE_LENGTH}
            )
        return Details(comment, reason, self.first_visit)

    def apply(self, appointment: Appointment) -> None:
        appointment.comment = self.comment or None
        appointment.visit_reason = self.visit_reason or None
        appointment.first_visit = self.first_visit


def book_appointment(
    *,
    actor: Actor,
    consultation_type_id: int,
    patient_id: object,
    starts_at: datetime.datetime,
    details: Details | None = None,
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
    return book_slot(actor, consultation_type, patient, starts_at, details=details)


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
    *,
    details: Details | None = None,
    walk_in: bool = False,
) -> Appointment:
    """Books a patient the guard already handed over; the one place an appointment is made.
    A walk-in is not on the grid (the patient is already here): it only needs the time free."""
    agenda = consultation_type.agenda
    ends_at = starts_at + datetime.timedelta(minutes=consultation_type.minutes)
    details = (details or Details()).clean()
    if not walk_in and not _on_the_grid(consultation_type, starts_at):
        raise ValidationError({"starts_at": _("This time is not a free slot of the agenda.")})
    try:
        with transaction.atomic():
            taken = Appointment.objects.filter(
                agenda=agenda, state__in=HOLDING, starts_at__lt=ends_at, ends_at__gt=starts_at
            ).exists()
            if taken:
                raise SlotTaken()
            # A patient of the group first known elsewhere becomes known here (an IPP of
            # this establishment), rather than a second record made at this desk.
            register_at(patient, agenda.establishment_id)
            appointment = Appointment(
                agenda=agenda,
                consultation_type=consultation_type,
                patient=patient,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by_id=actor.user_id,
                walk_in=walk_in,
            )
            details.apply(appointment)
            appointment.save(force_insert=True)
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
    cancellation_reason: str = "",
) -> Appointment:
    """Moves an appointment along its state machine; cancelling frees the slot and ends the
    care relationship it opened, and needs a reason: a code (`CancellationReason`), words, or
    both (words alone are filed as "other", or as the code they name)."""
    appointment = guarded_appointment(actor, appointment_id, capability)
    if to_state not in TRANSITIONS.get(appointment.state, set()):
        raise BadTransition(
            _("An appointment %(state)s cannot become %(to)s.")
            % {"state": appointment.get_state_display(), "to": AppointmentState(to_state).label}
        )
    if cancellation_reason and cancellation_reason not in CancellationReason.values:
        raise ValidationError({"cancellation_reason": _("Unknown cancellation reason.")})
    if to_state in NEEDS_REASON and not (reason.strip() or cancellation_reason):
        raise ValidationError({"reason": _("Say why the appointment is cancelled.")})
    if to_state in CANCELLED:
        appointment.cancellation_reason = cancellation_reason or _code_of(to_state, reason)
    AppointmentEvent.objects.create(
        appointment=appointment,
        from_state=appointment.state,
        to_state=to_state,
        actor_id=actor.user_id,
        reason=reason.strip(),
    )
    appointment.state = to_state
    appointment.holds_slot = to_state not in CANCELLED
    appointment.save(update_fields=["state", "holds_slot", "cancellation_reason"])
    if to_state in CANCELLED:
        end_relationship(
            patient_id=appointment.patient_id,
            kind=RelationshipKind.APPOINTMENT,
            source=f"appointment:{appointment.id}",
        )
    return appointment


def _code_of(to_state: str, reason: str) -> str:
    """The code of a cancellation given in words by a caller that has no code to give (the
    death declaration, a move, the portal)."""
    words = reason.strip().lower()
    if words == "death":  # patients.death.DEATH_REASON
        return CancellationReason.DEATH
    if words.startswith("moved"):
        return CancellationReason.MOVED
    if to_state == AppointmentState.CANCELLED_BY_PATIENT:
        return CancellationReason.PATIENT_REQUEST
    return CancellationReason.OTHER


@transaction.atomic
def set_details(*, actor: Actor, appointment_id: object, details: Details) -> Appointment:
    """The desk writes the comment, the visit reason and first visit or not (sealed)."""
    appointment = guarded_appointment(actor, appointment_id)
    details.clean().apply(appointment)
    appointment.save(update_fields=["comment", "visit_reason", "first_visit"])
    return appointment


def move_appointment(
    *,
    actor: Actor,
    appointment_id: object,
    starts_at: datetime.datetime,
    reason: str,
    consultation_type_id: int | None = None,
) -> Appointment:
    """A new appointment at the new time (in the same agenda, or another agenda's type given
    by `consultation_type_id`), the old one cancelled by the establishment as moved, in one
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
            cancellation_reason=CancellationReason.MOVED,
        )
        # The comment, the visit reason and first visit or not go with the appointment.
        details = Details(old.comment or "", old.visit_reason or "", old.first_visit)
        return book_appointment(
            actor=actor,
            consultation_type_id=consultation_type_id or old.consultation_type_id,
            patient_id=old.patient_id,
            starts_at=starts_at,
            details=details,
        )


# A walk-in is placed at the first free time from now, on this grid of minutes.
WALK_IN_STEP = 5


def _walk_in_time(consultation_type: ConsultationType) -> datetime.datetime:
    """The first time from now (rounded up to 5 minutes) when the agenda is free for this
    visit type's length, starting today: the walk-in is seen in a gap, not over a booked
    patient (opening hours do not apply: the patient is here)."""
    now = timezone.localtime()
    # Rounded on the wall clock, then reckoned in UTC (the night the clocks change, local
    # arithmetic would skip or repeat an hour).
    start = now.replace(second=0, microsecond=0).astimezone(datetime.UTC)
    start += datetime.timedelta(minutes=-now.minute % WALK_IN_STEP)
    length = datetime.timedelta(minutes=consultation_type.minutes)
    from .queue import EARLY_ARRIVAL, may_check_in

    end_of_day = timezone.make_aware(
        datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time.min)
    )
    busy = sorted(
        Appointment.objects.filter(
            agenda=consultation_type.agenda,
            holds_slot=True,
            ends_at__gt=start,
            starts_at__lt=end_of_day + EARLY_ARRIVAL,
        ).values_list("starts_at", "ends_at")
    )
    for taken_start, taken_end in busy:
        if start + length <= taken_start:
            break
        if taken_end > start:
            start = taken_end
            start += datetime.timedelta(
                minutes=-timezone.localtime(start).minute % WALK_IN_STEP,
                seconds=-start.second,
                microseconds=-start.microsecond,
            )
    # Today, or just after midnight (23:55's walk-in seen at 00:10): when a check-in accepts it.
    if not may_check_in(start):
        raise ValidationError(
            _("This agenda has no free time left today for a walk-in: choose another agenda.")
        )
    return start


def add_walk_in(
    *,
    actor: Actor,
    consultation_type_id: object,
    patient_id: object,
    waiting_room_id: int | None = None,
    details: Details | None = None,
):
    """A patient who came without an appointment: added to the agenda's day at its first
    free time from now (marked as a walk-in, it shows on the grid and the day's sheet) and
    checked in at once (a ticket in the agenda's waiting room). Returns the ticket."""
    from .queue import check_in
    from .selectors import waiting_rooms_of

    consultation_type = _bookable_type(consultation_type_id)
    if consultation_type.agenda.establishment_id not in actor.establishment_ids:
        raise ValidationError({"consultation_type": _("This agenda is not of your establishment.")})
    with transaction.atomic():
        patient = writable_patient(actor, Capability.BOOK_APPOINTMENT, patient_id)
        rooms = waiting_rooms_of(consultation_type.agenda)
        room = next((r for r in rooms if r.pk == waiting_room_id), rooms[0] if rooms else None)
        if room is None:
            raise ValidationError(_("No waiting room in this establishment: set one up first."))
        appointment = book_slot(
            actor,
            consultation_type,
            patient,
            _walk_in_time(consultation_type),
            details=details,
            walk_in=True,
        )
        return check_in(actor=actor, appointment_id=appointment.pk, waiting_room_id=room.pk)
