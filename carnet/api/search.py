"""Search results as clients expect them, the same way for every resource: `_id` and
`_lastUpdated` filters, `_sort`, paging with links, `Bundle.total` where it is cheap,
`_include` through each type's resolver (which opens patients through the guard), and the
`_summary` / `_elements` shaping of reads and searches. Handlers build their resources (from
the domains' selectors) and hand them to `searchset_of` (a list) or `searchset_rows` (database
rows, paged in the database)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db.models import QuerySet
from fhir.resources.R4B import get_fhir_model_class

from . import systems as S
from .fhir import searchset
from .params import DateRange, Query
from .registry import REGISTRY, RESOLVERS, Call, Result

SUBSETTED_TAG = S.SUBSETTED


def last_updated(resource: dict[str, Any]) -> str:
    return (resource.get("meta") or {}).get("lastUpdated", "")


def _in_span(resource: dict[str, Any], span: DateRange) -> bool:
    text = last_updated(resource)
    if not text:
        return False
    return span.holds(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")))


def _sorted(
    resources: list[dict[str, Any]], query: Query, resource_type: str
) -> list[dict[str, Any]]:
    keys = REGISTRY[resource_type].sortable if resource_type in REGISTRY else {}
    for name, descending in reversed(query.sort):
        key = keys.get(name)
        if key is None:
            continue
        # Resources without the value sort last, whatever the direction.
        present = [r for r in resources if key(r) not in (None, "")]
        missing = [r for r in resources if key(r) in (None, "")]
        resources = sorted(present, key=key, reverse=descending) + missing
    return resources


def _ignored_issue(query: Query) -> list[dict[str, Any]]:
    if not query.ignored:
        return []
    return [
        {
            "severity": "information",
            "code": "not-supported",
            "diagnostics": (
                f"Ignored (not supported here): {', '.join(query.ignored)}. Send "
                "Prefer: handling=strict to have them refused instead."
            ),
        }
    ]


def searchset_of(
    call: Call,
    resource_type: str,
    resources: Sequence[dict[str, Any]],
    *,
    issues: Sequence[dict[str, Any] | None] = (),
) -> Result:
    """A search whose matches are all in hand: filtered, sorted, paged, counted."""
    query = call.query or _lenient(call, resource_type)
    found = list(resources)
    if query.ids:
        found = [r for r in found if r.get("id") in set(query.ids)]
    if query.last_updated.given:
        found = [r for r in found if _in_span(r, query.last_updated)]
    found = _sorted(found, query, resource_type)
    chunk, more = query.page.window(found)
    total = None if query.total == "none" else len(found)
    return _bundle(call, resource_type, query, chunk, more, total, issues)


def searchset_rows(
    call: Call,
    resource_type: str,
    rows: QuerySet | Sequence[Any],
    render: Callable[[Any], dict[str, Any]],
    *,
    order: dict[str, str] | None = None,
    id_field: str = "pk",
    valid_id: Callable[[str], bool] = str.isdigit,
    count: bool = True,
    issues: Sequence[dict[str, Any] | None] = (),
    prepare: Callable[[list[Any]], None] | None = None,
) -> Result:
    """A search paged in the database: `order` maps `_sort` names to fields; the total is
    counted when `count` says it is cheap (bounded sets) and the client did not decline.
    `prepare` sees the page's rows before they are rendered (to open what they need at once)."""
    query = call.query or _lenient(call, resource_type)
    if isinstance(rows, QuerySet):
        if query.ids:
            rows = rows.filter(**{f"{id_field}__in": [i for i in query.ids if valid_id(i)]})
        fields = [
            ("-" if descending else "") + order[name]
            for name, descending in query.sort
            if order and name in order
        ]
        if fields:
            rows = rows.order_by(*fields, "pk")
    chunk, more = query.page.window(rows)
    if prepare is not None:
        prepare(chunk)
    total = None
    if (count and query.total != "none") or query.summary == "count":
        total = rows.count() if isinstance(rows, QuerySet) else len(rows)
    return _bundle(call, resource_type, query, [render(r) for r in chunk], more, total, issues)


def _lenient(call: Call, resource_type: str) -> Query:
    from .params import parse

    definition = REGISTRY.get(resource_type)
    return parse(
        call.params,
        definition.search if definition else (),
        resource_type=resource_type,
        sortable=definition.sortable if definition else (),
        includes=definition.includes if definition else (),
    )


