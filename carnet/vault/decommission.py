"""Destroying every key of an installation, and the signed certificate that says so.

Every data key row is shredded and the storage compacted; the keyring file, the shred journal
and the keys folders written by `carnet backup` are overwritten with random bytes, flushed and
deleted. The certificate is signed with an Ed25519 key made for it alone: its public half is
printed and written beside the certificate, its private half is never written anywhere.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import journal
from .keyring import load_keyring, reset_keyring_cache, sync_folder
from .models import DataKey

CERTIFICATE_FORMAT = "carnet-decommission/1"
KEY_BACKUPS = "key-backups.txt"
KEYRING_COPY = "keyring.json"


def _keys_folder() -> Path:
    return journal.journal_path().parent


def record_key_backup(folder: Path) -> None:
    """Remembers, outside the database, where `carnet backup` put a copy of the keys, so that
    decommissioning destroys it too."""
    registry = _keys_folder() / KEY_BACKUPS
    registry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = os.open(registry, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(handle, f"{folder.resolve()}\n".encode())
        os.fsync(handle)
    finally:
        os.close(handle)


def recorded_key_backups() -> list[Path]:
    registry = _keys_folder() / KEY_BACKUPS
    if not registry.exists():
        return []
    return [Path(line) for line in dict.fromkeys(registry.read_text().splitlines()) if line]


def live_data_keys() -> int:
    return DataKey.objects.filter(wrapped__isnull=False).count()


def destroy_data_keys(
    *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> int:
    """Shreds every data key row (tombstones stay), then compacts the storage so the old
    wrapped keys do not linger in free pages or dead row versions."""
    destroyed = 0
    now = timezone.now()
    while True:
        with transaction.atomic():
            owners = list(
                DataKey.objects.filter(wrapped__isnull=False).values_list("owner", flat=True)[
                    :batch_size
                ]
            )
            if not owners:
                break
            DataKey.objects.filter(owner__in=owners).update(wrapped=None, shredded_at=now)
        destroyed += len(owners)
        if progress:
            progress(len(owners))
    _compact()
    return destroyed


def _compact() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        elif connection.vendor == "postgresql":
            cursor.execute("VACUUM FULL vault_datakey")


def overwrite_and_delete(path: Path) -> bool:
    """Random bytes over the whole file, flushed, then the file removed. On copy-on-write or
    flash storage the old blocks may survive the overwrite: the keys are gone from every
    place Carnet knows, and the medium itself is the operator's to destroy."""
    if not path.is_file():
        return False
    size = path.stat().st_size
    handle = os.open(path, os.O_WRONLY)
    try:
        os.write(handle, os.urandom(max(size, 1)))
        os.fsync(handle)
    finally:
        os.close(handle)
    path.unlink()
    sync_folder(path.parent)
    return True


@dataclass
class DestroyedKeys:
    versions: list[int] = field(default_factory=list)
    from_environment: bool = False
    files: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    backups_not_found: list[str] = field(default_factory=list)


def destroy_key_files() -> DestroyedKeys:
    """Overwrites and deletes the keyring, the shred journal, the record of key backups and
    every keys folder that record names (their keyring and journal copies)."""
    ring = load_keyring()
    destroyed = DestroyedKeys(
        versions=sorted(ring.keys), from_environment=bool(settings.CARNET_KEK)
    )
    backups = recorded_key_backups()
    candidates = [journal.journal_path(), _keys_folder() / KEY_BACKUPS]
    if not settings.CARNET_KEK:
        keyring = Path(settings.CARNET_KEK_FILE)
        candidates += [
            keyring,
            keyring.with_name(f"{keyring.name}.lock"),
            *keyring.parent.glob(f".{keyring.name}.*.tmp"),
        ]
    for path in candidates:
        if overwrite_and_delete(path):
            destroyed.files.append(str(path))
    for folder in backups:
        found = [overwrite_and_delete(folder / name) for name in (KEYRING_COPY, journal.NAME)]
        (destroyed.backups if any(found) else destroyed.backups_not_found).append(str(folder))
    reset_keyring_cache()
    return destroyed


def _canonical(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_key_text(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass(frozen=True)
class Certificate:
    path: Path
    public_key_path: Path
    public_key: str


def write_certificate(payload: dict, folder: Path) -> Certificate:
    """Signs `payload` with a fresh Ed25519 key (forgotten when this returns)."""
    payload = {"format": CERTIFICATE_FORMAT, **payload}
    private = Ed25519PrivateKey.generate()
    public = public_key_text(private.public_key())
    signature = base64.b64encode(private.sign(_canonical(payload))).decode()
    del private
    folder.mkdir(parents=True, exist_ok=True)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"decommission-{stamp}.json"
    document = {"certificate": payload, "signature": signature, "public_key": public}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    public_path = path.with_suffix(".pub")
    public_path.write_text(public + "\n")
    return Certificate(path, public_path, public)


class CertificateInvalid(Exception):
    pass


def verify_certificate(path: Path, public_key: str = "") -> dict:
    """The certified payload, or CertificateInvalid. The key checked against is the one given
    (the key printed at decommissioning), else the one written beside the certificate."""
    try:
        document = json.loads(path.read_text())
        payload, signature = document["certificate"], base64.b64decode(document["signature"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CertificateInvalid(f"not a decommissioning certificate: {error}") from None
    if not public_key:
        beside = path.with_suffix(".pub")
        public_key = beside.read_text().strip() if beside.exists() else ""
    if not public_key:
        raise CertificateInvalid("no public key: give the one printed at decommissioning")
    if document.get("public_key") != public_key:
        raise CertificateInvalid("the certificate names another public key than the one given")
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key))
        key.verify(signature, _canonical(payload))
    except (ValueError, InvalidSignature):
        raise CertificateInvalid("the signature does not match the certificate") from None
    return payload
