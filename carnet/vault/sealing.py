"""AES-256-GCM sealing of values and wrapping of data keys, from `cryptography`'s primitives.

A sealed value binds its owner and its place (model and field) as associated data, so a
value copied to another row or column fails to open. Plaintext is padded to 16 bytes (PKCS7)
so that ciphertext length says little about the value.
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VALUE_FORMAT = b"\x01"
NONCE_BYTES = 12


class SealBroken(Exception):
    """The value does not open with this key at this place: altered, moved or shredded."""


def associated_data(owner: str, place: str) -> bytes:
    return f"carnet|{place}|{owner}".encode()


def seal(key: bytes | AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """`key` may be an AESGCM already built for it (one per patient, many fields)."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    nonce = secrets.token_bytes(NONCE_BYTES)
    return VALUE_FORMAT + nonce + cipher.encrypt(nonce, padded, aad)


def unseal(key: bytes | AESGCM, blob: bytes, aad: bytes) -> bytes:
    if blob[:1] != VALUE_FORMAT:
        raise SealBroken("unknown sealed value format")
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce, ciphertext = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
    try:
        padded = cipher.decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise SealBroken("sealed value does not open here") from None
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def wrap_key(kek: bytes | AESGCM, data_key: bytes, owner: str, version: int) -> bytes:
    return seal(kek, data_key, associated_data(owner, f"data-key/v{version}"))


def unwrap_key(kek: bytes | AESGCM, wrapped: bytes, owner: str, version: int) -> bytes:
    return unseal(kek, wrapped, associated_data(owner, f"data-key/v{version}"))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)
