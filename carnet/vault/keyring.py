"""Key-encryption keys, loaded from a file or the environment, and the purpose keys derived
from them with HKDF. Never writes a key to the database or a log."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FORMAT = "carnet-keyring/1"
KEY_BYTES = 32


@dataclass(frozen=True)
class Keyring:
    """Versions of the key-encryption key; `current` wraps new data keys; the blind-index and
    audit keys are derived from the versions named by `index` and `audit`."""

    keys: dict[int, bytes]
    current: int
    index: int
    audit: int

    def kek(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise ImproperlyConfigured(f"key-encryption key version {version} is missing") from None

    def derive(self, purpose: str, version: int) -> bytes:
        return HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=f"carnet/{purpose}".encode(),
        ).derive(self.kek(version))

    @property
    def index_key(self) -> bytes:
        return self.derive(f"blind-index/v{self.index}", self.index)

    @property
    def audit_key(self) -> bytes:
        return self.derive("audit-chain", self.audit)


def _decode_key(text: str) -> bytes:
    key = base64.b64decode(text, validate=True)
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured("a key-encryption key must be 32 bytes (base64)")
    return key


def _parse(document: dict) -> Keyring:
    if document.get("format") != FORMAT:
        raise ImproperlyConfigured(f"keyring format must be {FORMAT}")
    keys = {int(version): _decode_key(text) for version, text in document["keys"].items()}
    ring = Keyring(
        keys=keys,
        current=int(document["current"]),
        index=int(document.get("index", document["current"])),
        audit=int(document.get("audit", min(keys))),
    )
    for version in (ring.current, ring.index, ring.audit):
        ring.kek(version)
    return ring


@cache
def load_keyring() -> Keyring:
    """The installation's keyring. Refuses a key file readable by others."""
    if settings.CARNET_KEK:
        key = _decode_key(settings.CARNET_KEK)
        return Keyring(keys={1: key}, current=1, index=1, audit=1)
    path = Path(settings.CARNET_KEK_FILE)
    if not path.exists():
        raise ImproperlyConfigured(
            f"no key-encryption key at {path}: create one with `carnet keys init` "
            "or set CARNET_KEK_FILE"
        )
    if path.stat().st_mode & 0o077:
        raise ImproperlyConfigured(f"{path} must not be readable by group or others (chmod 600)")
    return _parse(json.loads(path.read_text()))


def reset_keyring_cache() -> None:
    load_keyring.cache_clear()


def create_keyring_file(path: Path) -> None:
    """Writes a new keyring with one random key, mode 0600, in a 0700 folder. Never overwrites."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = {
        "format": FORMAT,
        "current": 1,
        "index": 1,
        "audit": 1,
        "keys": {"1": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()},
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
