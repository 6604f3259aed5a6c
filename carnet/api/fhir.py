"""FHIR R4 plumbing shared by every resource: the JSON media type, OperationOutcome for errors,
validation of every resource with fhir.resources before it leaves (in the tests and the demo:
CARNET_FHIR_VALIDATE_RESPONSES), and searchset Bundles with
their links. Parameters and bodies are read in params.py; search results are shaped in
search.py. The names below that come from params.py stay importable from here."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse, QueryDict
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from .errors import ApiError
from .params import (  # noqa: F401 (the resource modules' names for them)
    DEFAULT_COUNT,
    MAX_COUNT,
    MAX_OFFSET,
    DateRange,
    Page,
    date_range,
    json_body,
    reference_id,
)

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
FHIR_VERSION = "4.0.1"
COMMON_PARAMETERS = {"_format", "_pretty"}


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, once fhir.resources (R4B models; the R4 resources served here have the
    same shape) accepted it. A failure is Carnet's bug: it never reaches the client."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def _problems(error: Exception) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
        for e in getattr(error, "errors", lambda: [])()
    )


def parse_resource(body: bytes, resource_type: str) -> dict[str, Any]:
    """A client's resource: JSON within the limits, of the expected type, valid FHIR; else
    400 with the reasons, field by field."""
    data = json_body(body)
    if not isinstance(data, dict) or data.get("resourceType") != resource_type:
        raise ApiError(400, "invalid", f"The body must be a {resource_type} resource.")
    try:
        get_fhir_model_class(resource_type).model_validate(data)
    except RecursionError:
        raise ApiError(400, "structure", "The resource nests too deep.") from None
    except Exception as error:  # pydantic's ValidationError: what to fix, field by field
        raise ApiError(
            400, "structure", f"Invalid {resource_type}: {_problems(error) or error}"
        ) from None
    return data


def outcome_resource(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def respond(payload: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    if settings.CARNET_FHIR_VALIDATE_RESPONSES:
        validated(payload)
    response = HttpResponse(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type=f"{FHIR_JSON}; charset=utf-8",
    )
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def outcome(status: int, code: str, diagnostics: str, **headers: str) -> HttpResponse:
    return respond(outcome_resource(code, diagnostics), status=status, **headers)


def instant(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check_parameters(params: QueryDict, allowed: Iterable[str]) -> None:
    """Kept for resource modules not yet moved onto `call.query`: the dispatcher has already
    checked every parameter against the resource's declaration (params.parse), ignoring
    undeclared ones unless the client asked for strict handling."""


def searchset(
    *,
    base: str,
    resource_type: str,
    params: QueryDict | Sequence[tuple[str, str]],
    resources: Sequence[dict[str, Any]],
    page: Page | None = None,
    more: bool = False,
    total: int | None = None,
    outcome_issue: dict[str, Any] | None = None,
    issues: Sequence[dict[str, Any]] = (),
    included: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A searchset Bundle: self, first, previous and next links (offset paging)."""
    if isinstance(params, QueryDict):
        query = [(k, v) for k in params for v in params.getlist(k) if k != "_offset"]
    else:
        query = [(k, v) for k, v in params if k != "_offset"]
    url = f"{base}{resource_type}"

    def link(relation: str, offset: int) -> dict[str, str]:
        pairs = [*query, *([("_offset", str(offset))] if offset else [])]
        return {"relation": relation, "url": url + ("?" + urlencode(pairs) if pairs else "")}

    links = [link("self", page.offset if page else 0)]
    if page is not None:
        links.append(link("first", 0))
        if page.offset and page.count:
            links.append(link("previous", max(0, page.offset - page.count)))
        if more and page.count and page.offset + page.count <= MAX_OFFSET:
            links.append(link("next", page.offset + page.count))
    entries = [
        {
            "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    entries.extend(
        {
            "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "include"},
        }
        for r in included
    )
    all_issues = [*([outcome_issue] if outcome_issue else []), *issues]
    if all_issues:
        entries.append(
            {
                "resource": {"resourceType": "OperationOutcome", "issue": all_issues},
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": instant(timezone.now()),
        "link": links,
        "entry": entries,
    }
    if total is not None:
        bundle["total"] = total
    return bundle
