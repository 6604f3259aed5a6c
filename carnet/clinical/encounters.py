"""Consultations, admissions and discharges, and the care relationships they open: a
consultation opens the patient to its practitioner (with a month of follow-up), an admission
to every member of the unit until discharge. Never opens a patient the guard did not hand
over."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import ledger_for
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Capability, Role
from carnet.guard.relationships import end, relate
from carnet.organisations.models import Room, Unit
from carnet.patients.models import Patient
from carnet.staff.models import Practitioner

from .access import encounter_of, establishment_for, readable_patient, writable_patient
from .models import DischargeDestination, DischargeUndone, Encounter, EncounterKind

# The practitioner keeps the patient open this long after a consultation or a discharge.
FOLLOW_UP = datetime.timedelta(days=30)
# A discharge recorded by mistake (wrong patient, stay prolonged) is undone within this window.
UNDO_WINDOW = datetime.timedelta(hours=2)
# After a discharge the unit keeps the chart this long, to finish its notes and hand over
# (the census no longer lists the patient); then it loses it.
UNIT_AFTER_DISCHARGE = datetime.timedelta(hours=8)
MIN_UNDO_REASON = 10
# A discharge is recorded at most this long after the patient left, and a browser's clock a
# little ahead is not an error.
BACKDATE = datetime.timedelta(days=1)
CLOCK_SLACK = datetime.timedelta(minutes=5)
MINUTE = datetime.timedelta(minutes=1)
MAX_REASON = 500


def _source(encounter: Encounter) -> str:
    return f"encounter:{encounter.pk}"


def _clean_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason for this encounter.")})
    if len(reason) > MAX_REASON:
        raise ValidationError(
            {"reason": _("Keep the reason under %(count)d characters.") % {"count": MAX_REASON}}
        )
    return reason


def _practitioner(actor: Actor, user_id: object, establishment_id: int) -> int:
    """The practitioner in charge: the one given (of that establishment), else the actor."""
    wanted = user_id or actor.user_id
    found = Practitioner.objects.filter(
        user_id=wanted, user__memberships__establishment_id=establishment_id, user__is_active=True
    ).exists()
    if not found:
        raise ValidationError({"practitioner": _("Choose a practitioner of this establishment.")})
    return int(wanted)  # type: ignore[arg-type]


def units_for(actor: Actor) -> QuerySet:
    """Units an actor may admit into: those of their establishments."""
    return (
        Unit.objects.filter(establishment_id__in=actor.establishment_ids)
        .select_related("establishment")
        .order_by("establishment__name", "name")
    )


def rooms_for(actor: Actor) -> QuerySet:
    return Room.objects.filter(unit__establishment_id__in=actor.establishment_ids).select_related(
        "unit"
    )


def open_encounter(
    *,
    actor: Actor,
    patient_id: object,
    reason: str,
    practitioner_user_id: object = None,
    unit_id: object = None,
) -> Encounter:
    """A consultation now, with a practitioner (the actor when they are one)."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.MANAGE_ENCOUNTERS, patient_id)
        reason = _clean_reason(reason)
        unit = None
        if unit_id:
            unit = units_for(actor).filter(pk=unit_id).first()
            if unit is None:
                raise ValidationError({"unit": _("Choose a unit of your establishment.")})
        establishment_id = unit.establishment_id if unit else establishment_for(actor, patient)
        practitioner = _practitioner(actor, practitioner_user_id, establishment_id)
        now = timezone.now()
        encounter = Encounter(
            patient=patient,
            establishment_id=establishment_id,
            kind=EncounterKind.CONSULTATION,
            unit=unit,
            practitioner_id=practitioner,
            started_at=now,
            created_by_id=actor.user_id,
        )
        encounter.reason = reason
        encounter.save()
        relate(
            patient_id=patient.id,
            kind=RelationshipKind.ENCOUNTER,
            user_id=practitioner,
            source=_source(encounter),
            starts_at=now,
            ends_at=now + FOLLOW_UP,
        )
    return encounter


