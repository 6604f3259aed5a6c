"""Conditional requests: a read answered 304 when the client's copy is current (If-None-Match
with a strong or weak ETag, If-Modified-Since), and what a PUT or POST cannot keep, refused
with 422 rather than silently dropped."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils.http import parse_http_date_safe

from .errors import ApiError
from .registry import Call

# Elements Carnet regenerates itself: never "lost" when a client sends them back.
REGENERATED = {"meta", "text", "id", "resourceType"}


def _tags(header: str) -> set[str]:
    return {t.strip().removeprefix("W/").strip('"') for t in header.split(",") if t.strip()}


def not_modified(call: Call, *, version: str, updated_at: datetime.datetime | None) -> bool:
    """Whether the client's copy is current. If-None-Match (weak comparison, RFC 9110: a
    strong "1" and a weak W/"1" both name version 1) wins over If-Modified-Since."""
    if call.if_none_match:
        tags = _tags(call.if_none_match)
        return "*" in tags or version in tags
    if call.if_modified_since and updated_at is not None:
        since = parse_http_date_safe(call.if_modified_since)
        if since is not None:
            return int(updated_at.timestamp()) <= since
    return False


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Every leaf of a JSON document as a path; an extension's place is its url."""
    if isinstance(value, dict):
        found: set[str] = set()
        for key, item in value.items():
            if key in ("url",) and prefix.endswith("]"):
                continue
            found |= _paths(item, f"{prefix}.{key}" if prefix else key)
        return found or {prefix}
    if isinstance(value, list):
        found = set()
        for index, item in enumerate(value):
            place = f"[{item['url']}]" if isinstance(item, dict) and "url" in item else f"[{index}]"
            found |= _paths(item, prefix + place)
        return found
    return {prefix}


def refuse_unkept(sent: dict[str, Any], kept: dict[str, Any]) -> None:
    """422 naming every element of `sent` that `kept` (what Carnet stored, rendered back) does
    not hold: a client must not believe Carnet keeps what it drops."""
    ours = {p for p in _paths(kept) if p.split(".")[0].split("[")[0] not in REGENERATED}
    theirs = {p for p in _paths(sent) if p.split(".")[0].split("[")[0] not in REGENERATED}
    lost = sorted(theirs - ours)
    if lost:
        shown = ", ".join(lost[:12]) + (" ..." if len(lost) > 12 else "")
        raise ApiError(
            422,
            "processing",
            f"Carnet cannot keep these elements, so nothing was stored: {shown}. Send the "
            "resource without them (GET it to see what Carnet keeps).",
        )
