"""Data with a lifetime: a patient's record is kept as French law asks, then crypto-shredded
(the data key destroyed, the rows left as sealed tombstones); and the installation's own end,
decommissioning, which destroys every key and leaves a signed certificate.

Rules (Code de la santé publique, art. R1112-7; years in settings.CARNET_RETENTION): 20 years
after the last stay or consultation; never before the patient's 28th birthday; a patient who
died less than 10 years after their last visit, 10 years after death. Each domain that knows
of visits tells this module through `register_activity_source` (from its AppConfig.ready);
the domain that records deaths through `register_death_source`. A patient with no activity
at all counts from the record's creation.

`carnet retention` runs from cron (daily is plenty, the law counts in years): the work is a
scan in id order, batch after batch, each its own short transaction, and a run that stops is
simply run again; a task queue would add a broker to an installation that must be simple to
operate and would buy nothing here.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from carnet.audit.chain import write_anchor
from carnet.audit.models import ChainHead
from carnet.guard.actors import Actor
from carnet.guard.boundary import admit_bulk, require, system_job
from carnet.guard.canaries import is_canary
from carnet.guard.policy import Capability
from carnet.organisations.models import Group
from carnet.vault import decommission as vault_decommission
from carnet.vault import journal as vault_journal
from carnet.vault import keys as vault_keys
from carnet.vault.models import DataKey

from .models import ExternalIdentifier, Patient

ACTION = "patients.retention"
# A blind index no key produces (they are 0 .. 2**bits - 1): what a shredded patient's IPP
# index becomes, so no search ever meets a record that cannot be opened.
NO_INDEX = -1
BLIND_COLUMNS = (
    "bi_birth_surname",
    "bi_used_surname",
    "bi_birth_prefix",
    "bi_used_prefix",
    "bi_birth_date",
    "bi_nir",
)

# patient ids -> {patient id: last activity (datetime or date)}
ActivitySource = Callable[[Sequence[uuid.UUID]], Mapping[object, datetime.datetime | datetime.date]]
_ACTIVITY_SOURCES: list[ActivitySource] = []
_DEATH_SOURCES: list[ActivitySource] = []


def register_activity_source(source: ActivitySource) -> ActivitySource:
    """`source(patient_ids)` returns the last visit it knows of each patient (absent: none)."""
    if source not in _ACTIVITY_SOURCES:
        _ACTIVITY_SOURCES.append(source)
    return source


def register_death_source(source: ActivitySource) -> ActivitySource:
    """`source(patient_ids)` returns the date of death of those known to have died. It is
    called inside the retention job's system job: it may open sealed values."""
    if source not in _DEATH_SOURCES:
        _DEATH_SOURCES.append(source)
    return source


def _local_date(value: datetime.datetime | datetime.date) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return value


def _latest(
    sources: Iterable[ActivitySource], ids: Sequence[uuid.UUID]
) -> dict[str, datetime.date]:
    found: dict[str, datetime.date] = {}
    for source in sources:
        for patient_id, when in source(ids).items():
            day = _local_date(when)
            key = str(patient_id)
            if key not in found or day > found[key]:
                found[key] = day
    return found


# --- Rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRules:
    years_after_last_activity: int = 20
    until_age: int = 28
    years_after_death: int = 10
    death_within_years: int = 10


def retention_rules() -> RetentionRules:
    return RetentionRules(**getattr(settings, "CARNET_RETENTION", {}))


def _plus_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: the day after 28 February, keeping the longer term
        return datetime.date(day.year + years, 3, 1)


def _death_rule(
    last_activity: datetime.date, died_on: datetime.date | None, rules: RetentionRules
) -> bool:
    return died_on is not None and died_on < _plus_years(last_activity, rules.death_within_years)


def kept_until(
    *,
    last_activity: datetime.date,
    birth_date: datetime.date | None,
    died_on: datetime.date | None,
    rules: RetentionRules,
) -> datetime.date:
    """The last day the record must be kept."""
    if _death_rule(last_activity, died_on, rules):
        return _plus_years(died_on, rules.years_after_death)  # type: ignore[arg-type]
    end = _plus_years(last_activity, rules.years_after_last_activity)
    if birth_date is not None:
        end = max(end, _plus_years(birth_date, rules.until_age))
    return end


