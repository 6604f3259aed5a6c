"""Blind indexes: keyed HMAC-SHA256 of a normalised value, truncated to a few bits.

The key is derived from the key-encryption key (HKDF) and never stored. Truncation is on
purpose: each index value stands for many different plaintexts, so a stolen database shows
buckets, not values. The caller picks the width for its population and filters the
candidates after opening them. While a re-index runs, rows are written with the next key
version and searched with both (`search_versions`).
"""

from __future__ import annotations

import hmac
import unicodedata
from functools import lru_cache
from hashlib import sha256

from .keyring import load_keyring


@lru_cache(maxsize=65536)
def normalise(value: str) -> str:
    """Upper case, accents removed, only A-Z and 0-9 kept: 'Le Gall-Hervé' -> 'LEGALLHERVE'."""
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in stripped.upper() if ch.isascii() and ch.isalnum())


@lru_cache(maxsize=8)
def _base_mac(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=sha256)


def reset_cache() -> None:
    _base_mac.cache_clear()
    _index.cache_clear()


def write_version() -> int:
    """The version new and edited rows are indexed with."""
    return load_keyring().index_write_version


def search_versions() -> tuple[int, ...]:
    """The versions a search must try: one, or two while a re-index runs."""
    return load_keyring().index_search_versions


def blind_index(kind: str, value: str, bits: int, version: int | None = None) -> int:
    """An integer of `bits` bits (at most 31, so it fits any integer column), with the key of
    `version` (default: the version rows are written with)."""
    if not 1 <= bits <= 31:
        raise ValueError("a blind index is 1 to 31 bits wide")
    ring = load_keyring()
    key = ring.index_key_for(ring.index_write_version if version is None else version)
    return _index(key, kind, value, bits)


# Names and dates repeat across patients; the cache is keyed by the key itself, so a new
# version never meets an old version's digests.
@lru_cache(maxsize=65536)
def _index(key: bytes, kind: str, value: str, bits: int) -> int:
    mac = _base_mac(key).copy()
    mac.update(kind.encode() + b"\x00" + value.encode())
    return int.from_bytes(mac.digest()[:4], "big") >> (32 - bits)


def exact_index(kind: str, value: str) -> str:
    """A full-width keyed digest (hex) for exact, unique lookups of an identifying value
    (a patient's sign-in e-mail): the database holds it, never the value. Its key version is
    pinned (see Keyring.exact_key): a re-index cannot recompute what was never stored."""
    mac = _base_mac(load_keyring().exact_key).copy()
    mac.update(b"exact\x00" + kind.encode() + b"\x00" + value.encode())
    return mac.hexdigest()