def _current_admission(patient: Patient) -> Encounter | None:
    return (
        Encounter.objects.filter(
            patient=patient, kind=EncounterKind.ADMISSION, discharged_at__isnull=True
        )
        .select_related("unit")
        .first()
    )


def admit(
    *,
    actor: Actor,
    patient_id: object,
    unit_id: object,
    reason: str,
    room_id: object = None,
    practitioner_user_id: object = None,
) -> Encounter:
    """Admits the patient in a unit: the unit's nurses and practitioners get the chart until
    discharge. One current admission per patient."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.MANAGE_ENCOUNTERS, patient_id)
        reason = _clean_reason(reason)
        unit = units_for(actor).filter(pk=unit_id).first() if unit_id else None
        if unit is None:
            raise ValidationError({"unit": _("Choose a unit of your establishment.")})
        room = None
        if room_id:
            room = Room.objects.filter(pk=room_id, unit=unit).first()
            if room is None:
                raise ValidationError({"room": _("This room is not in the chosen unit.")})
        practitioner = None
        if practitioner_user_id:
            practitioner = _practitioner(actor, practitioner_user_id, unit.establishment_id)
        current = _current_admission(patient)
        if current is not None:
            raise ValidationError(
                {
                    "unit": _("This patient is already admitted in %(unit)s: discharge them first.")
                    % {"unit": current.unit.name}
                }
            )
        now = timezone.now()
        encounter = Encounter(
            patient=patient,
            establishment_id=unit.establishment_id,
            kind=EncounterKind.ADMISSION,
            unit=unit,
            room=room,
            practitioner_id=practitioner,
            started_at=now,
            created_by_id=actor.user_id,
        )
        encounter.reason = reason
        try:
            with transaction.atomic():
                encounter.save()
        except IntegrityError:
            # Someone admitted the patient at the same moment.
            raise ValidationError(
                {"unit": _("This patient was just admitted by someone else.")}
            ) from None
        relate(
            patient_id=patient.id,
            kind=RelationshipKind.ADMISSION,
            unit_id=unit.pk,
            source=_source(encounter),
            starts_at=now,
        )
        if practitioner is not None:
            relate(
                patient_id=patient.id,
                kind=RelationshipKind.ENCOUNTER,
                user_id=practitioner,
                source=_source(encounter),
                starts_at=now,
            )
    return encounter


def discharge(
    *,
    actor: Actor,
    patient_id: object,
    encounter_id: object,
    destination: str,
    at: datetime.datetime | None = None,
) -> Encounter:
    """Ends a current admission, at a stated moment (now, or earlier within a day, never
    before the admission) and to a destination: the unit keeps the chart UNIT_AFTER_DISCHARGE
    to finish its notes, then no longer opens it; the practitioner in charge keeps a month of
    follow-up. Allowed after a death (it ends the
    stay). A practitioner may undo it for a short while (`undo_discharge`)."""
    with transaction.atomic():
        patient = readable_patient(actor, Capability.MANAGE_ENCOUNTERS, patient_id)
        encounter = encounter_of(patient, encounter_id, lock=True)
        if not encounter.is_current_admission:
            raise ValidationError(_("This encounter is not a current admission."))
        if destination not in DischargeDestination.values:
            raise ValidationError({"destination": _("Choose where the patient goes.")})
        now = timezone.now()
        at = at or now
        if encounter.started_at - MINUTE < at < encounter.started_at:
            # A form gives minutes: the minute of the admission itself is not before it.
            at = encounter.started_at
        if at > now + CLOCK_SLACK or at < encounter.started_at or at < now - BACKDATE:
            raise ValidationError(
                {"at": _("The discharge is between the admission and now, within a day.")}
            )
        encounter.discharged_at = min(at, now)
        encounter.discharge_recorded_at = now
        encounter.discharged_by_id = actor.user_id
        encounter.discharge_destination = destination
        encounter.save(
            update_fields=[
                "discharged_at",
                "discharge_recorded_at",
                "discharged_by",
                "discharge_destination",
            ]
        )
        _stay_relationships(
            patient.id,
            encounter,
            now,
            unit_until=now + UNIT_AFTER_DISCHARGE,
            practitioner_until=now + FOLLOW_UP,
        )
        ledger_for(actor).reason = f"discharge ({destination})"
    return encounter


def _stay_relationships(
    patient_id: object,
    encounter: Encounter,
    now: datetime.datetime,
    *,
    unit_until: datetime.datetime | None,
    practitioner_until: datetime.datetime | None,
) -> None:
    """The stay's relationships from now on, in place of those it had: its unit's, and its
    practitioner's in charge, each until the moment given (None: while the stay lasts)."""
    source = _source(encounter)
    end(patient_id=patient_id, kind=RelationshipKind.ADMISSION, source=source)
    relate(
        patient_id=patient_id,
        kind=RelationshipKind.ADMISSION,
        unit_id=encounter.unit_id,
        source=source,
        starts_at=now,
        ends_at=unit_until,
    )
    if encounter.practitioner_id:
        end(patient_id=patient_id, kind=RelationshipKind.ENCOUNTER, source=source)
        relate(
            patient_id=patient_id,
            kind=RelationshipKind.ENCOUNTER,
            user_id=encounter.practitioner_id,
            source=source,
            starts_at=now,
            ends_at=practitioner_until,
        )


