"""Reading agendas for the desk: a day or a week of one agenda, a day of all the agendas of a
unit, and an appointment's confirmation. Names come through the guard and only within the
reader's care relationships (the desk's window around appointments): reading a page of the
agenda never spends exposure budget, and never costs a query per appointment."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from carnet.guard import relationships
from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, admit, require
from carnet.guard.policy import Capability
from carnet.organisations.models import Establishment, Unit
from carnet.patients.cards import display_name, identity_card
from carnet.patients.death import DEATH_REASON
from carnet.patients.models import Patient
from carnet.patients.selectors import guarded_patient, subject_of, with_relations
from carnet.vault import keys as vault_keys

from .models import (
    Agenda,
    Appointment,
    AppointmentEvent,
    AppointmentState,
    ConsultationType,
    WaitingRoom,
)
from .slots import Slot, free_slots

WEEK = 7


@dataclass(frozen=True)
class SheetRow:
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    appointment_id: str
    patient_id: str
    # Empty when the guard did not hand the patient over (outside the reader's window).
    name: str
    motive: str
    state: str
    state_label: str
    ticket: int | None
    # Cancelled because the patient died (see patients.death): the agenda says so.
    death: bool = False

    @property
    def checkable(self) -> bool:
        return self.state in (AppointmentState.BOOKED, AppointmentState.CONFIRMED)


@dataclass(frozen=True)
class Entry:
    """One line of a day's timeline: an appointment, or free slots in a row."""

    starts_at: datetime.datetime
    row: SheetRow | None = None
    slots: tuple[Slot, ...] = ()


@dataclass(frozen=True)
class DaySheet:
    agenda: Agenda
    day: datetime.date
    rows: tuple[SheetRow, ...]
    free: tuple[Slot, ...]
    waiting_rooms: tuple[WaitingRoom, ...]
    consultation_id: int | None

    @property
    def timeline(self) -> tuple[Entry, ...]:
        """Appointments and free slots by time, the free slots between two appointments
        gathered in one entry."""
        items = sorted(
            [*self.rows, *self.free], key=lambda item: (item.starts_at, isinstance(item, Slot))
        )
        entries: list[Entry] = []
        free: list[Slot] = []
        for item in items:
            if isinstance(item, Slot):
                free.append(item)
                continue
            if free:
                entries.append(Entry(free[0].starts_at, slots=tuple(free)))
                free = []
            entries.append(Entry(item.starts_at, row=item))
        if free:
            entries.append(Entry(free[0].starts_at, slots=tuple(free)))
        return tuple(entries)


@dataclass(frozen=True)
class WeekSheet:
    agenda: Agenda
    monday: datetime.date
    days: tuple[DaySheet, ...]


@dataclass(frozen=True)
class UnitDay:
    """All the agendas of a unit (or of an establishment) for one day, side by side."""

    day: datetime.date
    establishment: Establishment | None
    unit: Unit | None
    sheets: tuple[DaySheet, ...]


def agendas_for(*, actor: Actor) -> QuerySet:
    require(actor, Capability.BOOK_APPOINTMENT)
    return (
        Agenda.objects.filter(establishment_id__in=actor.establishment_ids, active=True)
        .select_related("establishment")
        .order_by("establishment__name", "name")
    )


def units_for(*, actor: Actor) -> QuerySet:
    require(actor, Capability.BOOK_APPOINTMENT)
    return (
        Unit.objects.filter(establishment_id__in=actor.establishment_ids)
        .select_related("establishment")
        .order_by("establishment__name", "name")
    )


def _agenda(actor: Actor, agenda_id: int) -> Agenda:
    agenda = agendas_for(actor=actor).filter(pk=agenda_id).first()
    if agenda is None:
        raise Refused("no such agenda in the actor's establishments")
    return agenda


