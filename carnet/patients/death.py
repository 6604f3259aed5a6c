"""Death: a practitioner in care declares it; in the same transaction the patient's future
appointments are cancelled by the establishment (reason "death"), the patient space account is
closed, and the record becomes read-only.

What may still change, and who decides (recorded each time, with a reason):
- a secretary corrects the identity of a deceased patient (an INS trait typed wrong): the
  death stands, the correction is kept with its reason (`correct_identity`);
- a practitioner in care retracts a declaration made in error (`retract_death`): the record is
  writable again and the closed portal account reopens; cancelled appointments stay
  cancelled (their slots may be someone else's by now), the desk books again.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, ledger_for, opened_through
from carnet.guard.containment import end_sessions
from carnet.guard.models import OUTSIDE
from carnet.guard.policy import Capability
from carnet.staff.models import User

from .cards import IdentityCard
from .models import DeathDeclaration, LinkCode, Patient, PortalAccount
from .selectors import guarded_patient, refuse_if_read_only
from .services import update_identity

# The reason written on every appointment a death cancels: the agendas show it.
DEATH_REASON = "death"
# A clock a little ahead on the declaring computer is not a declaration of the future.
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class DeathFacts:
    died_at: datetime.datetime
    place: str
    declared_by: str
    declared_at: datetime.datetime
    cancelled_appointments: int
    retracted_at: datetime.datetime | None
    retracted_by: str
    retraction_reason: str


@dataclass(frozen=True)
class DeathRecord:
    standing: DeathFacts | None
    retracted: tuple[DeathFacts, ...]


@dataclass(frozen=True)
class DeathPreview:
    """What declaring the death will do, said before it is done."""

    future_appointments: int
    portal_account: bool


def _name(user: User | None) -> str:
    return (user.get_full_name() or user.username) if user else ""


def _facts(row: DeathDeclaration) -> DeathFacts:
    return DeathFacts(
        died_at=row.died_at,
        place=row.place or "",
        declared_by=_name(row.declared_by),
        declared_at=row.declared_at,
        cancelled_appointments=row.cancelled_appointments,
        retracted_at=row.retracted_at,
        retracted_by=_name(row.retracted_by),
        retraction_reason=row.retraction_reason or "",
    )


def death_of(*, actor: Actor, patient_id: object) -> DeathRecord:
    """The standing declaration (if any) and the retracted ones, for whoever may see the
    identity."""
    patient = guarded_patient(actor, Capability.VIEW_IDENTITY, patient_id)
    rows = (
        DeathDeclaration.objects.filter(patient=patient)
        .select_related("declared_by", "retracted_by")
        .order_by("-declared_at")
    )
    facts = [(row.retracted_at is None, _facts(row)) for row in rows]
    return DeathRecord(
        standing=next((f for standing, f in facts if standing), None),
        retracted=tuple(f for standing, f in facts if not standing),
    )


def dates_of_death(patient_ids: Iterable[object]) -> dict[object, datetime.date]:
    """The day each deceased patient died, for retention's job (which opened them all): the
    clear flag picks the deceased, so no living patient's record is opened for this."""
    deceased = Patient.objects.filter(pk__in=list(patient_ids), deceased=True)
    return {p.pk: timezone.localdate(p.deceased_at) for p in deceased if p.deceased_at}


def _in_care(actor: Actor, patient: Patient, capability: Capability) -> Patient:
    """Only a practitioner in care declares or retracts: the establishment's reach (what
    opens a record "outside", counted) is not enough."""
    if opened_through(actor, str(patient.id)) in ("", OUTSIDE):
        raise Refused(
            f"{capability} needs a care relationship", patients=[str(patient.id)], not_found=False
        )
    return patient


@dataclass(frozen=True)
class FutureAppointments:
    """How the agenda's domain finds a patient's appointments still to come and cancels one
    (registered by the scheduling app, which this domain does not import)."""

    find: Callable[[object, datetime.datetime], list[Any]]
    cancel: Callable[..., None]


_appointment_sources: list[FutureAppointments] = []


def register_future_appointments(source: FutureAppointments) -> None:
    if source not in _appointment_sources:
        _appointment_sources.append(source)


def _future_appointments(patient: Patient, since: datetime.datetime) -> list[Any]:
    return [
        (source, appointment)
        for source in _appointment_sources
        for appointment in source.find(patient.pk, since)
    ]


def death_preview(*, actor: Actor, patient_id: object) -> DeathPreview:
    patient = _in_care(
        actor,
        guarded_patient(actor, Capability.DECLARE_DEATH, patient_id),
        Capability.DECLARE_DEATH,
    )
    return DeathPreview(
        future_appointments=len(_future_appointments(patient, timezone.now())),
        portal_account=PortalAccount.objects.filter(
            patient=patient, closed_at__isnull=True
        ).exists(),
    )