def may_undo(encounter: Encounter, role: str, now: datetime.datetime | None = None) -> bool:
    """Whether a discharge can still be undone, and by this role."""
    now = now or timezone.now()
    return (
        role == Role.PRACTITIONER
        and encounter.kind == EncounterKind.ADMISSION
        and encounter.discharged_at is not None
        and encounter.discharge_recorded_at is not None
        and now - encounter.discharge_recorded_at <= UNDO_WINDOW
    )


def undo_discharge(
    *, actor: Actor, patient_id: object, encounter_id: object, reason: str
) -> Encounter:
    """Makes a discharge recorded less than UNDO_WINDOW ago current again, by a practitioner
    with a reason (kept, sealed, and in the audit): the unit opens the chart again."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.MANAGE_ENCOUNTERS, patient_id)
        encounter = encounter_of(patient, encounter_id, lock=True)
        if not may_undo(encounter, actor.role):
            raise ValidationError(
                _("Only a practitioner undoes a discharge, within %(hours)d hours of it.")
                % {"hours": UNDO_WINDOW.total_seconds() // 3600}
            )
        reason = " ".join(reason.split())
        if len(reason) < MIN_UNDO_REASON:
            message = _("Say why (at least %(count)d characters).")
            raise ValidationError({"reason": message % {"count": MIN_UNDO_REASON}})
        if _current_admission(patient) is not None:
            raise ValidationError(_("This patient is admitted again elsewhere."))
        now = timezone.now()
        undone = DischargeUndone(
            encounter=encounter,
            patient=patient,
            discharged_at=encounter.discharged_at,
            destination=encounter.discharge_destination,
            undone_by_id=actor.user_id,
            undone_at=now,
        )
        undone.reason = reason
        undone.save()
        encounter.discharged_at = None
        encounter.discharge_recorded_at = None
        encounter.discharged_by = None
        encounter.discharge_destination = ""
        encounter.save(
            update_fields=[
                "discharged_at",
                "discharge_recorded_at",
                "discharged_by",
                "discharge_destination",
            ]
        )
        _stay_relationships(patient.id, encounter, now, unit_until=None, practitioner_until=None)
        # The act only: the practitioner's reason is free text about the patient, sealed on
        # DischargeUndone, never in clear in the audit.
        ledger_for(actor).reason = "discharge undone"
    return encounter
