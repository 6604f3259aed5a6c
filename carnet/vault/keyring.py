"""Key-encryption keys, loaded from a file or the environment, and the purpose keys derived
from them with HKDF. Never writes a key to the database or a log.

Processes cache the keyring, look at the file again (one `stat`) at most every
RECHECK_SECONDS, and read it again at once when they meet a version they do not know: a
rotation run by another process reaches every running process without a restart.
"""

from __future__ import annotations

import base64
import dataclasses
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FORMAT = "carnet-keyring/1"
KEY_BYTES = 32
# A rotation's new version reaches every process within this many seconds (the re-index
# waits a few times this long before it starts, see vault/rotation.py).
RECHECK_SECONDS = 2.0


@dataclass(frozen=True)
class Keyring:
    """Versions of the key-encryption key; `current` wraps new data keys; the blind-index and
    audit keys are derived from the versions named by `index` and `audit`. During a re-index
    `index_next` names the new blind-index version (written with, searched with `index`).
    `exact` pins the version of the full-width exact digests (see `exact_key`)."""

    keys: dict[int, bytes]
    current: int
    index: int
    audit: int
    index_next: int | None = None
    exact: int | None = None

    def kek(self, version: int) -> bytes:
        try:
            return self.keys[version]
        except KeyError:
            raise ImproperlyConfigured(f"key-encryption key version {version} is missing") from None

    def derive(self, purpose: str, version: int) -> bytes:
        return _hkdf(self.kek(version), purpose)

    def index_key_for(self, version: int) -> bytes:
        return self.derive(f"blind-index/v{version}", version)

    @property
    def index_key(self) -> bytes:
        return self.index_key_for(self.index)

    @property
    def index_write_version(self) -> int:
        """New and edited rows are indexed with the next version as soon as a re-index began,
        so that rows the job already passed never fall back to the old key."""
        return self.index_next if self.index_next is not None else self.index

    @property
    def index_search_versions(self) -> tuple[int, ...]:
        if self.index_next is None:
            return (self.index,)
        return (self.index, self.index_next)

    @property
    def exact_version(self) -> int:
        return self.index if self.exact is None else self.exact

    @property
    def exact_key(self) -> bytes:
        # Exact digests stand for values Carnet never stores (a portal account's e-mail is its
        # sign-in name only as a digest), so they cannot be recomputed by a re-index: they
        # stay on the version they were made with.
        return self.index_key_for(self.exact_version)

    @property
    def audit_key(self) -> bytes:
        return self.derive("audit-chain", self.audit)

    def uses(self) -> dict[int, list[str]]:
        """What each version is still needed for, besides the data keys it wraps."""
        needed: dict[int, list[str]] = {version: [] for version in self.keys}
        for version, use in (
            (self.current, "new data keys (current)"),
            (self.index, "blind indexes"),
            (self.index_next, "blind indexes being rebuilt"),
            (self.exact_version, "exact digests (portal sign-in names)"),
            (self.audit, "the audit chain and canary marks"),
        ):
            if version is not None and use not in needed[version]:
                needed[version].append(use)
        return needed

    def replace(self, **changes: object) -> Keyring:
        ring = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        _check(ring)
        return ring

    def document(self) -> dict:
        document: dict = {
            "format": FORMAT,
            "current": self.current,
            "index": self.index,
            "audit": self.audit,
            "keys": {
                str(version): base64.b64encode(key).decode()
                for version, key in sorted(self.keys.items())
            },
        }
        if self.index_next is not None:
            document["index_next"] = self.index_next
        if self.exact is not None:
            document["exact"] = self.exact
        return document


@lru_cache(maxsize=64)
def _hkdf(kek: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"carnet/{purpose}".encode()
    ).derive(kek)


def _decode_key(text: str) -> bytes:
    key = base64.b64decode(text, validate=True)
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured("a key-encryption key must be 32 bytes (base64)")
    return key


def _check(ring: Keyring) -> None:
    for version in (ring.current, ring.index, ring.audit, ring.index_next, ring.exact):
        if version is not None:
            ring.kek(version)


def _optional(document: dict, name: str) -> int | None:
    value = document.get(name)
    return None if value is None else int(value)


