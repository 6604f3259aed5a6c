"""FHIR R4 plumbing shared by every resource: the JSON media type, OperationOutcome for errors,
validation of every resource with fhir.resources before it leaves, search parameters (dates
with prefixes, references, paging) and searchset Bundles with their links."""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse, QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from fhir.resources.R4B import get_fhir_model_class

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
MAX_COUNT = 50
DEFAULT_COUNT = 20
MAX_OFFSET = 1000
# Parameters any search accepts; anything else unknown is refused, not silently ignored.
COMMON_PARAMETERS = {"_format", "_pretty"}


class ApiError(Exception):
    """An error a client can cause: answered with an OperationOutcome."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, once fhir.resources (R4B models; the R4 resources served here have the
    same shape) accepted it. A failure is Carnet's bug: it never reaches the client."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def parse_resource(body: bytes, resource_type: str) -> dict[str, Any]:
    """A client's resource: JSON, of the expected type, valid FHIR; else 400 with the reasons."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise ApiError(400, "invalid", "The body is not JSON.") from None
    if not isinstance(data, dict) or data.get("resourceType") != resource_type:
        raise ApiError(400, "invalid", f"The body must be a {resource_type} resource.")
    try:
        get_fhir_model_class(resource_type).model_validate(data)
    except Exception as error:  # pydantic's ValidationError: what to fix, field by field
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in getattr(error, "errors", lambda: [])()
        )
        raise ApiError(400, "structure", f"Invalid {resource_type}: {problems or error}") from None
    return data


def outcome_resource(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def respond(payload: dict[str, Any], status: int = 200, **headers: str) -> HttpResponse:
    response = HttpResponse(
        json.dumps(validated(payload), ensure_ascii=False),
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


# --- search parameters -------------------------------------------------------------------

_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_OPERATORS = ((">=", "ge"), ("<=", "le"), (">", "gt"), ("<", "lt"))


@dataclass(frozen=True)
class DateRange:
    start: datetime.datetime | None = None  # inclusive
    end: datetime.datetime | None = None  # exclusive

    def days(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds() / 86400


def _moment(text: str, name: str) -> tuple[datetime.datetime, datetime.datetime]:
    """The span a FHIR date or dateTime value stands for: [first instant, next instant)."""
    day = parse_date(text) if len(text) == 10 else None
    if day is not None:
        first = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
        return first, first + datetime.timedelta(days=1)
    moment = parse_datetime(text) if "T" in text else None
    if moment is None:
        raise ApiError(
            400, "value", f"{name}: {text!r} is not a FHIR date (YYYY-MM-DD) or dateTime."
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, moment + datetime.timedelta(seconds=1)


def date_range(values: Sequence[str], name: str) -> DateRange:
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    for value in values:
        for old, prefix in _OPERATORS:  # DSTU's operators, still sent by some clients
            if value.startswith(old):
                value = prefix + value[len(old) :]
                break
        prefix, text = (value[:2], value[2:]) if value[:2] in _PREFIXES else ("eq", value)
        first, after = _moment(text, name)
        if prefix == "eq":
            start, end = max(filter(None, [start, first])), min(filter(None, [end, after]))
        elif prefix in ("ge", "sa"):
            start = max(filter(None, [start, first if prefix == "ge" else after]))
        elif prefix == "gt":
            start = max(filter(None, [start, after]))
        elif prefix in ("lt", "eb"):
            end = min(filter(None, [end, first]))
        elif prefix == "le":
            end = min(filter(None, [end, after]))
        else:
            raise ApiError(400, "not-supported", f"{name}: the prefix {prefix!r} is not supported.")
    return DateRange(start, end)


def reference_id(value: str, resource_type: str, name: str) -> str:
    """`Type/id`, an absolute URL ending in it, or a bare id."""
    tail = value.rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] != resource_type:
        raise ApiError(400, "value", f"{name} must refer to a {resource_type}.")
    ident = tail[-1]
    if not ident:
        raise ApiError(400, "value", f"{name} is empty.")
    return ident


def check_parameters(params: QueryDict, allowed: Iterable[str]) -> None:
    known = set(allowed) | COMMON_PARAMETERS
    unknown = sorted(
        name
        for name in params
        if name.split(":")[0] not in known
        and name not in known  # modifiers we support are listed with them
    )
    if unknown:
        raise ApiError(
            400,
            "not-supported",
            f"Unsupported search parameter(s): {', '.join(unknown)}. "
            f"Supported here: {', '.join(sorted(known - COMMON_PARAMETERS))}.",
        )


def _integer(params: QueryDict, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "value", f"{name} must be a whole number.") from None
    if not low <= value <= high:
        raise ApiError(400, "value", f"{name} must be between {low} and {high}.")
    return value


@dataclass(frozen=True)
class Page:
    offset: int
    count: int

    @classmethod
    def of(cls, params: QueryDict) -> Page:
        return cls(
            offset=_integer(params, "_offset", 0, 0, MAX_OFFSET),
            count=_integer(params, "_count", DEFAULT_COUNT, 1, MAX_COUNT),
        )

    def window(self, items: Sequence[Any]) -> tuple[list[Any], bool]:
        """This page's items and whether more follow (items holds at least one more)."""
        chunk = list(items[self.offset : self.offset + self.count + 1])
        return chunk[: self.count], len(chunk) > self.count

    @property
    def end(self) -> int:
        return self.offset + self.count + 1


def searchset(
    *,
    base: str,
    resource_type: str,
    params: QueryDict,
    resources: Sequence[dict[str, Any]],
    page: Page | None = None,
    more: bool = False,
    total: int | None = None,
    outcome_issue: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A searchset Bundle: self, first, previous and next links (offset paging)."""
    query = [(k, v) for k in params for v in params.getlist(k) if k not in ("_offset",)]
    url = f"{base}{resource_type}"

    def link(relation: str, offset: int) -> dict[str, str]:
        pairs = [*query, *([("_offset", str(offset))] if offset else [])]
        return {"relation": relation, "url": url + ("?" + urlencode(pairs) if pairs else "")}

    links = [link("self", page.offset if page else 0)]
    if page is not None:
        links.append(link("first", 0))
        if page.offset:
            links.append(link("previous", max(0, page.offset - page.count)))
        if more and page.offset + page.count <= MAX_OFFSET:
            links.append(link("next", page.offset + page.count))
    entries = [
        {
            "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    if outcome_issue is not None:
        entries.append(
            {
                "resource": {"resourceType": "OperationOutcome", "issue": [outcome_issue]},
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
