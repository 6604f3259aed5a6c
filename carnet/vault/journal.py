"""The shred journal: whose data keys were destroyed, and when, kept OUTSIDE the database (next
to the keyring, and copied with it by `carnet backup`), so that a database restored from a
backup taken before is shredded again before anyone uses it (`carnet restore` replays it).

Owner ids and times only, one JSON line each, appended under a file lock and flushed to disk
before the shredding commits: a crash may leave an owner journaled whose key survived (the
replay shreds it, as was decided), never the reverse. Each line carries a keyed MAC chained to
the line before (key derived from the keyring), so a line taken out of the middle shows.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from .keyring import load_keyring, sync_folder
from .models import DataKey

NAME = "shred-journal.jsonl"
GENESIS = "0" * 64
# A line is about 150 bytes; the tail read to find the last MAC covers several.
TAIL_BYTES = 4096


def journal_path() -> Path:
    """CARNET_SHRED_JOURNAL, or beside the keyring file, or under var/keys for a key given
    in the environment."""
    configured = getattr(settings, "CARNET_SHRED_JOURNAL", "")
    if configured:
        return Path(configured)
    if not settings.CARNET_KEK and settings.CARNET_KEK_FILE:
        return Path(settings.CARNET_KEK_FILE).with_name(NAME)
    return Path(settings.VAR_DIR) / "keys" / NAME


def _key() -> bytes:
    ring = load_keyring()
    return ring.derive("shred-journal", ring.audit)


def _mac(key: bytes, previous: str, owner: str, at: str) -> str:
    return hmac.new(key, f"{previous}|{owner}|{at}".encode(), sha256).hexdigest()


def _last_mac(handle: int) -> str:
    size = os.fstat(handle).st_size
    if size == 0:
        return GENESIS
    start = max(0, size - TAIL_BYTES)
    tail = os.pread(handle, size - start, start).decode()
    lines = [line for line in tail.splitlines() if line.strip()]
    return json.loads(lines[-1])["mac"] if lines else GENESIS


def record(owners: Iterable[object], *, path: Path | None = None) -> int:
    """Appends one line per owner and flushes them to disk; returns how many."""
    owners = [str(owner) for owner in owners]
    if not owners:
        return 0
    path = path or journal_path()
    created = not path.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = _key()
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        previous = _last_mac(handle)
        lines = []
        for owner in owners:
            previous = _mac(key, previous, owner, at)
            lines.append(json.dumps({"owner": owner, "at": at, "mac": previous}) + "\n")
        os.write(handle, "".join(lines).encode())
        os.fsync(handle)
    finally:
        os.close(handle)
    if created:
        sync_folder(path.parent)
    return len(owners)


@dataclass
class JournalContents:
    entries: dict[str, datetime] = field(default_factory=dict)
    lines: int = 0
    broken: list[str] = field(default_factory=list)


def read(paths: Iterable[Path]) -> JournalContents:
    """Every owner in the journals (earliest time each), and the lines whose MAC is wrong."""
    contents = JournalContents()
    key = _key()
    for path in paths:
        if not path.exists():
            continue
        previous = GENESIS
        with path.open() as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                contents.lines += 1
                try:
                    item = json.loads(line)
                    owner, at, mac = str(item["owner"]), str(item["at"]), str(item["mac"])
                    when = datetime.fromisoformat(at)
                except (ValueError, KeyError, TypeError):
                    contents.broken.append(f"{path}:{number}: unreadable line")
                    continue
                if not hmac.compare_digest(mac, _mac(key, previous, owner, at)):
                    contents.broken.append(
                        f"{path}:{number}: MAC does not follow the line before "
                        "(a line removed or altered)"
                    )
                previous = mac
                if owner not in contents.entries or when < contents.entries[owner]:
                    contents.entries[owner] = when
    return contents


@dataclass(frozen=True)
class Replay:
    journaled: int
    shredded_now: list[str]
    broken: list[str]


def replay(paths: Iterable[Path], *, batch_size: int = 1000) -> Replay:
    """Shreds again, in this database, every owner the journals name (their data keys'
    tombstones keep the journal's time). Owners whose key is already gone are left alone."""
    contents = read(paths)
    owners = sorted(contents.entries)
    owner_field = DataKey._meta.get_field("owner")
    at_field = DataKey._meta.get_field("shredded_at")
    shredded: list[str] = []
    for start in range(0, len(owners), batch_size):
        chunk = owners[start : start + batch_size]
        with transaction.atomic():
            live = [
                str(owner)
                for owner in DataKey.objects.filter(
                    owner__in=chunk, wrapped__isnull=False
                ).values_list("owner", flat=True)
            ]
            with connection.cursor() as cursor:
                cursor.executemany(
                    "UPDATE vault_datakey SET wrapped = NULL, shredded_at = %s WHERE owner = %s",
                    [
                        (
                            at_field.get_db_prep_value(contents.entries[owner], connection),
                            owner_field.get_db_prep_value(owner, connection),
                        )
                        for owner in live
                    ],
                )
        shredded += live
    return Replay(len(owners), shredded, contents.broken)
