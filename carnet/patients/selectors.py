"""Reading identities, always through the guard: search (specific enough, capped, each row
counted) and opening one identity (404 for "not allowed" and "not found" alike)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import (
    Refused,
    Subject,
    admit,
    admit_matching,
    admit_one,
    ledger_for,
    reach_of,
    require,
)
from carnet.guard.canaries import is_canary
from carnet.guard.policy import Capability, Role
from carnet.staff.models import Practitioner
from carnet.vault import keys as vault_keys
from carnet.vault.blind import normalise

from . import search_keys
from .cards import IdentityCard, SearchRow, display_name, identity_card, search_row
from .models import ExternalIdentifier, IdentityMerge, IdentityStatus, MergeMove, Patient
from .validators import clean_nir

# At most a soft limit's worth of rows: one search never locks a desk by itself.
MAX_RESULTS = 10
MIN_SURNAME_LETTERS = search_keys.PREFIX_LETTERS


@dataclass(frozen=True)
class SearchQuery:
    surname: str = ""
    birth_date: datetime.date | None = None
    nir: str = ""
    ipp: str = ""


@dataclass(frozen=True)
class SearchOutcome:
    rows: tuple[SearchRow, ...] = ()
    problem: str = ""
    more: bool = False
    searched: bool = False


VAGUE = _(
    "Enter a surname (at least 3 letters) with a birth date, or a NIR, or an IPP: "
    "Carnet does not list patients on vaguer criteria."
)


def with_relations(queryset: QuerySet) -> QuerySet:
    """Patients with what the guard and the cards read of them: the treating doctor, the
    identifiers with their establishments (one query), the wrapped data key (in the row)."""
    identifiers = ExternalIdentifier.objects.select_related("establishment")
    return vault_keys.with_wrapped_keys(
        queryset.select_related("treating_doctor__user").prefetch_related(
            Prefetch("identifiers", queryset=identifiers)
        )
    )


def subject_of(patient: Patient) -> Subject:
    vault_keys.prime(str(patient.id), patient)
    establishments = frozenset(i.establishment_id for i in patient.identifiers.all())
    if patient.merged_into_id is not None:
        establishments |= _former_establishments(patient.id)
    return Subject(
        str(patient.id),
        establishments,
        bytes(patient.mark) if patient.mark is not None else None,
    )


def _former_establishments(patient_id: object) -> frozenset[int]:
    """A merged record gave its identifiers to the survivor; the establishments that knew it
    still reach it (read-only, for the audit and to undo the merge)."""
    label = ExternalIdentifier._meta.label_lower
    merges = IdentityMerge.objects.filter(merged_id=patient_id, undone_at__isnull=True)
    rows = MergeMove.objects.filter(merge__in=merges, model=label).values_list("row", flat=True)
    return frozenset(
        ExternalIdentifier.objects.filter(pk__in=[int(r) for r in rows]).values_list(
            "establishment_id", flat=True
        )
    )


class ReadOnlyRecord(ValidationError):
    """The record is closed to changes: the patient died, or it was merged into another."""


def refuse_if_read_only(patient: Patient) -> None:
    if patient.merged_into_id is not None:
        raise ReadOnlyRecord(
            _(
                "This record was merged into another one: it stays, read-only, for the audit. "
                "Work on the surviving record."
            ),
            code="merged",
        )
    if patient.deceased:
        raise ReadOnlyRecord(
            _(
                "The patient's death was declared: the record is read-only. A secretary may "
                "still correct the identity, giving the reason."
            ),
            code="deceased",
        )


def writable_patient(actor: Actor, capability: Capability, patient_id: object) -> Patient:
    """Like `guarded_patient`, for a change: refused on a deceased or merged record."""
    patient = guarded_patient(actor, capability, patient_id)
    refuse_if_read_only(patient)
    return patient


def _candidates(actor: Actor, query: SearchQuery) -> tuple[QuerySet | None, object, str]:
    """Blind-index candidates, the predicate that confirms a match, or a problem."""
    if query.nir.strip():
        try:
            nir = clean_nir(query.nir)
        except Exception as error:  # ValidationError: shown to the user as the problem
            return None, None, " ".join(getattr(error, "messages", [str(error)]))
        return (
            Patient.objects.filter(bi_nir__in=search_keys.nir_keys(nir)),
            lambda p: p.nir == nir,
            "",
        )
    if query.ipp.strip():
        wanted = normalise(query.ipp)
        keys = [k for e in actor.establishment_ids for k in search_keys.ipp_keys(e, wanted)]
        ids = ExternalIdentifier.objects.filter(
            bi_value__in=keys, establishment_id__in=actor.establishment_ids
        ).values("patient_id")
        return (
            Patient.objects.filter(id__in=ids),
            lambda p: any(
                normalise(i.value) == wanted
                for i in p.identifiers.all()
                if i.establishment_id in actor.establishment_ids
            ),
            "",
        )
    wanted = normalise(query.surname)
    if len(wanted) < MIN_SURNAME_LETTERS or query.birth_date is None:
        return None, None, str(VAGUE)
    prefixes = search_keys.prefix_keys(wanted)
    day = query.birth_date
    candidates = Patient.objects.filter(bi_birth_date__in=search_keys.birth_date_keys(day)).filter(
        Q(bi_birth_prefix__in=prefixes) | Q(bi_used_prefix__in=prefixes)
    )

    def matches(p: Patient) -> bool:
        return p.birth_date == day and (
            normalise(p.birth_surname or "").startswith(wanted)
            or normalise(p.used_surname or "").startswith(wanted)
        )

    return candidates, matches, ""


def search_identities(
    *, actor: Actor, query: SearchQuery, capability: Capability = Capability.SEARCH_IDENTITY
) -> SearchOutcome:
    candidates, predicate, problem = _candidates(actor, query)
    if candidates is None:
        return SearchOutcome(problem=problem)
    # A merged record is found through its survivor (which took its identifiers).
    candidates = candidates.filter(merged_into__isnull=True)
    if not actor.is_system:
        candidates = candidates.filter(
            identifiers__establishment_id__in=reach_of(actor, capability)
        )
    patients = {str(p.id): p for p in with_relations(candidates.distinct())}
    found, more = admit_matching(
        actor,
        capability,
        [subject_of(p) for p in patients.values()],
        lambda s: predicate(patients[s.patient_id]),
        MAX_RESULTS,
    )
    rows = sorted(
        (search_row(patients[s.patient_id], actor.establishment_ids) for s in found),
        key=lambda r: (normalise(r.used_surname or r.birth_surname), r.first_names),
    )
    return SearchOutcome(rows=tuple(rows), more=more, searched=True)


def parse_patient_id(patient_id: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(patient_id))
    except ValueError:
        return None


def _patient(patient_id: object) -> Patient | None:
    key = parse_patient_id(patient_id)
    return with_relations(Patient.objects.filter(id=key)).first() if key else None


def guarded_patient(actor: Actor, capability: Capability, patient_id: object) -> Patient:
    """The patient model, handed over by the guard, for this domain's own services."""
    patient = _patient(patient_id)
    admit_one(actor, capability, subject_of(patient) if patient else None)
    assert patient is not None
    return patient


