"""Booking by patients on the portal: free slots of the agendas open to online booking (by
specialty, establishment and date), booking, moving and cancelling within each consultation
type's rules, and the patient's own appointments. Only the patient's own record ever opens:
a busy slot is simply absent, never someone else's appointment."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import require
from carnet.guard.policy import Capability
from carnet.organisations.models import Establishment
from carnet.patients.accounts import own_patient
from carnet.patients.models import PortalAccount

from .models import HOLDING, Appointment, AppointmentState, ConsultationType
from .services import (
    BadTransition,
    Details,
    _bookable_type,
    book_slot,
    change_state,
    guarded_appointment,
)
from .slots import Slot, free_slots

# Future appointments a portal account may hold at once: enough for a family of visits,
# too few for a script that would hoard an agenda.
MAX_FUTURE_ONLINE = 4
MAX_AGENDAS_SHOWN = 12
CHANGEABLE = (AppointmentState.BOOKED, AppointmentState.CONFIRMED)


@dataclass(frozen=True)
class OnlineChoice:
    consultation_type_id: int
    agenda_name: str
    specialty: str
    establishment: str
    city: str
    motive: str
    minutes: int
    slots: tuple[Slot, ...]


def _online_types() -> QuerySet:
    return ConsultationType.objects.filter(online=True, agenda__active=True).select_related(
        "agenda__establishment", "agenda__practitioner__user"
    )


def online_specialties() -> list[str]:
    return sorted(
        set(
            _online_types()
            .exclude(agenda__practitioner__isnull=True)
            .values_list("agenda__practitioner__specialty", flat=True)
        )
    )


def online_establishments() -> QuerySet:
    return Establishment.objects.filter(
        agendas__consultation_types__online=True, agendas__active=True
    ).distinct()


def find_online_slots(
    *,
    actor: Actor,
    first_day: datetime.date,
    specialty: str = "",
    establishment_id: int | None = None,
    days: int = 7,
) -> list[OnlineChoice]:
    """Agendas open online with at least one free slot in the days asked for."""
    require(actor, Capability.BOOK_ONLINE)
    types = _online_types().order_by("agenda__establishment__name", "agenda__name", "pk")
    if specialty:
        types = types.filter(agenda__practitioner__specialty=specialty)
    if establishment_id:
        types = types.filter(agenda__establishment_id=establishment_id)
    choices = []
    for consultation_type in types[: MAX_AGENDAS_SHOWN * 3]:
        slots = free_slots(consultation_type=consultation_type, first_day=first_day, days=days)
        if slots:
            choices.append(_choice(consultation_type, tuple(slots)))
        if len(choices) == MAX_AGENDAS_SHOWN:
            break
    return choices


def online_choice(consultation_type_id: object) -> OnlineChoice | None:
    """What a patient is about to book (no slots): None unless it is open online."""
    consultation_type = _online_types().filter(pk=consultation_type_id).first()
    return _choice(consultation_type, ()) if consultation_type else None


def _choice(consultation_type: ConsultationType, slots: tuple[Slot, ...]) -> OnlineChoice:
    agenda = consultation_type.agenda
    return OnlineChoice(
        consultation_type_id=consultation_type.pk,
        agenda_name=agenda.name,
        specialty=agenda.practitioner.specialty if agenda.practitioner else "",
        establishment=agenda.establishment.name,
        city=agenda.establishment.city,
        motive=consultation_type.motive,
        minutes=consultation_type.minutes,
        slots=slots,
    )


def slots_for_move(
    *, actor: Actor, appointment_id: object, first_day: datetime.date, days: int = 7
) -> list[Slot]:
    """Free slots of the same consultation, for moving one's own appointment."""
    appointment = guarded_appointment(actor, appointment_id, Capability.BOOK_ONLINE)
    return free_slots(
        consultation_type=appointment.consultation_type, first_day=first_day, days=days
    )


def book_online(
    *,
    actor: Actor,
    consultation_type_id: object,
    starts_at: datetime.datetime,
    visit_reason: str = "",
    first_visit: bool | None = None,
) -> Appointment:
    """The patient books online; the visit reason (sealed with the patient's key) and whether
    it is a first visit are the patient's to give or not."""
    require(actor, Capability.BOOK_ONLINE)
    patient = own_patient(actor)
    consultation_type = _bookable_type(consultation_type_id)
    if not consultation_type.online:
        raise ValidationError(
            _("This consultation is booked at the desk only: call the establishment.")
        )
    future = Appointment.objects.filter(
        patient=patient, state__in=HOLDING, starts_at__gt=timezone.now()
    ).count()
    if future >= MAX_FUTURE_ONLINE:
        raise ValidationError(
            _(
                "You already have %(count)s appointments to come: cancel one, or call the "
                "establishment, to book another."
            )
            % {"count": future}
        )
    details = Details(visit_reason=visit_reason, first_visit=first_visit)
    return book_slot(actor, consultation_type, patient, starts_at, details=details)


