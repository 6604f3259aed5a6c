"""Blind indexes: keyed HMAC-SHA256 of a normalised value, truncated to a few bits.

The key is derived from the key-encryption key (HKDF) and never stored. Truncation is on
purpose: each index value stands for many different plaintexts, so a stolen database shows
buckets, not values. The caller picks the width for its population and filters the
candidates after opening them.
"""

from __future__ import annotations

import hmac
import unicodedata
from functools import cache, lru_cache
from hashlib import sha256

from .keyring import load_keyring


@lru_cache(maxsize=65536)
def normalise(value: str) -> str:
    """Upper case, accents removed, only A-Z and 0-9 kept: 'Le Gall-Hervé' -> 'LEGALLHERVE'."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in stripped.upper() if ch.isascii() and ch.isalnum())


@cache
def _base_mac() -> hmac.HMAC:
    return hmac.new(load_keyring().index_key, digestmod=sha256)


def reset_cache() -> None:
    _base_mac.cache_clear()
    _index.cache_clear()


def blind_index(kind: str, value: str, bits: int) -> int:
    """An integer of `bits` bits (at most 31, so it fits any integer column)."""
    if not 1 <= bits <= 31:
        raise ValueError("a blind index is 1 to 31 bits wide")
    return _index(kind, value, bits)


# Names and dates repeat across patients; the cache dies with the process and with the key.
@lru_cache(maxsize=65536)
def _index(kind: str, value: str, bits: int) -> int:
    mac = _base_mac().copy()
    mac.update(kind.encode() + b"\x00" + value.encode())
    return int.from_bytes(mac.digest()[:4], "big") >> (32 - bits)


def exact_index(kind: str, value: str) -> str:
    """A full-width keyed digest (hex) for exact, unique lookups of an identifying value
    (a patient's sign-in e-mail): the database holds it, never the value."""
    mac = _base_mac().copy()
    mac.update(b"exact\x00" + kind.encode() + b"\x00" + value.encode())
    return mac.hexdigest()