def open_identity(*, actor: Actor, patient_id: object) -> IdentityCard:
    return identity_card(guarded_patient(actor, Capability.VIEW_IDENTITY, patient_id))


def practitioners_for(actor: Actor) -> QuerySet:
    """The treating doctors an actor may choose: practitioners of their establishments."""
    return (
        Practitioner.objects.filter(user__memberships__establishment_id__in=actor.establishment_ids)
        .select_related("user")
        .distinct()
        .order_by("user__last_name", "user__first_name")
    )


def colleagues_for(actor: Actor) -> QuerySet:
    """Accounts a patient can be shared with: caring roles of the actor's establishments."""
    from carnet.staff.models import User

    return (
        User.objects.filter(
            memberships__establishment_id__in=actor.establishment_ids,
            role__in=[Role.PRACTITIONER, Role.NURSE, Role.LAB_TECHNICIAN, Role.SECRETARY],
            is_active=True,
        )
        .exclude(pk=actor.user_id)
        .distinct()
        .order_by("last_name", "first_name")
    )


def ids_known_at(*, actor: Actor, establishment_id: int, limit: int) -> list[str]:
    """Ids only (no identity) of patients known at an establishment, for system jobs that
    fill agendas (the demo). Canaries are left out: an appointment would put one on a desk's
    day sheet, and the secretary who opened the day would be locked for it."""
    require(actor, Capability.IMPORT_APPOINTMENTS)
    rows = (
        ExternalIdentifier.objects.filter(establishment_id=establishment_id)
        .order_by("id")
        .values_list("patient_id", "patient__mark")[:limit]
    )
    return [str(p) for p, mark in rows if not is_canary(str(p), mark)]


def display_names(
    *, actor: Actor, patient_ids: list[str], capability: Capability = Capability.VIEW_IDENTITY
) -> dict[str, str]:
    """Surname and first name of each patient the guard hands over (agendas, queues)."""
    patients = {
        str(p.id): p for p in with_relations(Patient.objects.filter(id__in=set(patient_ids)))
    }
    handed = admit(actor, capability, [subject_of(p) for p in patients.values()])
    return {s.patient_id: display_name(patients[s.patient_id]) for s in handed}


@dataclass(frozen=True)
class StatusChange:
    at: datetime.datetime
    status: str
    document: str
    by: str


def status_history(*, actor: Actor, patient_id: object) -> list[StatusChange]:
    """Who set the identity's status, when, on which document, newest first (the patient was
    handed over already: this is read for the page that shows it)."""
    from carnet.staff.selectors import display_names

    from .models import IdentityDocument, IdentityStatusChange

    opened = str(patient_id)
    if opened not in ledger_for(actor).exposed:
        raise Refused("status history of a patient not handed over")
    rows = list(IdentityStatusChange.objects.filter(patient_id=opened).order_by("-changed_at"))
    names = display_names({r.changed_by for r in rows if r.changed_by})
    return [
        StatusChange(
            at=r.changed_at,
            status=str(IdentityStatus(r.to_status).label),
            document=str(IdentityDocument(r.document).label) if r.document else "",
            by=names.get(r.changed_by, _("import")) if r.changed_by else _("import"),
        )
        for r in rows
    ]
