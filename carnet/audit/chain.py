"""Appending to the audit chains.

Entry hash = HMAC-SHA256(audit key, previous hash + canonical content). The key is derived
from the key-encryption key, so someone holding only the database can neither alter an entry
nor forge a whole new chain; anyone holding the key can verify. Entries spread over several
chains chosen by request id, each with its own locked head, so requests do not queue on one.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from hashlib import sha256

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from carnet.metrics import AUDIT_APPEND
from carnet.vault.keyring import load_keyring

from . import witness
from .models import Anchor, AuditEntry, AuditSubject, ChainHead, Outcome

log = logging.getLogger(__name__)

GENESIS = "0" * 64
SEP = "\x1f"


@dataclass
class Record:
    """What an audit entry says; the chain adds position, time and hashes."""

    actor_id: int | None
    actor: str
    role: str
    action: str
    outcome: str
    request_id: str
    establishment_id: int | None = None
    # Patient ids, or patient id -> what opened it (a care relationship kind, "outside", ...).
    patients: Iterable[object] | Mapping[str, str] = field(default_factory=tuple)
    patient_count: int | None = None
    reason: str = ""
    client_ip: str | None = None


@cache
def _base_mac() -> hmac.HMAC:
    return hmac.new(load_keyring().audit_key, digestmod=sha256)


def reset_cache() -> None:
    _base_mac.cache_clear()


def stamp(at: datetime) -> str:
    # isoformat is several times faster than strftime (verify() calls this per entry); the
    # text stays the one entries were first hashed with: ...T12:00:00.000000Z.
    return at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def canonical(
    chain: int,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor: str,
    role: str,
    establishment_id: int | None,
    action: str,
    outcome: str,
    patients: str,
    patient_count: int,
    reason: str,
    request_id: str,
    client_ip: str | None,
) -> str:
    return SEP.join(
        (
            str(chain),
            str(seq),
            stamp(at),
            "" if actor_id is None else str(actor_id),
            actor,
            role,
            "" if establishment_id is None else str(establishment_id),
            action,
            outcome,
            patients,
            str(patient_count),
            reason,
            request_id,
            client_ip or "",
        )
    )


def entry_hash(prev_hash: str, content: str) -> str:
    mac = _base_mac().copy()
    mac.update(prev_hash.encode())
    mac.update(b"\x1e")
    mac.update(content.encode())
    return mac.hexdigest()


def chain_for(request_id: str) -> int:
    return zlib.crc32(request_id.encode()) % max(1, settings.CARNET_AUDIT_CHAINS)


def _locked_head(chain: int) -> ChainHead:
    head = ChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:
        try:
            with transaction.atomic():
                ChainHead.objects.create(chain=chain, seq=0, hash=GENESIS)
        except IntegrityError:
            pass
        head = ChainHead.objects.select_for_update().get(chain=chain)
    return head


def append(record: Record) -> AuditEntry:
    """Writes one entry (and its per-patient rows) in the caller's transaction."""
    if isinstance(record.patients, Mapping):
        items = sorted((str(p), str(k)) for p, k in record.patients.items())
    else:
        items = [(p, "") for p in sorted({str(p) for p in record.patients})]
    count = len(items) if record.patient_count is None else record.patient_count
    started = time.perf_counter()
    # One transaction with the caller's work, and no savepoint of its own: the entry and the
    # access it records commit or roll back together.
    with transaction.atomic(savepoint=False):
        chain = chain_for(record.request_id)
        head = _locked_head(chain)
        at = timezone.now()
        entry = AuditEntry(
            chain=chain,
            seq=head.seq + 1,
            at=at,
            actor_id=record.actor_id,
            actor=record.actor,
            role=record.role,
            establishment_id=record.establishment_id,
            action=record.action,
            outcome=record.outcome,
            patients=" ".join(f"{p}:{k}" if k else p for p, k in items),
            patient_count=count,
            reason=record.reason,
            request_id=record.request_id,
            client_ip=record.client_ip,
            prev_hash=head.hash,
        )
        entry.hash = entry_hash(head.hash, content_of(entry))
        if connection.vendor == "postgresql":
            entry.id = _write_together(entry, items)
        else:
            entry.save(force_insert=True)
            ChainHead.objects.filter(chain=chain).update(seq=entry.seq, hash=entry.hash)
            if items:
                AuditSubject.objects.bulk_create(
                    AuditSubject(
                        entry_id=entry.id,
                        patient_id=p,
                        relationship=k,
                        actor_id=record.actor_id,
                        at=at,
                    )
                    for p, k in items
                )
    AUDIT_APPEND.observe(time.perf_counter() - started)
    _count_towards_anchor(urgent=record.outcome == Outcome.CONTAINED)
    return entry


