"""Data keys: create, fetch (unwrapped, cached in the opening scope), shred (journaled
outside the database first, see journal.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from . import journal
from .keyring import load_keyring, reload_keyring
from .models import DataKey
from .scope import current_scope, require
from .sealing import associated_data, new_data_key, seal, unseal, unwrap_key, wrap_key


class Shredded(Exception):
    """The owner's data key was destroyed: their sealed values are gone for good."""


def prepare_data_key(owner: object) -> DataKey:
    """A new wrapped data key row for `owner` (not saved: callers bulk-insert them). The raw
    key stays in the current scope so values can be sealed before the row is written."""
    owner_text = str(owner)
    ring = load_keyring()
    raw = new_data_key()
    scope = current_scope()
    if scope is not None:
        scope.keys[owner_text] = raw
    return DataKey(
        owner=owner,
        wrapped=wrap_key(ring.kek(ring.current), raw, owner_text, ring.current),
        kek_version=ring.current,
    )


def create_data_key(owner: object) -> DataKey:
    row = prepare_data_key(owner)
    row.save(force_insert=True)
    return row


def _unwrap(row: DataKey) -> bytes:
    return _unwrap_parts(str(row.owner), row.wrapped, row.kek_version)


def _unwrap_parts(owner: str, wrapped: Any, kek_version: int) -> bytes:
    if wrapped is None:
        raise Shredded(owner)
    ring = load_keyring()
    if kek_version not in ring.keys:
        # Another process rotated the key-encryption key since this one read the keyring.
        ring = reload_keyring()
    return unwrap_key(ring.kek(kek_version), bytes(wrapped), owner, kek_version)


def data_key(owner: str) -> bytes:
    scope = require(owner)
    key = scope.keys.get(owner)
    if key is None:
        primed = scope.wrapped.pop(owner, None)
        if primed is not None:
            key = _unwrap_parts(owner, *primed)
        else:
            row = DataKey.objects.filter(owner=owner).first()
            if row is None:
                raise Shredded(owner)
            key = _unwrap(row)
        scope.keys[owner] = key
    return key


# Annotation names set by `with_wrapped_keys` on the owners' rows.
WRAPPED, KEK_VERSION = "vault_wrapped", "vault_kek_version"


def with_wrapped_keys(queryset: QuerySet, owner: str = "pk") -> QuerySet:
    """The owners' rows with their wrapped data key (and its KEK version) in the same
    statement, for `prime`: opening their values then needs no query of its own."""
    row = DataKey.objects.filter(owner=OuterRef(owner))
    return queryset.annotate(
        **{
            WRAPPED: Subquery(row.values("wrapped")[:1]),
            KEK_VERSION: Subquery(row.values("kek_version")[:1]),
        }
    )


def prime(owner: str, row: object) -> None:
    """Keeps the wrapped key read with `row` (see `with_wrapped_keys`) for this scope. Nothing
    is unwrapped, and nothing opens, until the guard admits the owner."""
    scope = current_scope()
    version = getattr(row, KEK_VERSION, None)
    if scope is None or owner in scope.keys or version is None:
        # No key row at all (never created): looked up, and refused, as before.
        return
    scope.wrapped[owner] = (getattr(row, WRAPPED), version)


def preload(owners: Iterable[str]) -> None:
    """Unwraps the keys of many admitted owners in one query (search result pages); keys
    primed with their rows are unwrapped when first used instead."""
    scope = current_scope()
    if scope is None:
        return
    wanted = [
        o for o in owners if o not in scope.keys and o not in scope.wrapped and scope.admits(o)
    ]
    if not wanted:
        return
    for row in DataKey.objects.filter(owner__in=wanted):
        if row.wrapped is not None:
            scope.keys[str(row.owner)] = _unwrap(row)


def _cipher(owner: str) -> AESGCM:
    scope = require(owner)
    cipher = scope.ciphers.get(owner)
    if cipher is None:
        cipher = scope.ciphers[owner] = AESGCM(data_key(owner))
    return cipher


def seal_value(owner: str, place: str, plaintext: str) -> bytes:
    return seal(_cipher(owner), plaintext.encode(), associated_data(owner, place))


def open_value(owner: str, place: str, blob: bytes) -> str:
    return unseal(_cipher(owner), blob, associated_data(owner, place)).decode()


def seal_bytes(owner: str, place: str, content: bytes) -> bytes:
    """Binary content (a document) sealed with its owner's data key, bound to its place."""
    return seal(_cipher(owner), content, associated_data(owner, place))


def open_bytes(owner: str, place: str, blob: bytes) -> bytes:
    return unseal(_cipher(owner), blob, associated_data(owner, place))


def shred(owner: object) -> bool:
    """Destroys the owner's data key. Every sealed value of theirs becomes unreadable."""
    return bool(shred_many([owner]))


def shred_many(owners: Iterable[object]) -> int:
    """Destroys the data keys of many owners: journaled (and flushed to disk) first, so that
    backups taken before are shredded again when restored; the rows stay as tombstones
    (`wrapped` NULL, `shredded_at` set). Returns how many keys were destroyed now."""
    owners = [str(owner) for owner in owners]
    scope = current_scope()
    if scope is not None:
        for owner in owners:
            scope.keys.pop(owner, None)
            scope.ciphers.pop(owner, None)
    live = list(
        DataKey.objects.filter(owner__in=owners, wrapped__isnull=False).values_list(
            "owner", flat=True
        )
    )
    if not live:
        return 0
    journal.record(live)
    return DataKey.objects.filter(owner__in=live, wrapped__isnull=False).update(
        wrapped=None, shredded_at=timezone.now()
    )
