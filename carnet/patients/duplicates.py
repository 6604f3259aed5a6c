"""Likely duplicates: two records of one person in the reader's establishments, found through
the blind indexes of the INS traits (same birth-date index and the same birth- or used-surname
prefix index), then opened only to compare them (same birth date, same or close surname, same
first name, no conflicting NIR or sex). Nothing is handed over but the pairs shown.

This is a page of identity work, not a way to list patients: at most `MAX_PAIRS` pairs at a
time, no paging (the next pairs appear as pairs are merged or dismissed), every record shown
is decided and counted by the guard like a search result, and canaries are left out (a canary
sharing a real patient's buckets would lock the secretary doing her job)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import admit, admit_existence, ledger_for, match_candidates, require
from carnet.guard.canaries import is_canary
from carnet.guard.policy import Capability
from carnet.vault.blind import normalise

from .cards import display_name
from .models import DuplicateDismissal, IdentityStatus, Patient, Sex
from .selectors import guarded_patient, subject_of, with_relations

MAX_PAIRS = 3  # 6 records a page: the desk steps up on the second page, is contained on the third
MAX_GROUPS = 30  # index buckets opened per request
MAX_GROUP_SIZE = 8  # a bucket larger than this is collisions, not one person
CLOSE_SURNAMES = 0.8  # difflib ratio: one or two letters typed wrong
PREFIX_KEYS = ("bi_birth_prefix", "bi_used_prefix")


@dataclass(frozen=True)
class PairSide:
    id: str
    name: str
    birth_surname: str
    used_surname: str
    first_names: str
    sex: str
    birth_date: datetime.date
    birthplace_code: str
    nir: str
    ipps: tuple[str, ...]
    status: str
    created_at: datetime.datetime

    @property
    def sex_label(self) -> str:
        return str(Sex(self.sex).label) if self.sex in Sex.values else ""

    @property
    def status_label(self) -> str:
        return str(IdentityStatus(self.status).label)


@dataclass(frozen=True)
class DuplicatePair:
    first: PairSide
    second: PairSide
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class DuplicatesOutcome:
    pairs: tuple[DuplicatePair, ...]
    more: bool
    examined: int  # records opened to compare (none of them handed over unless shown)


def pair_side(patient: Patient, establishment_ids: Iterable[int]) -> PairSide:
    """A record as a duplicate's side shows it (the guard handed it over)."""
    mine = set(establishment_ids)
    return PairSide(
        id=str(patient.id),
        name=display_name(patient),
        birth_surname=patient.birth_surname or "",
        used_surname=patient.used_surname or "",
        first_names=patient.first_names or "",
        sex=patient.sex or Sex.UNKNOWN,
        birth_date=patient.birth_date,
        birthplace_code=patient.birthplace_code or "",
        nir=patient.nir or "",
        ipps=tuple(
            f"{i.value} ({i.establishment.name})"
            for i in patient.identifiers.all()
            if i.establishment_id in mine or not mine
        ),
        status=patient.status,
        created_at=patient.created_at,
    )


def _names(value: str | None) -> list[str]:
    return [normalise(part) for part in (value or "").replace("-", " ").split() if part]


def same_person(a: Patient, b: Patient) -> tuple[str, ...]:
    """Why two opened records look like one person, or () if they do not."""
    if a.birth_date != b.birth_date:
        return ()
    if a.nir and b.nir:
        if a.nir != b.nir:
            return ()
        return (str(_("same NIR")), str(_("same birth date")))
    if {a.sex, b.sex} == {Sex.FEMALE, Sex.MALE}:
        return ()
    first_a, first_b = _names(a.first_names), _names(b.first_names)
    if not first_a or not first_b or (first_a[0] not in first_b and first_b[0] not in first_a):
        return ()
    reasons = [str(_("same birth date")), str(_("same first name"))]
    surnames_a = {normalise(a.birth_surname or ""), normalise(a.used_surname or "")} - {""}
    surnames_b = {normalise(b.birth_surname or ""), normalise(b.used_surname or "")} - {""}
    if normalise(a.birth_surname or "") == normalise(b.birth_surname or ""):
        reasons.insert(0, str(_("same birth surname")))
    elif surnames_a & surnames_b:
        reasons.insert(0, str(_("one's surname is the other's used or birth surname")))
    elif max(SequenceMatcher(None, x, y).ratio() for x in surnames_a for y in surnames_b) >= (
        CLOSE_SURNAMES
    ):
        reasons.insert(0, str(_("close surnames (a typing slip?)")))
    else:
        return ()
    return tuple(reasons)