def _check_moment(patient: Patient, died_at: datetime.datetime, place: str) -> None:
    errors: dict[str, str] = {}
    if died_at > timezone.now() + CLOCK_SKEW:
        errors["died_on"] = _("The moment of death cannot be in the future.")
    elif patient.birth_date and timezone.localtime(died_at).date() < patient.birth_date:
        errors["died_on"] = _("The moment of death comes before the birth date.")
    if not place.strip():
        errors["place"] = _("Say where the death occurred.")
    if errors:
        raise ValidationError(errors)


def _close_portal(patient: Patient, now: datetime.datetime) -> PortalAccount | None:
    """The patient space closes: no sign-in, no page, no code waiting to be used."""
    LinkCode.objects.filter(patient=patient, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    account = PortalAccount.objects.filter(patient=patient, closed_at__isnull=True).first()
    if account is None:
        return None
    account.closed_at = now
    account.save(update_fields=["closed_at"])
    User.objects.filter(pk=account.user_id).update(is_active=False)
    end_sessions(account.user_id)
    return account


def declare_death(
    *, actor: Actor, patient_id: object, died_at: datetime.datetime, place: str
) -> DeathFacts:
    """Declares the death, cancels what was still to come, closes the patient space; all or
    nothing."""
    with transaction.atomic():
        patient = _in_care(
            actor,
            guarded_patient(actor, Capability.DECLARE_DEATH, patient_id),
            Capability.DECLARE_DEATH,
        )
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        refuse_if_read_only(locked)
        _check_moment(patient, died_at, place)
        now = timezone.now()
        # Booked after the moment of death (or from now, if it is being declared ahead of
        # its paperwork): none of these can take place.
        appointments = _future_appointments(patient, min(died_at, now))
        for source, appointment_id in appointments:
            source.cancel(
                actor=actor,
                appointment_id=appointment_id,
                reason=DEATH_REASON,
                capability=Capability.DECLARE_DEATH,
            )
        declaration = DeathDeclaration(
            patient=patient,
            declared_by_id=actor.user_id,
            declared_at=now,
            cancelled_appointments=len(appointments),
            closed_account=_close_portal(patient, now),
        )
        declaration.died_at = died_at
        declaration.place = place.strip()
        declaration.save()
        patient.deceased = True
        patient.deceased_at = died_at
        patient.version = F("version") + 1
        patient.save(update_fields=["deceased", "deceased_at", "version", "updated_at"])
        ledger_for(actor).reason = (
            f"death declared ({declaration.pk}): {len(appointments)} appointments cancelled, "
            f"patient space {'closed' if declaration.closed_account_id else 'none open'}"
        )
        return _facts(declaration)


def retract_death(*, actor: Actor, patient_id: object, reason: str) -> None:
    """Undoes a declaration made in error (a practitioner in care, with the reason)."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the declaration was made in error.")})
    with transaction.atomic():
        patient = _in_care(
            actor,
            guarded_patient(actor, Capability.DECLARE_DEATH, patient_id),
            Capability.DECLARE_DEATH,
        )
        Patient.objects.select_for_update().filter(pk=patient.pk).exists()
        declaration = (
            DeathDeclaration.objects.select_for_update()
            .filter(patient=patient, retracted_at__isnull=True)
            .first()
        )
        if declaration is None or patient.merged_into_id is not None:
            raise ValidationError(_("There is no standing death declaration to retract."))
        declaration.retracted_at = timezone.now()
        declaration.retracted_by_id = actor.user_id
        declaration.retraction_reason = reason.strip()
        declaration.save()
        account = declaration.closed_account
        reopened = False
        if (
            account is not None
            and not PortalAccount.objects.filter(patient=patient, closed_at__isnull=True).exists()
        ):
            PortalAccount.objects.filter(pk=account.pk).update(closed_at=None)
            User.objects.filter(pk=account.user_id).update(is_active=True)
            reopened = True
        patient.deceased = False
        patient.deceased_at = None
        patient.version = F("version") + 1
        patient.save(update_fields=["deceased", "deceased_at", "version", "updated_at"])
        ledger_for(actor).reason = (
            f"death declaration {declaration.pk} retracted as made in error"
            f"{', patient space reopened' if reopened else ''}: {reason.strip()}"
        )


def correct_identity(
    *, actor: Actor, patient_id: object, data: dict[str, Any], version: int, reason: str
) -> IdentityCard:
    """The authorised correction of a deceased patient's identity (a secretary, with the
    reason; recorded). Anyone else, or without a reason, meets the read-only record."""
    if not reason.strip():
        raise ValidationError({"correction_reason": _("Say why the identity is corrected.")})
    patient = guarded_patient(actor, Capability.EDIT_IDENTITY, patient_id)
    if not patient.deceased:
        raise ValidationError(_("This record is not closed by a death: edit it as usual."))
    return update_identity(
        actor=actor, patient_id=patient.id, data=data, version=version, correction_reason=reason
    )
