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
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Capability
from carnet.guard.relationships import end, relate
from carnet.organisations.models import Room, Unit
from carnet.patients.models import Patient
from carnet.staff.models import Practitioner

from .access import encounter_of, establishment_for, readable_patient, writable_patient
from .models import Encounter, EncounterKind

# The practitioner keeps the patient open this long after a consultation or a discharge.
FOLLOW_UP = datetime.timedelta(days=30)
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


def discharge(*, actor: Actor, patient_id: object, encounter_id: object) -> Encounter:
    """Ends a current admission: the unit no longer opens the chart; the practitioner in
    charge keeps a month of follow-up. Allowed after a death (it ends the stay)."""
    with transaction.atomic():
        patient = readable_patient(actor, Capability.MANAGE_ENCOUNTERS, patient_id)
        encounter = encounter_of(patient, encounter_id, lock=True)
        if not encounter.is_current_admission:
            raise ValidationError(_("This encounter is not a current admission."))
        now = timezone.now()
        encounter.discharged_at = now
        encounter.save(update_fields=["discharged_at"])
        source = _source(encounter)
        end(patient_id=patient.id, kind=RelationshipKind.ADMISSION, source=source)
        if encounter.practitioner_id:
            end(patient_id=patient.id, kind=RelationshipKind.ENCOUNTER, source=source)
            relate(
                patient_id=patient.id,
                kind=RelationshipKind.ENCOUNTER,
                user_id=encounter.practitioner_id,
                source=source,
                starts_at=now,
                ends_at=now + FOLLOW_UP,
            )
    return encounter