def _changeable(appointment: Appointment) -> None:
    if appointment.state not in CHANGEABLE:
        raise BadTransition(_("This appointment can no longer be changed online."))
    notice = datetime.timedelta(hours=appointment.consultation_type.cancel_notice_hours)
    if appointment.starts_at - timezone.now() < notice:
        raise ValidationError(
            _(
                "Less than %(hours)s hours before the appointment, it can only be changed by "
                "calling the establishment."
            )
            % {"hours": appointment.consultation_type.cancel_notice_hours}
        )


@transaction.atomic
def cancel_online(*, actor: Actor, appointment_id: object, reason: str = "") -> Appointment:
    appointment = guarded_appointment(actor, appointment_id, Capability.BOOK_ONLINE)
    _changeable(appointment)
    return change_state(
        actor=actor,
        appointment_id=appointment.pk,
        to_state=AppointmentState.CANCELLED_BY_PATIENT,
        reason=reason.strip() or "cancelled on the portal",
        capability=Capability.BOOK_ONLINE,
    )


def move_online(
    *, actor: Actor, appointment_id: object, starts_at: datetime.datetime
) -> Appointment:
    """The new slot of the same consultation, the old one cancelled, in one transaction: if
    the new slot is taken, the old appointment stays."""
    with transaction.atomic():
        old = guarded_appointment(actor, appointment_id, Capability.BOOK_ONLINE)
        _changeable(old)
        change_state(
            actor=actor,
            appointment_id=old.pk,
            to_state=AppointmentState.CANCELLED_BY_PATIENT,
            reason="moved on the portal",
            capability=Capability.BOOK_ONLINE,
        )
        return book_online(
            actor=actor, consultation_type_id=old.consultation_type_id, starts_at=starts_at
        )


@dataclass(frozen=True)
class OwnAppointment:
    id: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    agenda_name: str
    establishment: str
    address: str
    motive: str
    state: str
    state_label: str
    changeable: bool
    consultation_type_id: int


def _own(appointment: Appointment, now: datetime.datetime) -> OwnAppointment:
    establishment = appointment.agenda.establishment
    notice = datetime.timedelta(hours=appointment.consultation_type.cancel_notice_hours)
    return OwnAppointment(
        id=str(appointment.pk),
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        agenda_name=appointment.agenda.name,
        establishment=establishment.name,
        address=" ".join(
            part for part in (establishment.address, establishment.city) if part
        ).strip(),
        motive=appointment.consultation_type.motive,
        state=appointment.state,
        state_label=appointment.get_state_display(),
        changeable=appointment.state in CHANGEABLE and appointment.starts_at - now >= notice,
        consultation_type_id=appointment.consultation_type_id,
    )


def own_appointments(*, actor: Actor) -> tuple[list[OwnAppointment], list[OwnAppointment]]:
    """The patient's appointments: those to come (soonest first) and past or cancelled ones
    (latest first, a year back)."""
    patient = own_patient(actor)
    now = timezone.now()
    rows = (
        Appointment.objects.filter(
            patient=patient, starts_at__gte=now - datetime.timedelta(days=365)
        )
        .select_related("agenda__establishment", "consultation_type")
        .order_by("starts_at")
    )
    coming, past = [], []
    for appointment in rows:
        own = _own(appointment, now)
        if appointment.starts_at >= now and appointment.state in CHANGEABLE:
            coming.append(own)
        else:
            past.append(own)
    return coming, list(reversed(past))


def own_appointment(*, actor: Actor, appointment_id: object) -> OwnAppointment:
    appointment = guarded_appointment(actor, appointment_id, Capability.BOOK_ONLINE)
    return _own(appointment, timezone.now())


def demo_portal_patients() -> tuple[str | None, str | None]:
    """Ids only, for the demo: two patients with appointments to come in an agenda open
    online and no patient space account yet."""
    ids = (
        Appointment.objects.filter(
            starts_at__gt=timezone.now() + datetime.timedelta(days=2),
            state__in=CHANGEABLE,
            consultation_type__online=True,
        )
        .exclude(patient__in=PortalAccount.objects.filter(closed_at__isnull=True).values("patient"))
        .order_by("starts_at")
        .values_list("patient_id", flat=True)[:50]
    )
    unique = list(dict.fromkeys(str(i) for i in ids))[:2] + [None, None]
    return unique[0], unique[1]
