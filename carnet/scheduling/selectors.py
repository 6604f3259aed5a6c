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
from carnet.guard.policy import DESK_WINDOW_BEFORE_DAYS, Capability
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
    OpeningHours,
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
    consultation_id: int | None = None
    minutes: int = 0
    # Opened only for a patient the guard handed over (sealed with the patient's key).
    comment: str = ""
    visit_reason: str = ""
    first_visit: bool | None = None
    walk_in: bool = False
    cancellation_label: str = ""

    @property
    def checkable(self) -> bool:
        return self.state in (AppointmentState.BOOKED, AppointmentState.CONFIRMED)

    @property
    def cancelled(self) -> bool:
        return self.state in (
            AppointmentState.CANCELLED_BY_PATIENT,
            AppointmentState.CANCELLED_BY_ESTABLISHMENT,
        )

    @property
    def colour(self) -> int:
        """One of eight colours, by visit type (stable for a type)."""
        return (self.consultation_id or 0) % 8

    @property
    def named_from(self) -> datetime.date:
        """The day the desk's window opens on this patient (the name is shown from then)."""
        opens = self.starts_at - datetime.timedelta(days=DESK_WINDOW_BEFORE_DAYS)
        return timezone.localdate(opens)


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
    handed = str(appointment.patient_id) in names
    return SheetRow(
        consultation_id=appointment.consultation_type_id,
        minutes=appointment.consultation_type.minutes,
        comment=(appointment.comment or "") if handed else "",
        visit_reason=(appointment.visit_reason or "") if handed else "",
        first_visit=appointment.first_visit,
        walk_in=appointment.walk_in,
        cancellation_label=appointment.get_cancellation_reason_display()
        if appointment.cancellation_reason
        else "",
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
                waiting_rooms=_rooms_of(agenda, rooms.get(agenda.establishment_id, [])),
                consultation_id=consultation.pk if consultation else None,
            )
    return sheets


def _rooms_of(agenda: Agenda, rooms: list[WaitingRoom]) -> tuple[WaitingRoom, ...]:
    """Where this agenda's patients wait: its unit's waiting room first, then those placed in
    no unit; never another unit's (its queue is called to other rooms). An agenda in no unit
    may use any of its establishment's."""
    if agenda.unit_id is None:
        return tuple(rooms)
    own = [r for r in rooms if r.unit_id == agenda.unit_id]
    shared = [r for r in rooms if r.unit_id is None]
    return tuple(own + shared) or tuple(rooms)


def waiting_rooms_of(agenda: Agenda) -> tuple[WaitingRoom, ...]:
    """Where this agenda's patients wait, its own unit's first."""
    rooms = list(
        WaitingRoom.objects.filter(establishment_id=agenda.establishment_id).order_by("pk")
    )
    return _rooms_of(agenda, rooms)


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


# --- The time grid: days or agendas side by side, each appointment a block over its time ---

# Minutes per grid row: the grid's finest step (every consultation type lasts a multiple of 5
# minutes or is drawn rounded up to one).
GRID_STEP = 5
GRID_DAY_ROWS = 24 * 60 // GRID_STEP
# Agendas drawn side by side within a day of the week grid, at most.
WEEK_GRID_AGENDAS = 4
DEFAULT_HOURS = (8, 18)


@dataclass(frozen=True)
class GridItem:
    """An appointment (`row`) or a free slot (`slot`) placed on the grid: from row `start`
    over `span` rows, in the lane of its agenda within its column."""

    start: int
    span: int
    lane: int
    agenda: Agenda
    day: datetime.date
    consultation_id: int | None
    row: SheetRow | None = None
    slot: Slot | None = None


@dataclass(frozen=True)
class GridColumn:
    """A day (week grid: its agendas side by side in lanes) or an agenda (day grid: one
    lane)."""

    day: datetime.date
    agendas: tuple[Agenda, ...]
    items: tuple[GridItem, ...]
    booked: int
    free: int

    @property
    def lanes(self) -> int:
        return len(self.agendas)


@dataclass(frozen=True)
class Legend:
    consultation_id: int
    motive: str
    minutes: int
    colour: int
    agenda: str = ""


@dataclass(frozen=True)
class TimeGrid:
    first_hour: int
    rows: int
    hours: tuple[tuple[str, int], ...]
    columns: tuple[GridColumn, ...]
    agendas: tuple[Agenda, ...]
    legend: tuple[Legend, ...]


def _minutes(moment: datetime.datetime, day: datetime.date) -> int:
    """Minutes from the column day's midnight to this moment, on the wall clock."""
    local = timezone.localtime(moment)
    if local.date() > day:
        return 24 * 60
    if local.date() < day:
        return 0
    return local.hour * 60 + local.minute