def _pool(actor: Actor) -> QuerySet:
    """Records that can be merged, known to the actor's establishments."""
    pool = Patient.objects.filter(merged_into__isnull=True, deceased=False)
    if not actor.is_system:
        pool = pool.filter(identifiers__establishment_id__in=actor.establishment_ids)
    return pool


@dataclass(frozen=True)
class _Bucket:
    """Records sharing the birth-date index and one surname-prefix index."""

    birth_date: int
    key: str
    value: int

    def query(self) -> Q:
        return Q(bi_birth_date=self.birth_date, **{self.key: self.value})

    def holds(self, patient: Patient) -> bool:
        return patient.bi_birth_date == self.birth_date and getattr(patient, self.key) == self.value


def _buckets(pool: QuerySet) -> list[_Bucket]:
    """Buckets holding more than one record, the most recently created first (a new record
    is where a duplicate usually appears)."""
    found = []
    for key in PREFIX_KEYS:
        rows = (
            pool.order_by()
            .values("bi_birth_date", key)
            .annotate(members=Count("id", distinct=True), latest=Max("created_at"))
            .filter(members__gt=1, members__lte=MAX_GROUP_SIZE)
            .order_by("-latest")[:MAX_GROUPS]
        )
        found += [(r["latest"], _Bucket(r["bi_birth_date"], key, r[key])) for r in rows]
    found.sort(key=lambda item: item[0], reverse=True)
    return list(dict.fromkeys(bucket for _latest, bucket in found))[:MAX_GROUPS]


def _look_alikes(pool: QuerySet, patient: Patient) -> list[Patient]:
    """Records in the buckets of one record (the same birth-date index, and its birth or used
    surname prefix as either prefix of theirs)."""
    prefixes = [patient.bi_birth_prefix, patient.bi_used_prefix]
    return list(
        with_relations(
            pool.filter(bi_birth_date=patient.bi_birth_date)
            .filter(Q(bi_birth_prefix__in=prefixes) | Q(bi_used_prefix__in=prefixes))
            .exclude(pk=patient.pk)
            .distinct()
            .order_by("-created_at")
        )[: MAX_GROUP_SIZE * 2]
    )


def _not_canaries(patients: Iterable[Patient]) -> dict[str, Patient]:
    return {str(p.id): p for p in patients if not is_canary(str(p.id), p.mark)}


def _dismissed(ids: Iterable[str]) -> set[tuple[str, str]]:
    ids = list(ids)
    rows = DuplicateDismissal.objects.filter(first_id__in=ids, second_id__in=ids)
    return {(str(a), str(b)) for a, b in rows.values_list("first_id", "second_id")}


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _compare(
    patients: dict[str, Patient], buckets: list[list[str]], focus: str | None
) -> list[tuple[str, str, tuple[str, ...]]]:
    """Pairs found by opening the candidates, nothing handed over: the guard opens them to
    `match_candidates` only while they are compared."""
    # The focus record was handed over already: it stays open, the others only meanwhile.
    subjects = [subject_of(p) for pid, p in patients.items() if pid != focus]
    found: list[tuple[str, str, tuple[str, ...]]] = []
    done: list[bool] = []
    dismissed = _dismissed(patients)

    def compare_all(_subject: object) -> bool:
        if not done:  # every candidate is open during this first call
            done.append(True)
            seen: set[tuple[str, str]] = set()
            for bucket in buckets:
                for i, a in enumerate(bucket):
                    for b in bucket[i + 1 :]:
                        pair = _ordered(a, b)
                        if pair in seen or pair in dismissed:
                            continue
                        if focus and focus not in pair:
                            continue
                        seen.add(pair)
                        reasons = same_person(patients[pair[0]], patients[pair[1]])
                        if reasons:
                            found.append((*pair, reasons))
        return False

    match_candidates(subjects, compare_all)
    return found


