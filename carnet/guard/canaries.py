"""Canaries: synthetic patients that look like every other patient. Each patient row carries a
16-byte mark: random for real patients, a keyed HMAC of the patient id for canaries, so which
rows are canaries cannot be read from the database without the keys."""

from __future__ import annotations

import hmac
import secrets
from functools import cache
from hashlib import sha256

from carnet.vault.keyring import load_keyring

MARK_BYTES = 16


@cache
def _key() -> bytes:
    ring = load_keyring()
    return ring.derive("canary", ring.audit)


def reset_cache() -> None:
    _key.cache_clear()


def _expected(patient_id: str) -> bytes:
    return hmac.new(_key(), str(patient_id).encode(), sha256).digest()[:MARK_BYTES]


def mark_for(patient_id: object, *, canary: bool) -> bytes:
    return _expected(str(patient_id)) if canary else secrets.token_bytes(MARK_BYTES)


def is_canary(patient_id: str, mark: bytes | None) -> bool:
    return mark is not None and hmac.compare_digest(bytes(mark), _expected(patient_id))
