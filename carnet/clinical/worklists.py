"""What a nurse and a practitioner work through each day: the unit's census (patients admitted
in one's units, or in one's charge) and the practitioner's appointments of the day. Only
patients in a care relationship with the reader are listed, and handed over by the guard as
such: a list never spends exposure budget and never shows anyone its reader could not open."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, replace

from django.db.models import F, Max, Q
from django.utils import timezone

from carnet.guard import relationships
from carnet.guard.actors import Actor
from carnet.guard.boundary import admit, require
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Capability
from carnet.organisations.models import Unit
from carnet.patients.cards import display_name
from carnet.patients.models import Patient, Sex
from carnet.patients.selectors import subject_of, with_relations
from carnet.scheduling.models import AppointmentState
from carnet.scheduling.selectors import agendas_for, day_sheet
from carnet.vault import keys as vault_keys

from .models import Encounter, EncounterKind, Note

# A list is care work: a break-the-glass opening lets one patient in for a reason, it does not
# put them on anyone's list.
_NOT_LISTED = frozenset({RelationshipKind.BREAK_GLASS})
CENSUS_ROWS = 200


def in_relationship(
    actor: Actor, capability: Capability, patient_ids: Iterable[str]
) -> dict[str, Patient]:
    """The patients among these that the actor is in a care relationship with, handed over by
    the guard (recorded, never counted); the others are left out, not charged."""
    kinds = relationships.kinds_for(actor, sorted({str(p) for p in patient_ids}), capability)
    related = [p for p, kind in kinds.items() if kind not in _NOT_LISTED]
    if not related:
        return {}
    patients = {str(p.id): p for p in with_relations(Patient.objects.filter(id__in=related))}
    handed = admit(actor, capability, [subject_of(p) for p in patients.values()])
    vault_keys.preload(s.patient_id for s in handed)
    return {s.patient_id: patients[s.patient_id] for s in handed}


def _age(born: datetime.date | None) -> int | None:
    if born is None:
        return None
    today = timezone.localdate()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


@dataclass(frozen=True)
class CensusRow:
    encounter_id: str
    patient_id: str
    name: str
    sex: str
    age: int | None
    unit: str
    room: str
    since: datetime.datetime
    practitioner: str
    # The actor is the practitioner in charge of this stay.
    in_charge: bool
    reason: str
    last_note_at: datetime.datetime | None

    @property
    def sex_label(self) -> str:
        return str(Sex(self.sex).label) if self.sex in Sex.values else ""

    @property
    def days(self) -> int:
        return (timezone.localdate() - timezone.localtime(self.since).date()).days


@dataclass(frozen=True)
class Census:
    units: tuple[str, ...]
    rows: tuple[CensusRow, ...]
    more: bool

    @property
    def patient_ids(self) -> list[str]:
        return [row.patient_id for row in self.rows]


def inpatients(*, actor: Actor) -> Census:
    """The patients admitted now in the actor's units, or in their charge (a practitioner's),
    by unit and room. The reason for the stay and the time of the last note come with them."""
    require(actor, Capability.VIEW_CLINICAL)
    mine = Q(unit_id__in=actor.unit_ids)
    if actor.user_id is not None:
        mine |= Q(practitioner_id=actor.user_id)
    stays = list(
        Encounter.objects.filter(mine, kind=EncounterKind.ADMISSION, discharged_at__isnull=True)
        .select_related("unit", "room", "practitioner")
        .order_by("unit__name", F("room__name").asc(nulls_last=True), "started_at")[
            : CENSUS_ROWS + 1
        ]
    )
    more = len(stays) > CENSUS_ROWS
    stays = stays[:CENSUS_ROWS]
    patients = in_relationship(actor, Capability.VIEW_CLINICAL, [str(s.patient_id) for s in stays])
    last_notes = dict(
        Note.objects.filter(patient_id__in=list(patients))
        .values("patient_id")
        .annotate(last=Max("written_at"))
        .values_list("patient_id", "last")
    )
    rows = []
    for stay in stays:
        patient = patients.get(str(stay.patient_id))
        if patient is None:
            continue
        rows.append(
            CensusRow(
                encounter_id=str(stay.pk),
                patient_id=str(patient.id),
                name=display_name(patient),
                sex=patient.sex or "",
                age=_age(patient.birth_date),
                unit=stay.unit.name,
                room=stay.room.name if stay.room else "",
                since=stay.started_at,
                practitioner=stay.practitioner.display_name if stay.practitioner else "",
                in_charge=stay.practitioner_id is not None
                and stay.practitioner_id == actor.user_id,
                reason=stay.reason or "",
                last_note_at=last_notes.get(patient.id),
            )
        )
    units = sorted({stay.unit.name for stay in stays} | set(_unit_names(actor)))
    return Census(units=tuple(units), rows=tuple(rows), more=more)


def _unit_names(actor: Actor) -> list[str]:
    return list(Unit.objects.filter(pk__in=actor.unit_ids).values_list("name", flat=True))


# ---- the practitioner's day ----------------------------------------------------------------

_OFF = {
    AppointmentState.NO_SHOW,
    AppointmentState.CANCELLED_BY_PATIENT,
    AppointmentState.CANCELLED_BY_ESTABLISHMENT,
}


@dataclass(frozen=True)
class DayRow:
    appointment_id: str
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    agenda: str
    patient_id: str
    # Empty when the guard did not hand the patient over (no relationship any more).
    name: str
    motive: str
    state: str
    state_label: str
    ticket: int | None
    # The next appointment still to see.
    next: bool = False

    @property
    def off(self) -> bool:
        return self.state in _OFF


@dataclass(frozen=True)
class PractitionerDay:
    day: datetime.date
    agendas: tuple[str, ...]
    rows: tuple[DayRow, ...]

    @property
    def counts(self) -> dict[str, int]:
        seen = sum(1 for r in self.rows if r.state == AppointmentState.DONE)
        waiting = sum(1 for r in self.rows if r.state == AppointmentState.ARRIVED)
        return {"total": sum(1 for r in self.rows if not r.off), "seen": seen, "waiting": waiting}


def practitioner_day(*, actor: Actor, day: datetime.date | None = None) -> PractitionerDay:
    """The appointments of the practitioner's own agendas that day, in time order, with their
    state. Names come through the guard within the practitioner's relationships only (the
    appointment opens its patient to the agenda's practitioner)."""
    day = day or timezone.localdate()
    require(actor, Capability.VIEW_CLINICAL)
    agendas = list(agendas_for(actor=actor).filter(practitioner__user_id=actor.user_id))
    rows: list[DayRow] = []
    for agenda in agendas:
        sheet = day_sheet(actor=actor, agenda_id=agenda.pk, day=day)
        rows.extend(
            DayRow(
                appointment_id=row.appointment_id,
                starts_at=row.starts_at,
                ends_at=row.ends_at,
                agenda=agenda.name,
                patient_id=row.patient_id,
                name=row.name,
                motive=row.motive,
                state=row.state,
                state_label=row.state_label,
                ticket=row.ticket,
            )
            for row in sheet.rows
        )
    rows.sort(key=lambda r: (r.starts_at, r.agenda))
    now = timezone.now()
    waiting = (AppointmentState.BOOKED, AppointmentState.CONFIRMED, AppointmentState.ARRIVED)
    upcoming = [
        i
        for i, r in enumerate(rows)
        if r.state in waiting + (AppointmentState.IN_CONSULTATION,) and r.ends_at > now
    ]
    if upcoming:
        rows[upcoming[0]] = replace(rows[upcoming[0]], next=True)
    return PractitionerDay(day=day, agendas=tuple(a.name for a in agendas), rows=tuple(rows))
