"""Re-indexing every patient with a new blind-index key, as a system job: batches in patient-id
order, each opened through the vault, recomputed, written and committed with the job's cursor,
so an interrupted run resumes after the last batch it finished. Searches find everyone all
along: they ask for the keys of both versions until the new one takes over.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef

from carnet.guard.actors import Actor
from carnet.guard.boundary import admit_bulk, system_job
from carnet.guard.policy import Capability
from carnet.vault import keys as vault_keys
from carnet.vault import rotation
from carnet.vault.models import DataKey

from . import search_keys
from .models import ExternalIdentifier, Patient
from .retention import BLIND_COLUMNS, forget_indexes

ACTION = "patients.reindex"


@dataclass(frozen=True)
class ReindexReport:
    from_version: int
    to_version: int
    resumed: bool
    reindexed: int
    total: int


def patients_left(cursor: str) -> int:
    patients = Patient.objects.all()
    return patients.filter(pk__gt=uuid.UUID(cursor)).count() if cursor else patients.count()


def reindex_patients(
    *,
    actor: Actor,
    batch_size: int = 500,
    settle_seconds: float = rotation.SETTLE_SECONDS,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[rotation.IndexRotation, int], None] | None = None,
) -> ReindexReport:
    """Starts (or resumes) a blind-index rotation and carries it to its end: the next version
    becomes the blind-index version once every patient carries it."""
    started = rotation.start_index_rotation(settle_seconds=settle_seconds)
    total = patients_left(started.cursor)
    if on_start:
        on_start(started, total)
    cursor = uuid.UUID(started.cursor) if started.cursor else None
    done = 0
    while True:
        with system_job(actor, ACTION) as ledger:
            admit_bulk(actor, Capability.MANAGE_KEYS)
            count, cursor = _reindex_batch(cursor, batch_size, started.to_version)
            ledger.bulk_count = count
            ledger.reason = f"blind indexes rebuilt with key v{started.to_version}"
            if count:
                rotation.advance_index_rotation(str(cursor), count)
        if not count:
            break
        done += count
        if progress:
            progress(count)
    rotation.finish_index_rotation()
    return ReindexReport(started.from_version, started.to_version, started.resumed, done, total)


def _reindex_batch(
    after: uuid.UUID | None, size: int, version: int
) -> tuple[int, uuid.UUID | None]:
    patients = Patient.objects.order_by("pk")
    if after is not None:
        patients = patients.filter(pk__gt=after)
    # Locked until the batch commits: an identity edited meanwhile is written after this job's
    # row, from its own (new) values and with the new version.
    batch = list(
        patients.select_for_update()
        .annotate(
            shredded=Exists(DataKey.objects.filter(owner=OuterRef("pk"), wrapped__isnull=True))
        )
        .only("pk", "birth_surname", "used_surname", "birth_date", "nir")[:size]
    )
    if not batch:
        return 0, after
    gone = [p.pk for p in batch if p.shredded]
    forget_indexes(gone)
    live = [p for p in batch if not p.shredded]
    vault_keys.preload(str(p.pk) for p in live)
    for patient in live:
        keys = search_keys.identity_keys(
            birth_surname=patient.birth_surname or "",
            used_surname=patient.used_surname,
            birth_date=patient.birth_date,
            nir=patient.nir or None,
            version=version,
        )
        for name, value in keys.items():
            setattr(patient, name, value)
    Patient.objects.bulk_update(live, BLIND_COLUMNS)
    identifiers = list(
        ExternalIdentifier.objects.filter(patient_id__in=[p.pk for p in live]).only(
            "pk", "patient_id", "establishment_id", "value"
        )
    )
    for identifier in identifiers:
        identifier.bi_value = search_keys.ipp_key(
            identifier.establishment_id, identifier.value, version
        )
    ExternalIdentifier.objects.bulk_update(identifiers, ["bi_value"])
    return len(batch), batch[-1].pk