def _midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def names_in_relationship(*, actor: Actor, patient_ids: Iterable[str]) -> dict[str, str]:
    """Display names of the patients the actor has a care relationship with, handed over by
    the guard. Patients outside it stay unnamed rather than charged: paging to next month's
    agenda must not count as opening every patient in it. Like `display_names`, plus the data
    keys unwrapped in one query instead of one per patient."""
    related = list(relationships.kinds_for(actor, sorted(set(patient_ids))))
    if not related:
        return {}
    patients = {str(p.id): p for p in with_relations(Patient.objects.filter(id__in=related))}
    handed = admit(actor, Capability.BOOK_APPOINTMENT, [subject_of(p) for p in patients.values()])
    vault_keys.preload(s.patient_id for s in handed)
    return {s.patient_id: display_name(patients[s.patient_id]) for s in handed}


def _row(appointment: Appointment, names: dict[str, str]) -> SheetRow:
    return SheetRow(
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        appointment_id=str(appointment.pk),
        patient_id=str(appointment.patient_id),
        name=names.get(str(appointment.patient_id), ""),
        motive=appointment.consultation_type.motive,
        state=appointment.state,
        state_label=appointment.get_state_display(),
        ticket=getattr(getattr(appointment, "ticket", None), "number", None),
        death=getattr(appointment, "cancelled_by_death", False),
    )


def _sheets(
    actor: Actor, agendas: list[Agenda], first_day: datetime.date, days: int
) -> dict[tuple[int, datetime.date], DaySheet]:
    """Day sheets of these agendas over these days in a fixed number of queries, plus the
    free-slot computation's three per agenda."""
    span = [first_day + datetime.timedelta(days=n) for n in range(days)]
    appointments = list(
        Appointment.objects.filter(
            agenda__in=agendas,
            starts_at__gte=_midnight(span[0]),
            starts_at__lt=_midnight(span[-1] + datetime.timedelta(days=1)),
        )
        .select_related("consultation_type", "ticket")
        .annotate(
            cancelled_by_death=Exists(
                AppointmentEvent.objects.filter(
                    appointment=OuterRef("pk"),
                    to_state=AppointmentState.CANCELLED_BY_ESTABLISHMENT,
                    reason=DEATH_REASON,
                )
            )
        )
        .order_by("starts_at")
    )
    patient_ids = [str(a.patient_id) for a in appointments]
    names = names_in_relationship(actor=actor, patient_ids=patient_ids)
    rows: dict[tuple[int, datetime.date], list[SheetRow]] = {}
    for appointment in appointments:
        key = (appointment.agenda_id, timezone.localtime(appointment.starts_at).date())
        rows.setdefault(key, []).append(_row(appointment, names))
    consultations: dict[int, ConsultationType] = {}
    for consultation in ConsultationType.objects.filter(agenda__in=agendas).order_by("-pk"):
        consultations[consultation.agenda_id] = consultation  # the first of each agenda wins
    rooms: dict[int, list[WaitingRoom]] = {}
    establishments = {a.establishment_id for a in agendas}
    for room in WaitingRoom.objects.filter(establishment_id__in=establishments).order_by("pk"):
        rooms.setdefault(room.establishment_id, []).append(room)
    sheets = {}
    for agenda in agendas:
        consultation = consultations.get(agenda.pk)
        free: dict[datetime.date, list[Slot]] = {}
        if consultation is not None:
            consultation.agenda = agenda
            for slot in free_slots(consultation_type=consultation, first_day=first_day, days=days):
                free.setdefault(timezone.localtime(slot.starts_at).date(), []).append(slot)
        for day in span:
            sheets[(agenda.pk, day)] = DaySheet(
                agenda=agenda,
                day=day,
                rows=tuple(rows.get((agenda.pk, day), ())),
                free=tuple(free.get(day, ())),
                waiting_rooms=tuple(rooms.get(agenda.establishment_id, ())),
                consultation_id=consultation.pk if consultation else None,
            )
    return sheets


def day_sheet(*, actor: Actor, agenda_id: int, day: datetime.date) -> DaySheet:
    agenda = _agenda(actor, agenda_id)
    return _sheets(actor, [agenda], day, 1)[(agenda.pk, day)]


