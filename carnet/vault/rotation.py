"""Rotating the keys: a new key-encryption key (every data key re-wrapped, in batches,
resumable), a new blind-index version (the keyring side only: recomputing the indexes is the
patients domain's job, carnet/patients/reindex.py), and retiring versions nothing needs.

Readers never wait: a data key opens with whichever version wrapped it, and the keyring keeps
every version until it is retired. The audit chain stays on its version for good: its entries
are hashed with a key derived from it, and moving the chain to a new key would mean
re-stamping history, which is exactly what a tamper-evident log must never allow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from .keyring import (
    RECHECK_SECONDS,
    Keyring,
    keyring_file,
    keyring_locked,
    load_keyring,
    new_key,
    reload_keyring,
    write_keyring_file,
)
from .models import DataKey, RotationKind, RotationState
from .sealing import unwrap_key, wrap_key

# Before a re-index recomputes anything, every process must write new rows with the next
# version (they pick the keyring up within RECHECK_SECONDS); this leaves them a margin.
SETTLE_SECONDS = 3 * RECHECK_SECONDS


class RotationRefused(Exception):
    """A key change that would lose data or break a running rotation; the message says why."""


def _write(ring: Keyring) -> Keyring:
    write_keyring_file(keyring_file(), ring)
    return reload_keyring()


def _wrapped_on(version: int) -> int:
    return DataKey.objects.filter(kek_version=version, wrapped__isnull=False).count()


def data_keys_left(ring: Keyring | None = None) -> int:
    """Data keys still wrapped by a version older than the current one."""
    ring = ring or load_keyring()
    return DataKey.objects.filter(wrapped__isnull=False).exclude(kek_version=ring.current).count()


def version_usage() -> dict[int, int]:
    """Live (not shredded) data keys per key-encryption key version."""
    rows = (
        DataKey.objects.filter(wrapped__isnull=False)
        .values("kek_version")
        .annotate(count=Count("owner"))
        .order_by("kek_version")
    )
    return {row["kek_version"]: row["count"] for row in rows}


def shredded_count() -> int:
    return DataKey.objects.filter(wrapped__isnull=True).count()


def rotation_states() -> list[RotationState]:
    return list(RotationState.objects.order_by("kind"))


# --- Key-encryption key ---------------------------------------------------------------


@dataclass(frozen=True)
class KekRotation:
    version: int
    resumed: bool
    left: int


def start_kek_rotation() -> KekRotation:
    """Adds a new current version, unless data keys are still wrapped by an older one: then
    the unfinished rotation resumes (a second new version would only add work)."""
    with keyring_locked():
        ring = reload_keyring()
        left = data_keys_left(ring)
        if left:
            _state(RotationKind.KEK, from_version=min(version_usage()), to_version=ring.current)
            return KekRotation(ring.current, resumed=True, left=left)
        version = max(ring.keys) + 1
        previous = ring.current
        ring = _write(ring.replace(keys={**ring.keys, version: new_key()}, current=version))
    _state(RotationKind.KEK, from_version=previous, to_version=version, reset=True)
    return KekRotation(version, resumed=False, left=data_keys_left(ring))


@dataclass(frozen=True)
class RewrapReport:
    version: int
    rewrapped: int
    left: int
    seconds: float


def rewrap_data_keys(
    *, batch_size: int = 2000, progress: Callable[[int], None] | None = None
) -> RewrapReport:
    """Re-wraps every live data key not on the current version, one transaction per batch.
    Interrupted, it loses at most the batch in flight; run again, it goes on with what
    `kek_version` says is left. Passes again over the table for keys that processes not yet
    aware of the new version wrapped meanwhile (a few seconds' worth at most)."""
    started = time.perf_counter()
    ring = reload_keyring()
    target = ring.current
    total = 0
    for _ in range(3):
        after = None
        while True:
            count, after = _rewrap_batch(ring, target, after, batch_size)
            if not count:
                break
            total += count
            _advance(RotationKind.KEK, count, str(after))
            if progress:
                progress(count)
        if not data_keys_left(ring):
            break
        time.sleep(RECHECK_SECONDS)
    left = data_keys_left(ring)
    if not left:
        RotationState.objects.filter(kind=RotationKind.KEK, finished_at__isnull=True).update(
            finished_at=timezone.now()
        )
    return RewrapReport(target, total, left, time.perf_counter() - started)


_REWRAP_SQL = (
    "UPDATE vault_datakey SET wrapped = %s, kek_version = %s "
    "WHERE owner = %s AND kek_version = %s AND wrapped IS NOT NULL"
)


def _rewrap_batch(ring: Keyring, target: int, after: object, size: int) -> tuple[int, object]:
    owner_field = DataKey._meta.get_field("owner")
    with transaction.atomic():
        rows = DataKey.objects.filter(wrapped__isnull=False).exclude(kek_version=target)
        if after is not None:
            rows = rows.filter(owner__gt=after)
        batch = list(rows.order_by("owner").values_list("owner", "wrapped", "kek_version")[:size])
        if not batch:
            return 0, after
        new = AESGCM(ring.kek(target))
        old: dict[int, AESGCM] = {}
        params = []
        for owner, wrapped, version in batch:
            if version not in old:
                old[version] = AESGCM(ring.kek(version))
            owner_text = str(owner)
            raw = unwrap_key(old[version], bytes(wrapped), owner_text, version)
            params.append(
                (
                    wrap_key(new, raw, owner_text, target),
                    target,
                    owner_field.get_db_prep_value(owner, connection),
                    version,
                )
            )
        # The WHERE clause re-checks the row: a data key shredded since it was read (the
        # update waits for that transaction, then sees the NULL) is never given a key back.
        with connection.cursor() as cursor:
            cursor.executemany(_REWRAP_SQL, params)
    return len(batch), batch[-1][0]


# --- Blind-index key ------------------------------------------------------------------


@dataclass(frozen=True)
class IndexRotation:
    from_version: int
    to_version: int
    cursor: str
    resumed: bool


def start_index_rotation(*, settle_seconds: float = SETTLE_SECONDS) -> IndexRotation:
    """Adds the next blind-index version (`index_next`) to the keyring, or finds the one a
    previous run left, and returns where the re-index stands. A fresh start waits
    `settle_seconds` so that every running process writes with the new version before the
    job passes the first row."""
    with keyring_locked():
        ring = reload_keyring()
        if ring.index_next is not None:
            state = _state(RotationKind.INDEX, from_version=ring.index, to_version=ring.index_next)
            return IndexRotation(ring.index, ring.index_next, state.cursor, resumed=True)
        version = max(ring.keys) + 1
        # The exact digests cannot be recomputed (see Keyring.exact_key): pin their version.
        ring = _write(
            ring.replace(
                keys={**ring.keys, version: new_key()}, index_next=version, exact=ring.exact_version
            )
        )
    state = _state(RotationKind.INDEX, from_version=ring.index, to_version=version, reset=True)
    if settle_seconds > 0:
        time.sleep(settle_seconds)
    return IndexRotation(ring.index, version, state.cursor, resumed=False)


def advance_index_rotation(cursor: str, count: int) -> None:
    """Called inside the re-index batch's transaction: the cursor commits with the rows."""
    _advance(RotationKind.INDEX, count, cursor)


def finish_index_rotation() -> Keyring:
    """Every row carries the next version: it becomes the blind-index version."""
    with keyring_locked():
        ring = reload_keyring()
        if ring.index_next is None:
            raise RotationRefused("no blind-index rotation is running")
        ring = _write(ring.replace(index=ring.index_next, index_next=None))
    RotationState.objects.filter(kind=RotationKind.INDEX).update(
        finished_at=timezone.now(), updated_at=timezone.now()
    )
    return ring


# --- Retiring -------------------------------------------------------------------------


def retire_version(version: int) -> Keyring:
    """Removes a version from the keyring file, only once nothing needs it. Backups taken
    while it was in use then open only with the keys folder saved with them."""
    with keyring_locked():
        ring = reload_keyring()
        if version not in ring.keys:
            raise RotationRefused(f"version {version} is not in the keyring")
        uses = ring.uses()[version]
        if uses:
            raise RotationRefused(f"version {version} is still needed for {'; '.join(uses)}")
        wrapped = _wrapped_on(version)
        if wrapped:
            raise RotationRefused(
                f"version {version} still wraps {wrapped} data keys: finish the rotation "
                "(`carnet keys rotate-kek` resumes it) before retiring it"
            )
        keys = {v: k for v, k in ring.keys.items() if v != version}
        return _write(ring.replace(keys=keys))


# --- Progress rows --------------------------------------------------------------------


def _state(kind: str, *, from_version: int, to_version: int, reset: bool = False) -> RotationState:
    now = timezone.now()
    state = RotationState.objects.filter(kind=kind).first()
    if state is None or reset or state.to_version != to_version:
        state, _ = RotationState.objects.update_or_create(
            kind=kind,
            defaults={
                "from_version": from_version,
                "to_version": to_version,
                "cursor": "",
                "done": 0,
                "started_at": now,
                "updated_at": now,
                "finished_at": None,
            },
        )
    return state


def _advance(kind: str, count: int, cursor: str) -> None:
    RotationState.objects.filter(kind=kind).update(
        done=F("done") + count, cursor=cursor, updated_at=timezone.now()
    )