# An entry's stored columns, in the order of `canonical` (then its two hashes).
ENTRY_COLUMNS = (
    "chain",
    "seq",
    "at",
    "actor_id",
    "actor",
    "role",
    "establishment_id",
    "action",
    "outcome",
    "patients",
    "patient_count",
    "reason",
    "request_id",
    "client_ip",
    "prev_hash",
    "hash",
)


@cache
def _together_sql() -> str:
    entries = AuditEntry._meta.db_table
    heads = ChainHead._meta.db_table
    subjects = AuditSubject._meta.db_table
    values = ", ".join("%s::inet" if c == "client_ip" else "%s" for c in ENTRY_COLUMNS)
    columns = ", ".join(ENTRY_COLUMNS)
    # Table and column names of Carnet's own models; every value is a parameter.
    entry = f"INSERT INTO {entries} ({columns}) VALUES ({values}) RETURNING id"  # noqa: S608
    head = f"UPDATE {heads} SET seq = %s, hash = %s WHERE chain = %s"  # noqa: S608
    subject = (
        f"INSERT INTO {subjects} (entry_id, patient_id, relationship, actor_id, at) "  # noqa: S608
        "SELECT entry.id, s.patient::uuid, s.relationship, %s, %s "
        "FROM entry, unnest(%s::text[], %s::text[]) AS s (patient, relationship)"
    )
    together = f"WITH entry AS ({entry}), head AS ({head}), subject AS ({subject})"
    return together + " SELECT id FROM entry"  # noqa: S608


def _write_together(entry: AuditEntry, items: list[tuple[str, str]]) -> int:
    """PostgreSQL: the entry, its chain head and its subject rows in one statement (the head
    row is already locked by this transaction)."""
    values = [getattr(entry, column) for column in ENTRY_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(
            _together_sql(),
            [
                *values,
                entry.seq,
                entry.hash,
                entry.chain,
                entry.actor_id,
                entry.at,
                [p for p, _ in items],
                [k for _, k in items],
            ],
        )
        return cursor.fetchone()[0]


class _AnchorClock:
    """When this process writes the next anchor by itself: after so many entries, or so many
    seconds, or at once after a containment (the entry an intruder would most like gone)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries = 0
        self.since = time.monotonic()

    def due(self, urgent: bool) -> bool:
        every = settings.CARNET_AUDIT_ANCHOR_ENTRIES
        seconds = settings.CARNET_AUDIT_ANCHOR_SECONDS
        if not (every or seconds or urgent):
            return False
        with self.lock:
            self.entries += 1
            now = time.monotonic()
            if not (
                urgent
                or (every and self.entries >= every)
                or (seconds and now - self.since >= seconds)
            ):
                return False
            self.entries, self.since = 0, now
            return True


_clock = _AnchorClock()


def _count_towards_anchor(*, urgent: bool) -> None:
    if _clock.due(urgent):
        transaction.on_commit(anchor_quietly)


def anchor_quietly() -> None:
    """An anchor written on the way (after a request's commit): a failure is logged, never
    turned into the request's failure; the scheduler and `carnet audit anchor` write them too."""
    try:
        write_anchor()
    except Exception:
        log.exception("audit anchor not written")


def content_of(entry: AuditEntry) -> str:
    return canonical(
        entry.chain,
        entry.seq,
        entry.at,
        entry.actor_id,
        entry.actor,
        entry.role,
        entry.establishment_id,
        entry.action,
        entry.outcome,
        entry.patients,
        entry.patient_count,
        entry.reason,
        entry.request_id,
        entry.client_ip,
    )


def anchor_hash(prev_hash: str, at: datetime, heads: str) -> str:
    return entry_hash(prev_hash, f"anchor{SEP}{stamp(at)}{SEP}{heads}")


# Any constant: the advisory lock that lets one anchor be written at a time (PostgreSQL;
# SQLite's writes are serialised already).
_ANCHOR_LOCK = 0x43415254


def write_anchor() -> Anchor:
    """Binds every chain head into one anchor, chained to the anchor before, and writes it to
    the witness outside the database once committed. The heads are read, not locked: one
    statement sees them as committed, and appends never wait for an anchor."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ANCHOR_LOCK])
        heads = " ".join(
            f"{chain}:{seq}:{digest}"
            for chain, seq, digest in ChainHead.objects.order_by("chain").values_list(
                "chain", "seq", "hash"
            )
        )
        last = Anchor.objects.order_by("-id").first()
        prev = last.hash if last else GENESIS
        at = timezone.now()
        anchor = Anchor.objects.create(
            at=at, heads=heads, prev_hash=prev, hash=anchor_hash(prev, at, heads)
        )
        transaction.on_commit(
            lambda: witness.witness_anchor(anchor.id, stamp(at), heads, anchor.hash)
        )
    return anchor