def _hours(agendas: list[Agenda], sheets: list[DaySheet]) -> tuple[int, int]:
    """The hours the grid spans: every opening of these agendas on these weekdays, and any
    appointment outside them (a walk-in at 19:40)."""
    weekdays = {sheet.day.weekday() for sheet in sheets}
    spans: list[tuple[int, int]] = []
    for opens, closes in OpeningHours.objects.filter(
        agenda__in=agendas, weekday__in=weekdays
    ).values_list("opens", "closes"):
        end = 24 * 60 if closes >= datetime.time(23, 59) else closes.hour * 60 + closes.minute
        spans.append((opens.hour * 60 + opens.minute, end))
    for sheet in sheets:
        for item in [*sheet.rows, *sheet.free]:
            start = _minutes(item.starts_at, sheet.day)
            spans.append((start, max(start + GRID_STEP, _minutes(item.ends_at, sheet.day))))
    if not spans:
        return DEFAULT_HOURS
    first = min(start for start, _ in spans) // 60
    last = -(-max(end for _, end in spans) // 60)
    return first, max(last, first + 1)


def _place(sheet: DaySheet, lane: int, first_hour: int) -> tuple[list[GridItem], int, int]:
    items = []
    offset = first_hour * 60

    def place(starts_at: datetime.datetime, ends_at: datetime.datetime) -> tuple[int, int]:
        start = _minutes(starts_at, sheet.day)
        end = max(_minutes(ends_at, sheet.day), start + GRID_STEP)
        first = (start - offset) // GRID_STEP + 1
        return first, max(1, -(-(end - start) // GRID_STEP))

    booked = 0
    for row in sheet.rows:
        if row.cancelled:
            continue  # the day's sheet lists them; the grid shows who holds the time
        booked += 1
        start, span = place(row.starts_at, row.ends_at)
        items.append(
            GridItem(start, span, lane, sheet.agenda, sheet.day, row.consultation_id, row=row)
        )
    for slot in sheet.free:
        start, span = place(slot.starts_at, slot.ends_at)
        items.append(
            GridItem(start, span, lane, sheet.agenda, sheet.day, sheet.consultation_id, slot=slot)
        )
    return items, booked, len(sheet.free)


def _grid(
    agendas: list[Agenda],
    sheets: dict[tuple[int, datetime.date], DaySheet],
    layout: list[tuple[datetime.date, list[Agenda]]],
) -> TimeGrid:
    used = [sheets[(a.pk, day)] for day, lanes in layout for a in lanes]
    first_hour, last_hour = _hours(agendas, used)
    columns = []
    for day, lanes in layout:
        items: list[GridItem] = []
        booked = free = 0
        for lane, agenda in enumerate(lanes, start=1):
            placed, b, f = _place(sheets[(agenda.pk, day)], lane, first_hour)
            items += placed
            booked += b
            free += f
        columns.append(GridColumn(day, tuple(lanes), tuple(items), booked, free))
    types = ConsultationType.objects.filter(agenda__in=agendas).order_by("agenda__name", "motive")
    return TimeGrid(
        first_hour=first_hour,
        rows=(last_hour - first_hour) * 60 // GRID_STEP,
        hours=tuple(
            (f"{hour:02d}:00", (hour - first_hour) * 60 // GRID_STEP + 1)
            for hour in range(first_hour, last_hour)
        ),
        columns=tuple(columns),
        agendas=tuple(agendas),
        legend=tuple(
            Legend(t.pk, t.motive, t.minutes, t.pk % 8, t.agenda.name if len(agendas) > 1 else "")
            for t in types.select_related("agenda")
        ),
    )


def week_grid(
    *, actor: Actor, agenda_ids: list[int], day: datetime.date
) -> tuple[WeekSheet, TimeGrid]:
    """The week (Monday to Sunday) holding `day`, these agendas side by side within each day
    (the first few of them); names as on the day's sheet (the reader's relationships). With
    the first agenda's week sheet, from the same queries."""
    wanted = list(dict.fromkeys(agenda_ids))[:WEEK_GRID_AGENDAS]
    found = {a.pk: a for a in agendas_for(actor=actor).filter(pk__in=wanted)}
    if len(found) != len(wanted) or not wanted:
        raise Refused("no such agenda in the actor's establishments")
    agendas = [found[pk] for pk in wanted]
    monday = monday_of(day)
    sheets = _sheets(actor, agendas, monday, WEEK)
    days = [monday + datetime.timedelta(days=n) for n in range(WEEK)]
    week = WeekSheet(
        agenda=agendas[0], monday=monday, days=tuple(sheets[(agendas[0].pk, d)] for d in days)
    )
    return week, _grid(agendas, sheets, [(d, agendas) for d in days])


def day_grid(*, actor: Actor, board: UnitDay) -> TimeGrid | None:
    """A unit's (or an establishment's) agendas of one day side by side, on the time grid."""
    if not board.sheets:
        return None
    agendas = [sheet.agenda for sheet in board.sheets]
    sheets = {(sheet.agenda.pk, sheet.day): sheet for sheet in board.sheets}
    return _grid(agendas, sheets, [(board.day, [agenda]) for agenda in agendas])


# --- The next free slot across the agendas of a specialty ---

NEXT_FREE_FIRST_DAYS = 14


@dataclass(frozen=True)
class Offer:
    """A free slot of an agenda, for one of its visit types."""

    agenda: Agenda
    consultation: ConsultationType
    slot: Slot

    @property
    def colour(self) -> int:
        return self.consultation.pk % 8


def specialties_for(*, actor: Actor) -> list[str]:
    """The specialties of the practitioners' agendas of the actor's establishments."""
    names = agendas_for(actor=actor).exclude(practitioner__isnull=True)
    return sorted(set(names.values_list("practitioner__specialty", flat=True)) - {""})


def next_free(
    *,
    actor: Actor,
    specialty: str,
    motive: str = "",
    after: datetime.datetime | None = None,
    per_agenda: int = 3,
) -> list[Offer]:
    """The first free slots of every agenda of a specialty at the actor's establishments, the
    soonest first (a few per agenda): "the next appointment with any cardiologist". Looks two
    weeks ahead, then as far as the visit types' booking horizon. `motive`: only visit types
    whose motive contains it."""
    agendas = list(
        agendas_for(actor=actor)
        .filter(practitioner__specialty__iexact=specialty.strip())
        .select_related("practitioner__user")
    )
    if not specialty.strip() or not agendas:
        return []
    after = after or timezone.now()
    types = ConsultationType.objects.filter(agenda__in=agendas).order_by("agenda", "pk")
    if motive.strip():
        types = types.filter(motive__icontains=motive.strip())
    by_agenda = {a.pk: a for a in agendas}
    offers: list[Offer] = []
    for consultation in types:
        consultation.agenda = by_agenda[consultation.agenda_id]
        first_day = timezone.localdate(after)
        found: list[Slot] = []
        for days in (NEXT_FREE_FIRST_DAYS, consultation.horizon_days + 1):
            found = [
                slot
                for slot in free_slots(
                    consultation_type=consultation, first_day=first_day, days=days
                )
                if slot.starts_at >= after
            ]
            if found:
                break
        offers += [Offer(consultation.agenda, consultation, slot) for slot in found[:per_agenda]]
    return sorted(offers, key=lambda o: (o.slot.starts_at, o.agenda.name, o.consultation.pk))


@dataclass(frozen=True)
class MoveChoices:
    """An appointment to move and the free slots of its visit type on the day looked at."""

    appointment_id: str
    agenda: Agenda
    name: str
    motive: str
    state: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    day: datetime.date
    free: tuple[Slot, ...]

    @property
    def current_day(self) -> datetime.date:
        return timezone.localdate(self.starts_at)

    @property
    def movable(self) -> bool:
        return self.state in (AppointmentState.BOOKED, AppointmentState.CONFIRMED)


def move_choices(
    *, actor: Actor, appointment_id: object, day: datetime.date | None = None
) -> MoveChoices:
    """What the move form shows: the appointment (named as on the day's sheet) and the free
    slots of its visit type on `day` (by default its own day, or today if that has passed)."""
    require(actor, Capability.BOOK_APPOINTMENT)
    appointment = (
        Appointment.objects.select_related("agenda__establishment", "consultation_type")
        .filter(pk=appointment_id, agenda__establishment_id__in=actor.establishment_ids)
        .first()
    )
    if appointment is None:
        raise Refused("no such appointment in the actor's establishments")
    names = names_in_relationship(actor=actor, patient_ids=[str(appointment.patient_id)])
    day = day or max(timezone.localdate(appointment.starts_at), timezone.localdate())
    consultation = appointment.consultation_type
    consultation.agenda = appointment.agenda
    return MoveChoices(
        appointment_id=str(appointment.pk),
        agenda=appointment.agenda,
        name=names.get(str(appointment.patient_id), ""),
        motive=consultation.motive,
        state=appointment.state,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        day=day,
        free=tuple(free_slots(consultation_type=consultation, first_day=day, days=1)),
    )
