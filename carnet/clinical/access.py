"""How every clinical service gets its patient: through the guard, and, for a write, only
while the record is not closed by a death. Nothing here decides more than that."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused
from carnet.guard.policy import Capability
from carnet.patients.models import Patient
from carnet.patients.selectors import guarded_patient, parse_patient_id

from .models import Encounter


def is_deceased(patient: Patient) -> bool:
    # Death belongs to the patients domain: its clear flag when there is one, else the date.
    if hasattr(patient, "deceased"):
        return bool(patient.deceased)
    return getattr(patient, "deceased_at", None) is not None


def closed_because(patient: Patient) -> str:
    """Why this chart takes no more writing (death, merged into another record), or ""."""
    if is_deceased(patient):
        return _("This patient's death is recorded: the clinical record is read-only.")
    if getattr(patient, "merged_into_id", None) is not None:
        return _("This record was merged into another one: write on the surviving record.")
    return ""


def readable_patient(actor: Actor, capability: Capability, patient_id: object) -> Patient:
    return guarded_patient(actor, capability, patient_id)


def writable_patient(actor: Actor, capability: Capability, patient_id: object) -> Patient:
    """The patient, handed over by the guard, whose chart may still be written."""
    patient = guarded_patient(actor, capability, patient_id)
    closed = closed_because(patient)
    if closed:
        raise ValidationError(closed)
    return patient


def establishment_for(actor: Actor, patient: Patient) -> int:
    """Where the actor works with this patient: an establishment of theirs that knows the
    patient, else their first one."""
    mine = actor.establishment_ids
    known = sorted(mine & {i.establishment_id for i in patient.identifiers.all()})
    if known:
        return known[0]
    if actor.establishment_id is None:
        raise ValidationError(_("Your account belongs to no establishment."))
    return actor.establishment_id


def encounter_of(patient: Patient, encounter_id: object, *, lock: bool = False) -> Encounter:
    """One of this patient's encounters; another patient's answers like none at all."""
    key = parse_patient_id(encounter_id)
    query = Encounter.objects.filter(pk=key, patient=patient) if key else Encounter.objects.none()
    if lock:
        query = query.select_for_update(of=("self",))
    encounter = query.select_related("unit", "establishment").first()
    if encounter is None:
        raise Refused("no such encounter for this patient", patients=[str(patient.id)])
    return encounter


def single_unit(actor: Actor) -> int | None:
    return next(iter(actor.unit_ids)) if len(actor.unit_ids) == 1 else None