# --- The job --------------------------------------------------------------------------


@dataclass
class RetentionReport:
    today: datetime.date
    dry_run: bool
    examined: int = 0
    due: int = 0
    shredded: int = 0
    limited: bool = False
    batches: int = 0

    @property
    def kept(self) -> int:
        return self.examined - self.due


def _live() -> Exists:
    return Exists(DataKey.objects.filter(owner=OuterRef("pk"), wrapped__isnull=False))


def patients_to_examine() -> int:
    return Patient.objects.filter(_live()).count()


def apply_retention(
    *,
    actor: Actor,
    today: datetime.date | None = None,
    dry_run: bool = False,
    limit: int | None = None,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> RetentionReport:
    """Shreds every patient past retention (at most `limit` in this run): one system job per
    batch, whose audit entry names the patients shredded (ids only). Canaries are never
    shredded: they hold no one's data, and a canary that could not be opened would stop
    catching the scraper it is there for; they count among the kept."""
    rules = retention_rules()
    report = RetentionReport(today=today or timezone.localdate(), dry_run=dry_run)
    after: uuid.UUID | None = None
    while limit is None or report.due < limit:
        page = Patient.objects.filter(_live()).order_by("pk")
        if after is not None:
            page = page.filter(pk__gt=after)
        rows = list(page.values_list("pk", "mark", "created_at")[:batch_size])
        if not rows:
            break
        after = rows[-1][0]
        with system_job(actor, ACTION) as ledger:
            admit_bulk(actor, Capability.APPLY_RETENTION)
            room = None if limit is None else limit - report.due
            due = _due(rows, report.today, rules, room)
            ledger.bulk_count = len(rows)
            if due and not dry_run:
                vault_keys.shred_many(due)
                forget_indexes(due)
                ledger.exposed.update(dict.fromkeys(due, "shredded"))
                ledger.reason = f"retention: {len(due)} records past their term shredded"
            else:
                ledger.reason = f"retention{' (dry run)' if dry_run else ''}: {len(due)} due"
        report.examined += len(rows)
        report.due += len(due)
        report.shredded += 0 if dry_run else len(due)
        report.batches += 1
        if progress:
            progress(len(rows))
    report.limited = limit is not None and report.due >= limit
    return report


def _due(
    rows: list[tuple[uuid.UUID, bytes | None, datetime.datetime]],
    today: datetime.date,
    rules: RetentionRules,
    room: int | None,
) -> list[str]:
    ids = [row[0] for row in rows]
    activity = _latest(_ACTIVITY_SOURCES, ids)
    deaths = _latest(_DEATH_SOURCES, ids)
    candidates: dict[str, tuple[datetime.date, datetime.date | None]] = {}
    for patient_id, mark, created_at in rows:
        key = str(patient_id)
        if is_canary(key, bytes(mark) if mark is not None else None):
            continue
        last, died = activity.get(key, _local_date(created_at)), deaths.get(key)
        if kept_until(last_activity=last, birth_date=None, died_on=died, rules=rules) < today:
            candidates[key] = (last, died)
    # The birth date can only lengthen the term, and not under the death rule: it is opened
    # for the patients whose term has passed without it, and for no one else.
    births = _birth_dates(
        [key for key, (last, died) in candidates.items() if not _death_rule(last, died, rules)]
    )
    due = [
        key
        for key, (last, died) in candidates.items()
        if kept_until(last_activity=last, birth_date=births.get(key), died_on=died, rules=rules)
        < today
    ]
    return due if room is None else due[:room]


def _birth_dates(patient_ids: list[str]) -> dict[str, datetime.date]:
    if not patient_ids:
        return {}
    vault_keys.preload(patient_ids)
    patients = Patient.objects.filter(pk__in=patient_ids).only("pk", "birth_date")
    return {str(p.pk): p.birth_date for p in patients if p.birth_date is not None}


def forget_indexes(patient_ids: Iterable[object]) -> None:
    """A shredded patient is found by no search: the blind indexes go with the key."""
    ids = list(patient_ids)
    Patient.objects.filter(pk__in=ids).update(**dict.fromkeys(BLIND_COLUMNS))
    ExternalIdentifier.objects.filter(patient_id__in=ids).update(bi_value=NO_INDEX)


# --- After a restore ------------------------------------------------------------------


@dataclass(frozen=True)
class ShreddingReplayed:
    journaled: int
    shredded_now: int
    broken: list[str]


def replay_shredding(*, actor: Actor, journals: list[Path]) -> ShreddingReplayed:
    """Shreds again, in a restored database, everyone the shred journals name, and forgets
    their indexes (also those of any patient whose key is gone but whose indexes remain, so
    a replay interrupted half way is finished by the next)."""
    replay = vault_journal.replay(journals)
    shredded = Patient.objects.filter(
        Exists(DataKey.objects.filter(owner=OuterRef("pk"), wrapped__isnull=True))
    )
    stale = list(shredded.exclude(bi_birth_date=None).values_list("pk", flat=True))
    stale += list(
        ExternalIdentifier.objects.filter(patient__in=shredded)
        .exclude(bi_value=NO_INDEX)
        .values_list("patient_id", flat=True)
    )
    iterator = iter(dict.fromkeys(str(s) for s in [*replay.shredded_now, *stale]))
    while batch := list(islice(iterator, 1000)):
        with system_job(actor, "patients.shred_replay") as ledger:
            require(actor, Capability.APPLY_RETENTION)
            forget_indexes(batch)
            ledger.exposed.update(dict.fromkeys(batch, "shredded"))
            ledger.reason = "shredded again from the shred journal after a restore"
    return ShreddingReplayed(replay.journaled, len(replay.shredded_now), replay.broken)


# --- Decommissioning ------------------------------------------------------------------


class DecommissionRefused(Exception):
    pass


def installation_name() -> str:
    """What the operator types to confirm: the group's name (several groups: joined by +)."""
    names = sorted(Group.objects.values_list("name", flat=True))
    return " + ".join(names) if names else str(settings.DATABASES["default"]["NAME"])


@dataclass(frozen=True)
class Decommissioned:
    certificate: vault_decommission.Certificate
    payload: dict = field(default_factory=dict)


def decommission_installation(
    *,
    actor: Actor,
    confirm: str,
    certificate_folder: Path,
    env_key_destroyed: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Decommissioned:
    """Destroys every key of the installation and writes the signed certificate. The audit
    entry and an anchor are written first (they need the audit key); their heads go into
    the certificate, so the log that survives can be matched to it."""
    name = installation_name()
    if confirm != name:
        raise DecommissionRefused(f"the installation is named {name!r}: type that name exactly")
    if settings.CARNET_KEK and not env_key_destroyed:
        raise DecommissionRefused(
            "the key-encryption key comes from the CARNET_KEK environment variable: Carnet "
            "cannot destroy it. Destroy it where it is kept (secret store, service files, "
            "shell history), then run again with --i-have-destroyed-the-env-key"
        )
    with system_job(actor, "vault.decommission") as ledger:
        require(actor, Capability.MANAGE_KEYS)
        patients = Patient.objects.count()
        ledger.bulk_count = patients
        ledger.reason = f"installation {name!r} decommissioned: every key destroyed"
    anchor = write_anchor()
    heads = [
        {"chain": h.chain, "seq": h.seq, "hash": h.hash}
        for h in ChainHead.objects.order_by("chain")
    ]
    already = DataKey.objects.filter(wrapped__isnull=True).count()
    destroyed_rows = vault_decommission.destroy_data_keys(progress=progress)
    files = vault_decommission.destroy_key_files()
    payload = {
        "installation": name,
        "decommissioned_at": timezone.now().isoformat(),
        "database": {
            "vendor": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
            "name": str(settings.DATABASES["default"]["NAME"]),
        },
        "patients": patients,
        "data_keys_destroyed": destroyed_rows,
        "data_keys_shredded_before": already,
        "keyring_versions_destroyed": files.versions,
        "key_from_environment": files.from_environment,
        "key_files_destroyed": files.files,
        "key_backups_destroyed": files.backups,
        "key_backups_not_found": files.backups_not_found,
        "audit": {"heads": heads, "anchor": {"id": anchor.id, "hash": anchor.hash}},
    }
    certificate = vault_decommission.write_certificate(payload, certificate_folder)
    return Decommissioned(certificate, payload)
