"""Search criteria as the audit records them: which criteria a search used, and for each
identifying value (a name, a birth date, a NIR, an IPP) a keyed digest instead of the value.
The key comes from the keyring, outside the database: whoever holds the database or a backup
learns nothing from the digest; a security officer with the installation's keys can check
whether a given value was searched (`criteria_digest`)."""

from __future__ import annotations

from collections.abc import Iterable

from carnet.vault.blind import exact_index, normalise

DIGEST_HEX = 16  # 64 bits: enough to recognise a value, nothing to read back


def criteria_digest(name: str, value: str) -> str:
    return exact_index(f"audit.criterion.{name}", normalise(value))[:DIGEST_HEX]


def describe_criteria(criteria: Iterable[tuple[str, str, bool]]) -> str:
    """`name=value` for values that may stay in clear, `name=#digest` for the others."""
    parts = []
    for name, value, clear in criteria:
        shown = value if clear else "#" + criteria_digest(name.split(":")[0], value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)