def monday_of(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def week_sheet(*, actor: Actor, agenda_id: int, day: datetime.date) -> WeekSheet:
    """The week (Monday to Sunday) that holds `day`."""
    agenda = _agenda(actor, agenda_id)
    monday = monday_of(day)
    sheets = _sheets(actor, [agenda], monday, WEEK)
    days = tuple(sheets[(agenda.pk, monday + datetime.timedelta(days=n))] for n in range(WEEK))
    return WeekSheet(agenda=agenda, monday=monday, days=days)


def unit_day(
    *,
    actor: Actor,
    day: datetime.date,
    unit_id: int | None = None,
    establishment_id: int | None = None,
) -> UnitDay:
    """The agendas of a unit: those placed in it, and practitioners' agendas without a unit
    whose practitioner works in it. Without a unit, every agenda of the establishment."""
    agendas = agendas_for(actor=actor)
    unit = None
    if unit_id is not None:
        unit = units_for(actor=actor).filter(pk=unit_id).first()
        if unit is None:
            raise Refused("no such unit in the actor's establishments")
        agendas = agendas.filter(
            Q(unit=unit) | Q(unit__isnull=True, practitioner__user__memberships__unit=unit)
        ).distinct()
        establishment = unit.establishment
    else:
        wanted = establishment_id or actor.establishment_id
        establishment = Establishment.objects.filter(
            pk=wanted, pk__in=actor.establishment_ids
        ).first()
        if establishment is None and wanted is not None:
            raise Refused("no such establishment among the actor's")
        agendas = agendas.filter(establishment=establishment)
    chosen = list(agendas)
    sheets = _sheets(actor, chosen, day, 1) if chosen else {}
    return UnitDay(
        day=day,
        establishment=establishment,
        unit=unit,
        sheets=tuple(sheets[(a.pk, day)] for a in chosen),
    )


@dataclass(frozen=True)
class Confirmation:
    """What a printed confirmation says: no more of the identity than the name."""

    appointment_id: str
    patient_name: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    state: str
    state_label: str
    motive: str
    minutes: int
    agenda_id: int
    agenda_name: str
    practitioner: str
    specialty: str
    establishment: str
    establishment_address: str
    establishment_city: str

    @property
    def called_off(self) -> bool:
        """Cancelled or missed: the page no longer confirms anything."""
        return self.state in (
            AppointmentState.CANCELLED_BY_PATIENT,
            AppointmentState.CANCELLED_BY_ESTABLISHMENT,
            AppointmentState.NO_SHOW,
        )


def confirmation(*, actor: Actor, appointment_id: object) -> Confirmation:
    require(actor, Capability.BOOK_APPOINTMENT)
    appointment = (
        Appointment.objects.select_related(
            "agenda__establishment", "agenda__practitioner__user", "consultation_type"
        )
        .filter(pk=appointment_id, agenda__establishment_id__in=actor.establishment_ids)
        .first()
    )
    if appointment is None:
        raise Refused("no such appointment in the actor's establishments")
    card = identity_card(
        guarded_patient(actor, Capability.BOOK_APPOINTMENT, appointment.patient_id)
    )
    agenda = appointment.agenda
    practitioner = agenda.practitioner
    return Confirmation(
        appointment_id=str(appointment.pk),
        patient_name=f"{card.display_surname} {card.display_first_name}".strip(),
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        state=appointment.state,
        state_label=appointment.get_state_display(),
        motive=appointment.consultation_type.motive,
        minutes=appointment.consultation_type.minutes,
        agenda_id=agenda.pk,
        agenda_name=agenda.name,
        practitioner=f"Dr {practitioner.user.get_full_name()}" if practitioner else "",
        specialty=practitioner.specialty if practitioner else "",
        establishment=agenda.establishment.name,
        establishment_address=agenda.establishment.address,
        establishment_city=agenda.establishment.city,
    )