def _bundle(
    call: Call,
    resource_type: str,
    query: Query,
    chunk: list[dict[str, Any]],
    more: bool,
    total: int | None,
    issues: Sequence[dict[str, Any] | None],
) -> Result:
    included, left_out = included_for(call, resource_type, query, chunk)
    bundle = searchset(
        base=call.base,
        resource_type=resource_type,
        params=query.applied(),
        resources=chunk,
        page=query.page,
        more=more,
        total=total,
        issues=[i for i in issues if i] + left_out + _ignored_issue(query),
        included=included,
    )
    return 200, bundle, {}


def included_for(
    call: Call, resource_type: str, query: Query, chunk: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The resources `_include` asks for, each type through its resolver (a Patient only
    when the guard hands it over within the reader's relationships), and an issue naming
    how many were left out."""
    definition = REGISTRY.get(resource_type)
    if not query.includes or definition is None or not chunk:
        return [], []
    wanted: dict[str, list[str]] = {}
    for include in query.includes:
        extract = definition.includes.get(include.parameter)
        if extract is None:
            continue
        for resource in chunk:
            for reference in extract(resource):
                kind, _, ident = reference.partition("/")
                if include.target and kind != include.target:
                    continue
                if ident and ident not in wanted.setdefault(kind, []):
                    wanted[kind].append(ident)
    seen = {(r["resourceType"], r["id"]) for r in chunk}
    found: list[dict[str, Any]] = []
    left = 0
    for kind, ids in wanted.items():
        resolver = RESOLVERS.get(kind)
        ids = [i for i in ids if (kind, i) not in seen]
        if resolver is None or not ids:
            continue
        resources, missing = resolver(call, ids)
        left += len(missing)
        for resource in resources:
            if (resource["resourceType"], resource["id"]) not in seen:
                seen.add((resource["resourceType"], resource["id"]))
                found.append(resource)
    issues = []
    if left:
        issues.append(
            {
                "severity": "information",
                "code": "suppressed",
                "diagnostics": (
                    f"{left} referenced resource(s) left out of _include: patients outside your "
                    "care relationships are not included (read them one by one, through the "
                    "guard)."
                ),
            }
        )
    return found, issues


# --- _summary and _elements ------------------------------------------------------------------


@cache
def _fields(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary elements, mandatory elements) of a resource type, by their JSON names."""
    model = get_fhir_model_class(resource_type)
    summary, mandatory = set(), set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        alias = info.alias or name
        if not isinstance(extra, dict) or not extra.get("element_property"):
            continue
        if extra.get("summary_element_property"):
            summary.add(alias)
        if info.is_required() or extra.get("element_required"):
            mandatory.add(alias)
    return frozenset(summary), frozenset(mandatory)


def _subsetted(resource: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    shaped = {k: v for k, v in resource.items() if k in keep or k in ("resourceType", "id")}
    meta = dict(shaped.get("meta") or {})
    tags = [t for t in meta.get("tag", []) if t.get("code") != SUBSETTED_TAG["code"]]
    meta["tag"] = [*tags, SUBSETTED_TAG]
    shaped["meta"] = meta
    return shaped


def shape(resource: dict[str, Any], query: Query | None) -> dict[str, Any]:
    """A resource as `_summary` or `_elements` asks (marked SUBSETTED when cut)."""
    if query is None or resource.get("resourceType") in ("OperationOutcome", "Bundle"):
        return resource
    kind = resource["resourceType"]
    summary, mandatory = _fields(kind)
    if query.summary == "true":
        return _subsetted(resource, set(summary | mandatory))
    if query.summary == "text":
        return _subsetted(resource, {"text", "meta", *mandatory})
    if query.summary == "data":
        return {k: v for k, v in resource.items() if k != "text"}
    if query.elements:
        wanted = {e for e in query.elements}
        return _subsetted(resource, {*wanted, *mandatory, "meta"})
    return resource


def shape_payload(payload: dict[str, Any], query: Query | None) -> dict[str, Any]:
    """Shapes a read's resource, or every resource of a searchset Bundle."""
    if query is None or not (query.summary or query.elements):
        return payload
    if payload.get("resourceType") != "Bundle":
        return shape(payload, query)
    entries = payload.get("entry", [])
    if query.summary == "count":
        entries = [e for e in entries if e.get("search", {}).get("mode") == "outcome"]
    return {
        **payload,
        "entry": [
            {**e, "resource": shape(e["resource"], query)} if "resource" in e else e
            for e in entries
        ],
    }
