"""Blind-index widths for patient search, and the keys of one identity.

Widths are chosen so that, at the scale Carnet targets (15 million patients), one index value
stands for many plaintexts and many rows, while a combined query still returns few candidates:

- birth date, 12 bits (4,096 buckets): about 36,500 plausible dates share them, ~9 dates per
  bucket; ~3,700 patients per bucket at 15 M, ~240 at 1 M.
- surname prefix (first 3 letters), 10 bits (1,024 buckets): ~17,500 possible prefixes,
  ~17 per bucket.
- prefix AND date together: 2^22 combinations, so ~3.6 random candidates per query at 15 M
  (0.24 at 1 M) besides the true matches, all opened and filtered in the application.
- full surname, 16 bits: well over a million French surnames, ~20 per bucket; ~230 patients
  per bucket at 15 M (used to find duplicates, not to list patients).
- NIR, 20 bits: a NIR is unique, so a bucket holds ~14 patients at 15 M (~1 at 1 M): equal
  buckets no longer mean equal numbers.
- IPP, 20 bits: same reasoning as the NIR, within the identifiers table.
"""

from __future__ import annotations

import datetime

from carnet.vault.blind import blind_index, normalise, search_versions

BIRTH_DATE_BITS = 12
PREFIX_BITS = 10
PREFIX_LETTERS = 3
SURNAME_BITS = 16
NIR_BITS = 20
IPP_BITS = 20

# Rows are written with one key version (`version=None`: the keyring's write version). While
# a re-index runs (carnet/patients/reindex.py) some rows still carry the old version and some
# the new one, so searches ask for the keys of both (the `*_keys` functions): a few more
# candidates, all opened and filtered anyway.


def surname_key(surname: str, version: int | None = None) -> int:
    return blind_index("surname", normalise(surname), SURNAME_BITS, version)


def prefix_key(surname: str, version: int | None = None) -> int:
    return blind_index("surname-prefix", normalise(surname)[:PREFIX_LETTERS], PREFIX_BITS, version)


def birth_date_key(day: datetime.date, version: int | None = None) -> int:
    return blind_index("birth-date", day.isoformat(), BIRTH_DATE_BITS, version)


def nir_key(nir: str, version: int | None = None) -> int:
    return blind_index("nir", normalise(nir), NIR_BITS, version)


def ipp_key(establishment_id: int, ipp: str, version: int | None = None) -> int:
    return blind_index("ipp", f"{establishment_id}:{normalise(ipp)}", IPP_BITS, version)


def surname_keys(surname: str) -> list[int]:
    return sorted({surname_key(surname, v) for v in search_versions()})


def prefix_keys(surname: str) -> list[int]:
    return sorted({prefix_key(surname, v) for v in search_versions()})


def birth_date_keys(day: datetime.date) -> list[int]:
    return sorted({birth_date_key(day, v) for v in search_versions()})


def nir_keys(nir: str) -> list[int]:
    return sorted({nir_key(nir, v) for v in search_versions()})


def ipp_keys(establishment_id: int, ipp: str) -> list[int]:
    return sorted({ipp_key(establishment_id, ipp, v) for v in search_versions()})


def identity_keys(
    *,
    birth_surname: str,
    used_surname: str | None,
    birth_date: datetime.date,
    nir: str | None,
    version: int | None = None,
) -> dict[str, int | None]:
    used = used_surname or birth_surname
    return {
        "bi_birth_surname": surname_key(birth_surname, version),
        "bi_used_surname": surname_key(used, version),
        "bi_birth_prefix": prefix_key(birth_surname, version),
        "bi_used_prefix": prefix_key(used, version),
        "bi_birth_date": birth_date_key(birth_date, version),
        "bi_nir": nir_key(nir, version) if nir else None,
    }
