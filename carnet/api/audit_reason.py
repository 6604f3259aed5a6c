"""What a FHIR request's audit entry says about it, structurally: the interaction, the type,
Carnet's id when one is read, and the criteria of a search with each identifying value as a
keyed digest (carnet/guard/criteria.py) — never the query string, which would leave a NIR, a
name or a birth date in clear in the audit table, its dumps and its backups."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.http import QueryDict

from carnet.guard.criteria import describe_criteria

from .params import RESULT_PARAMETERS

MAX_REASON = 400
# Values kept as they are: how the search is shaped, and Carnet's own ids.
_CLEAR = {*RESULT_PARAMETERS, "_id", "_lastUpdated"}
# Carnet's own ids: a UUID (and a card's suffix), a number, a slot's agenda and start.
_OWN_ID = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.[a-z]+\.\d+)?"
    r"|\d+(-\d+)?|\d+-\d{8}T\d{4}Z)$"
)


def _criteria(params: QueryDict, clear: Iterable[str]) -> str:
    shown = set(clear) | _CLEAR
    return describe_criteria(
        (key, value, key.split(":")[0] in shown and len(value) <= 80)
        for key in params
        for value in params.getlist(key)
    )


def describe(
    *,
    method: str,
    interaction: str,
    resource_type: str,
    resource_id: str,
    params: QueryDict,
    clear: Iterable[str],
    client: str,
    if_none_exist: str = "",
) -> str:
    if resource_id and not _OWN_ID.match(resource_id):
        resource_id = "#" + describe_criteria([("id", resource_id, False)]).partition("#")[2]
    what = f"{resource_type}/{resource_id}" if resource_id else resource_type
    text = f"FHIR {method} {what} {interaction}"
    criteria = _criteria(params, clear)
    if criteria:
        text += f" [{criteria}]"
    if if_none_exist:
        text += f" if-none-exist [{_criteria(QueryDict(if_none_exist), clear)}]"
    return f"{text[:MAX_REASON]} (client {client[:60]})"