def _hand_over(
    actor: Actor, patients: dict[str, Patient], found: list[tuple[str, str, tuple[str, ...]]]
) -> DuplicatesOutcome:
    shown = found[:MAX_PAIRS]
    wanted = {pid for a, b, _r in shown for pid in (a, b)}
    handed = {
        s.patient_id
        for s in admit(
            actor, Capability.MERGE_IDENTITIES, [subject_of(patients[p]) for p in sorted(wanted)]
        )
    }
    pairs = tuple(
        DuplicatePair(
            pair_side(patients[a], actor.establishment_ids),
            pair_side(patients[b], actor.establishment_ids),
            reasons,
        )
        for a, b, reasons in shown
        if a in handed and b in handed
    )
    return DuplicatesOutcome(pairs=pairs, more=len(found) > MAX_PAIRS, examined=len(patients))


def likely_duplicates(*, actor: Actor, patient_id: object = None) -> DuplicatesOutcome:
    """The likeliest pairs in the actor's establishments (or those of one patient)."""
    require(actor, Capability.MERGE_IDENTITIES)
    pool = _pool(actor)
    if patient_id is not None:
        patient = guarded_patient(actor, Capability.MERGE_IDENTITIES, patient_id)
        if patient.read_only:
            return DuplicatesOutcome(pairs=(), more=False, examined=0)
        patients = {str(patient.id): patient, **_not_canaries(_look_alikes(pool, patient))}
        found = _compare(patients, [list(patients)], str(patient.id))
        return _hand_over(actor, patients, found)
    buckets = _buckets(pool)
    if not buckets:
        return DuplicatesOutcome(pairs=(), more=False, examined=0)
    query = Q()
    for bucket in buckets:
        query |= bucket.query()
    members = with_relations(pool.filter(query).distinct().order_by("-created_at"))
    patients = _not_canaries(members[: MAX_GROUPS * MAX_GROUP_SIZE])
    groups = [[pid for pid, p in patients.items() if bucket.holds(p)] for bucket in buckets]
    return _hand_over(actor, patients, _compare(patients, groups, None))


def duplicate_count(*, actor: Actor, patient_id: object) -> int:
    """How many records look like this one (for the warning on its page): compared, never
    handed over, so it shows a number and nothing else."""
    require(actor, Capability.MERGE_IDENTITIES)
    patient = guarded_patient(actor, Capability.VIEW_IDENTITY, patient_id)
    if patient.read_only:
        return 0
    patients = {str(patient.id): patient, **_not_canaries(_look_alikes(_pool(actor), patient))}
    found = _compare(patients, [list(patients)], str(patient.id))
    if shaped_by(actor, patient):
        # After one's own change the number is an answer about people one chose: each
        # look-alike costs what finding it by a search would (editing a decoy record into
        # each guess is no free oracle). A record one did not shape answers nothing new.
        others = {pid for pair in found for pid in pair[:2]} - {str(patient.id)}
        admit_existence(
            actor, Capability.MERGE_IDENTITIES, [subject_of(patients[p]) for p in others]
        )
    return len(found)


ORACLE_HOURS = 24


def shaped_by(actor: Actor, patient: Patient) -> bool:
    """Whether this actor wrote the record's identity lately (created or edited it)."""
    return (
        patient.changed_by == actor.user_id
        and patient.changed_at is not None
        and patient.changed_at >= timezone.now() - datetime.timedelta(hours=ORACLE_HOURS)
    )


def dismiss_pair(*, actor: Actor, first_id: object, second_id: object) -> None:
    """Two records checked and found to be two people: not proposed again."""
    first = guarded_patient(actor, Capability.MERGE_IDENTITIES, first_id)
    second = guarded_patient(actor, Capability.MERGE_IDENTITIES, second_id)
    a, b = _ordered(str(first.id), str(second.id))
    if a == b:
        return
    DuplicateDismissal.objects.get_or_create(
        first_id=a,
        second_id=b,
        defaults={"dismissed_by_id": actor.user_id, "dismissed_at": timezone.now()},
    )
    ledger_for(actor).reason = f"not duplicates: {a} and {b}"