def _parse(document: dict) -> Keyring:
    if document.get("format") != FORMAT:
        raise ImproperlyConfigured(f"keyring format must be {FORMAT}")
    keys = {int(version): _decode_key(text) for version, text in document["keys"].items()}
    ring = Keyring(
        keys=keys,
        current=int(document["current"]),
        index=int(document.get("index", document["current"])),
        audit=int(document.get("audit", min(keys))),
        index_next=_optional(document, "index_next"),
        exact=_optional(document, "exact"),
    )
    _check(ring)
    return ring


@dataclass
class _Cache:
    ring: Keyring | None = None
    source: tuple[str, str] = ("", "")
    stamp: tuple[int, ...] | None = None
    checked: float = float("-inf")


_cache = _Cache()
_lock = threading.Lock()


def _source() -> tuple[str, str]:
    return settings.CARNET_KEK, str(settings.CARNET_KEK_FILE)


def _stamp(path: Path) -> tuple[int, ...] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_mode)


def load_keyring() -> Keyring:
    """The installation's keyring. Refuses a key file readable by others."""
    ring = _cache.ring
    if (
        ring is not None
        and time.monotonic() - _cache.checked < RECHECK_SECONDS
        and _cache.source == _source()
    ):
        return ring
    return _refresh(force=False)


def reload_keyring() -> Keyring:
    """Reads the file again now (a version was met that the cached keyring does not hold)."""
    return _refresh(force=True)


def _refresh(*, force: bool) -> Keyring:
    with _lock:
        source = _source()
        env_key, file_name = source
        if env_key:
            if _cache.ring is None or _cache.source != source:
                key = _decode_key(env_key)
                _store(Keyring(keys={1: key}, current=1, index=1, audit=1), source, None)
            _cache.checked = time.monotonic()
            return _cache.ring  # type: ignore[return-value]
        path = Path(file_name)
        stamp = _stamp(path)
        if stamp is None:
            _store(None, source, None)
            raise ImproperlyConfigured(
                f"no key-encryption key at {path}: create one with `carnet keys init` "
                "or set CARNET_KEK_FILE"
            )
        if (
            not force
            and _cache.ring is not None
            and (_cache.source, _cache.stamp)
            == (
                source,
                stamp,
            )
        ):
            _cache.checked = time.monotonic()
            return _cache.ring
        if stamp[3] & 0o077:
            _store(None, source, None)
            raise ImproperlyConfigured(
                f"{path} must not be readable by group or others (chmod 600)"
            )
        ring = _parse(json.loads(path.read_text()))
        _store(ring, source, stamp)
        return ring


def _store(ring: Keyring | None, source: tuple[str, str], stamp: tuple[int, ...] | None) -> None:
    _cache.ring, _cache.source, _cache.stamp = ring, source, stamp
    _cache.checked = time.monotonic() if ring is not None else float("-inf")


def read_keyring_file(path: Path) -> Keyring:
    """A keyring file other than the installation's (a backup's copy), checked like one."""
    return _parse(json.loads(path.read_text()))


def reset_keyring_cache() -> None:
    with _lock:
        _store(None, ("", ""), None)


def keyring_file() -> Path:
    """The keyring file, for the commands that change it (refused for a key from CARNET_KEK)."""
    if settings.CARNET_KEK:
        raise ImproperlyConfigured(
            "CARNET_KEK is set: a key given in the environment cannot be rotated or retired by "
            "Carnet; move it into a keyring file (CARNET_KEK_FILE) first"
        )
    return Path(settings.CARNET_KEK_FILE)


@contextmanager
def keyring_locked() -> Iterator[Path]:
    """Holds the keyring's lock file while a command reads, changes and writes the keyring:
    two rotations started at once must not both add "the next version" with different keys."""
    path = keyring_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle = os.open(path.with_name(f"{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(handle)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def write_keyring_file(path: Path, ring: Keyring) -> None:
    """Replaces the keyring atomically: a temporary file (0600) in the same folder, flushed to
    disk, renamed over the old one, and the folder flushed, so a crash leaves the old keyring
    or the new one, never half of either."""
    _check(ring)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(ring.document(), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_keyring_file(path: Path) -> None:
    """Writes a new keyring with one random key, mode 0600, in a 0700 folder. Never overwrites."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = Keyring(keys={1: new_key()}, current=1, index=1, audit=1).document()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
