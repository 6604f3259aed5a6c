"""The audit's witness: every anchor's chain heads, written OUTSIDE the database, in an
append-only file beside the keyring (or `CARNET_AUDIT_WITNESS`), each line chained to the one
before by a keyed MAC (key derived from the keyring). Whoever holds only the database can
rewrite its tables, heads and anchors included, but not this file: `carnet audit verify`
compares the two, so a truncated chain, a deleted anchor or a wiped log is named.

Lines are JSON: an anchor (`id`, `at`, `heads`, `hash`), a restore (the database was put back
from a backup: anchors after `anchor` are no longer expected), or a verification checkpoint
(`verified`: everything up to that anchor was walked and found sound, so the next walk can
start there). Written after the anchor's transaction commits: a crash in between leaves the
newest anchor unwitnessed, never a witnessed anchor that the database never had.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import os
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

from django.conf import settings

from carnet.vault.keyring import load_keyring, sync_folder

NAME = "audit-witness.jsonl"
GENESIS = "0" * 64
TAIL_BYTES = 65536


def witness_path() -> Path:
    """CARNET_AUDIT_WITNESS, or beside the keyring file, or under var/keys for a key given in
    the environment."""
    configured = getattr(settings, "CARNET_AUDIT_WITNESS", "")
    if configured:
        return Path(configured)
    if not settings.CARNET_KEK and settings.CARNET_KEK_FILE:
        return Path(settings.CARNET_KEK_FILE).with_name(NAME)
    return Path(settings.VAR_DIR) / "keys" / NAME


def _key() -> bytes:
    ring = load_keyring()
    return ring.derive("audit-witness", ring.audit)


def _mac(key: bytes, previous: str, body: dict[str, Any]) -> str:
    content = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, f"{previous}|{content}".encode(), sha256).hexdigest()


def _last_mac(handle: int) -> str:
    size = os.fstat(handle).st_size
    if size == 0:
        return GENESIS
    start = max(0, size - TAIL_BYTES)
    tail = os.pread(handle, size - start, start).decode()
    lines = [line for line in tail.splitlines() if line.strip()]
    return json.loads(lines[-1])["mac"] if lines else GENESIS


def _append(body: dict[str, Any], path: Path | None = None) -> None:
    path = path or witness_path()
    created = not path.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = _key()
    handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        mac = _mac(key, _last_mac(handle), body)
        os.write(handle, (json.dumps({**body, "mac": mac}, sort_keys=True) + "\n").encode())
        os.fsync(handle)
    finally:
        os.close(handle)
    if created:
        sync_folder(path.parent)


def witness_anchor(anchor_id: int, at: str, heads: str, digest: str) -> None:
    _append({"kind": "anchor", "id": anchor_id, "at": at, "heads": heads, "hash": digest})


def witness_restore(anchor_id: int, at: str) -> None:
    """The database was restored from a backup whose newest anchor is `anchor_id` (0: none):
    what the witness saw after it is gone with the restore, on purpose."""
    _append({"kind": "restore", "anchor": anchor_id, "at": at})


def witness_verified(anchor_id: int, heads: str, anchor_hash: str, at: str) -> None:
    _append(
        {
            "kind": "verified",
            "anchor": anchor_id,
            "anchor_hash": anchor_hash,
            "heads": heads,
            "at": at,
        }
    )


@dataclass
class Witnessed:
    """What the witness file says the database must still hold."""

    anchors: dict[int, dict[str, Any]] = field(default_factory=dict)
    checkpoint: dict[str, Any] | None = None
    lines: int = 0
    broken: list[str] = field(default_factory=list)
    exists: bool = False


def read(path: Path | None = None) -> Witnessed:
    path = path or witness_path()
    seen = Witnessed()
    if not path.exists():
        return seen
    seen.exists = True
    key = _key()
    previous = GENESIS
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            seen.lines += 1
            try:
                item = json.loads(line)
                mac = str(item.pop("mac"))
                kind = item["kind"]
            except (ValueError, KeyError, TypeError, AttributeError):
                seen.broken.append(f"{path}:{number}: unreadable line")
                continue
            if not hmac.compare_digest(mac, _mac(key, previous, item)):
                seen.broken.append(
                    f"{path}:{number}: MAC does not follow the line before "
                    "(a line removed, altered or inserted)"
                )
            previous = mac
            if kind == "anchor":
                seen.anchors[int(item["id"])] = item
            elif kind == "restore":
                kept = int(item["anchor"])
                seen.anchors = {i: a for i, a in seen.anchors.items() if i <= kept}
                if seen.checkpoint and int(seen.checkpoint["anchor"]) > kept:
                    seen.checkpoint = None
            elif kind == "verified":
                seen.checkpoint = item
    return seen
