"""The one place a FHIR request's input is read: every query parameter and every body. A value
that cannot be read answers 400 with an OperationOutcome (never a server error); parameters a
resource does not declare are ignored, and listed in the Bundle, unless the client asked for
`Prefer: handling=strict`. Handlers never touch the raw query string: they ask a `Query`.

How a resource adopts it (see carnet/api/README.md, "Writing a resource"):

    SEARCH = (
        SearchParameter("patient", "reference", "Patient/<id> (required).", target="Patient"),
        SearchParameter("date", "date", "When it happened (ge/lt...).", clear=True),
        SearchParameter("code", "token", "LOINC code."),
    )

    def search(call: Call) -> Result:
        patient = call.query.reference("patient")       # "" when absent
        span = call.query.dates("date")                 # DateRange (start/end or None)
        codes = call.query.tokens("code")               # [Token(system, code), ...]
        return searchset_of(call, "Observation", resources)   # carnet/api/search.py

`clear=True` marks a parameter whose values may be written in the audit entry as they are
(dates, statuses, Carnet's own ids); every other value is recorded as a keyed digest.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict
from django.utils import timezone

from .errors import ApiError

DEFAULT_COUNT = 20
MAX_COUNT = 50
MAX_OFFSET = 1000
# Limits on what a client may send: enough for any real search or resource, far from what
# would cost the server (a body nested thousands deep made Python's decoder recurse).
MAX_VALUE_LENGTH = 1024
MAX_VALUES = 64
MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_DEPTH = 32
MAX_INCLUDES = 4
MAX_IDS = 10

SUMMARY = ("true", "false", "text", "data", "count")
TOTAL = ("none", "estimate", "accurate")
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
SUPPORTED_PREFIXES = ("eq", "gt", "lt", "ge", "le", "sa", "eb")
_OPERATORS = ((">=", "ge"), ("<=", "le"), (">", "gt"), ("<", "lt"))
# Search result parameters (FHIR R4 3.1.1.5.x) every search accepts, read here once.
RESULT_PARAMETERS = (
    "_count",
    "_offset",
    "_summary",
    "_elements",
    "_total",
    "_sort",
    "_include",
    "_format",
    "_pretty",
)
# Parameters every search declares and search.py applies: the audit may keep their values.
COMMON_SEARCH = ("_id", "_lastUpdated")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class Token:
    system: str | None  # None: no system given; "": explicitly no system (`|code`)
    code: str


@dataclass(frozen=True)
class DateRange:
    start: datetime.datetime | None = None  # inclusive
    end: datetime.datetime | None = None  # exclusive

    @property
    def given(self) -> bool:
        return self.start is not None or self.end is not None

    def days(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds() / 86400

    def holds(self, moment: datetime.datetime | None) -> bool:
        """Whether a moment falls in the range; a missing moment only in no range at all."""
        if moment is None:
            return not self.given
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment < self.end
        )


@dataclass(frozen=True)
class Include:
    source: str  # the resource type searched
    parameter: str  # the search parameter whose references are followed
    target: str = ""  # a type the references must have, if given


@dataclass(frozen=True)
class Page:
    offset: int
    count: int

    @classmethod
    def of(cls, params: QueryDict) -> Page:
        return cls(
            offset=integer(params.get("_offset") or "0", "_offset", 0, MAX_OFFSET),
            count=integer(params.get("_count") or str(DEFAULT_COUNT), "_count", 1, MAX_COUNT),
        )

    def window(self, items: Sequence[Any]) -> tuple[list[Any], bool]:
        """This page's items and whether more follow (items holds at least one more)."""
        chunk = list(items[self.offset : self.offset + self.count + 1])
        return chunk[: self.count], len(chunk) > self.count

    @property
    def end(self) -> int:
        return self.offset + self.count + 1


def _invalid(name: str, text: str) -> ApiError:
    return ApiError(400, "value", f"{name}: {text}")


def clean_value(name: str, value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise _invalid(name, f"at most {MAX_VALUE_LENGTH} characters.")
    if _CONTROL.search(value):
        raise _invalid(name, "control characters (NUL...) are refused in parameters.")
    return value


# --- values of each type -----------------------------------------------------------------


def moment_span(text: str, name: str) -> tuple[datetime.datetime, datetime.datetime]:
    """The span a FHIR date, partial date or dateTime stands for: [first instant, next).
    A well-formed but impossible date (February 30th, month 13) is a client's error."""
    if not _DATE.match(text):
        raise _invalid(
            name, f"{text!r} is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD) or dateTime."
        )
    try:
        if len(text) == 4:
            first = datetime.datetime(int(text), 1, 1)  # noqa: DTZ001 (made aware below)
            after = first.replace(year=first.year + 1)
        elif len(text) == 7:
            first = datetime.datetime(int(text[:4]), int(text[5:7]), 1)  # noqa: DTZ001
            after = (first + datetime.timedelta(days=32)).replace(day=1)
        elif len(text) == 10:
            day = datetime.date.fromisoformat(text)
            first = datetime.datetime.combine(day, datetime.time.min)
            after = first + datetime.timedelta(days=1)
        else:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            precision = datetime.timedelta(seconds=1 if text.count(":") >= 2 else 60)
            return moment, moment + precision
    except (ValueError, OverflowError):
        raise _invalid(name, f"{text!r} is not a date that exists.") from None
    if first.year < 1800 or first.year > 2999:
        raise _invalid(name, f"{text!r} is out of range (years 1800 to 2999).")
    return timezone.make_aware(first), timezone.make_aware(after)


def date_range(values: Iterable[str], name: str) -> DateRange:
    """Every value of a date parameter, ANDed (`date=ge2026-01-01&date=lt2026-02-01`)."""
    start: datetime.datetime | None = None
    end: datetime.datetime | None = None
    for raw in values:
        value = clean_value(name, raw.strip())
        for old, prefix in _OPERATORS:  # DSTU's operators, still sent by some clients
            if value.startswith(old):
                value = prefix + value[len(old) :]
                break
        prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
        if prefix not in SUPPORTED_PREFIXES:
            raise ApiError(400, "not-supported", f"{name}: the prefix {prefix!r} is not supported.")
        first, after = moment_span(text, name)
        if prefix == "eq":
            start = max(filter(None, [start, first]))
            end = min(filter(None, [end, after]))
        elif prefix == "ge":
            start = max(filter(None, [start, first]))
        elif prefix in ("gt", "sa"):
            start = max(filter(None, [start, after]))
        elif prefix in ("lt", "eb"):
            end = min(filter(None, [end, first]))
        elif prefix == "le":
            end = min(filter(None, [end, after]))
    return DateRange(start, end)


def reference_id(value: str, resource_type: str, name: str) -> str:
    """`Type/id`, an absolute URL ending in it, or a bare id; the id's syntax is FHIR's."""
    tail = clean_value(name, value).strip().rstrip("/").split("/")
    if resource_type and len(tail) >= 2 and tail[-2] != resource_type:
        raise _invalid(name, f"must refer to a {resource_type}.")
    ident = tail[-1]
    if not _ID.match(ident):
        raise _invalid(name, f"{ident!r} is not a FHIR id.")
    return ident


def token(value: str, name: str) -> Token:
    value = clean_value(name, value)
    system, bar, code = value.rpartition("|")
    if not code.strip():
        raise _invalid(name, "the code is empty.")
    return Token(system if bar else None, code.strip())


def integer(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(clean_value(name, value))
    except ValueError:
        raise _invalid(name, "must be a whole number.") from None
    if not low <= number <= high:
        raise _invalid(name, f"must be between {low} and {high}.")
    return number


def _split(values: Iterable[str]) -> list[str]:
    """Comma-separated values (FHIR's OR), with `\\,` for a comma inside a value."""
    found = []
    for value in values:
        found.extend(part.replace("\\,", ",") for part in re.split(r"(?<!\\),", value) if part)
    return found


# --- the query -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """What a parser needs of a search parameter (registry.SearchParameter has these)."""

    name: str
    type: str
    target: str = ""
    modifiers: tuple[str, ...] = ()


_VALIDATORS = {
    "date": lambda value, p: moment_span(
        next(
            (value[2:] for prefix in PREFIXES if value.startswith(prefix)),
            next((value[len(o) :] for o, _ in _OPERATORS if value.startswith(o)), value),
        ),
        p.name,
    ),
    "number": lambda value, p: integer(value, p.name, 0, 10**9),
    "reference": lambda value, p: (
        reference_id(value, p.target or value.split("/")[0], p.name)
        if p.target
        else clean_value(p.name, value)
    ),
    "token": lambda value, p: token(value, p.name),
    "string": lambda value, p: clean_value(p.name, value),
}


@dataclass
class Query:
    """A search's parameters, checked once by `parse`, read by handlers through typed
    getters. `ignored` lists what the resource does not declare (lenient handling)."""

    raw: QueryDict
    declared: dict[str, Declared]
    strict: bool = False
    page: Page = field(default_factory=lambda: Page(0, DEFAULT_COUNT))
    summary: str = ""
    elements: tuple[str, ...] = ()
    total: str = ""
    sort: tuple[tuple[str, bool], ...] = ()  # (parameter, descending)
    includes: tuple[Include, ...] = ()
    ignored: tuple[str, ...] = ()
    used: dict[str, list[str]] = field(default_factory=dict)  # key (with modifier) -> values

    # Typed getters for the resource's own parameters.

    def values(self, name: str) -> list[str]:
        return [v for key, values in self.used.items() if key.split(":")[0] == name for v in values]

    def has(self, name: str) -> bool:
        return bool(self.values(name))

    def modifier(self, name: str) -> str:
        return next((key.partition(":")[2] for key in self.used if key.split(":")[0] == name), "")

    def text(self, name: str) -> str:
        values = self.values(name)
        return values[0].strip() if values else ""

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in _split(self.values(name)) if v.strip()]

    def tokens(self, name: str) -> list[Token]:
        return [token(v, name) for v in _split(self.values(name))]

    def token(self, name: str) -> Token | None:
        found = self.tokens(name)
        return found[0] if found else None

    def reference(self, name: str, target: str = "") -> str:
        found = self.references(name, target)
        return found[0] if found else ""

    def references(self, name: str, target: str = "") -> list[str]:
        wanted = target or self.declared[name].target if name in self.declared else target
        return [reference_id(v, wanted, name) for v in _split(self.values(name))]

    def dates(self, name: str) -> DateRange:
        return date_range(self.values(name), name)

    def number(self, name: str, default: int, low: int, high: int) -> int:
        text = self.text(name)
        return integer(text, name, low, high) if text else default

    # The common search parameters.

    @property
    def ids(self) -> list[str]:
        return [reference_id(v, "", "_id") for v in _split(self.values("_id"))]

    @property
    def last_updated(self) -> DateRange:
        return self.dates("_lastUpdated")

    def applied(self) -> list[tuple[str, str]]:
        """The parameters the search used, for the Bundle's self link."""
        kept = [(k, v) for k, values in self.used.items() for v in values]
        for name in RESULT_PARAMETERS:
            if name in ("_offset", "_format", "_pretty"):
                continue
            kept.extend((name, v) for v in self.raw.getlist(name))
        return kept


def _declared(parameters: Iterable[Any]) -> dict[str, Declared]:
    found = {
        p.name: Declared(
            p.name, p.type, getattr(p, "target", ""), tuple(getattr(p, "modifiers", ()))
        )
        for p in parameters
    }
    found.setdefault("_id", Declared("_id", "token"))
    return found


def parse(
    params: QueryDict,
    parameters: Iterable[Any],
    *,
    resource_type: str,
    strict: bool = False,
    sortable: Iterable[str] = (),
    includes: Iterable[str] = (),
) -> Query:
    """Checks every parameter of a search (or read) once; 400 for what cannot be read."""
    declared = _declared(parameters)
    if sum(len(params.getlist(k)) for k in params) > MAX_VALUES:
        raise ApiError(400, "too-costly", f"At most {MAX_VALUES} parameter values.")
    query = Query(raw=params, declared=declared, strict=strict)
    ignored: list[str] = []
    for key in params:
        values = [clean_value(key, v) for v in params.getlist(key)]
        name, _, modifier = key.partition(":")
        if name in RESULT_PARAMETERS:
            continue
        spec = declared.get(name)
        if spec is None:
            ignored.append(key)
            continue
        if modifier and modifier not in spec.modifiers:
            raise ApiError(
                400,
                "not-supported",
                f"{key}: the modifier :{modifier} is not supported on {name}"
                + (f" (supported: {', '.join(spec.modifiers)})." if spec.modifiers else "."),
            )
        for value in values:
            if not value.strip():
                continue
            for part in _split([value]) if spec.type != "date" else [value]:
                _VALIDATORS.get(spec.type, _VALIDATORS["string"])(part.strip(), spec)
        kept = [v for v in values if v.strip()]
        if kept:
            query.used[key] = kept
    if ignored and strict:
        raise ApiError(
            400,
            "not-supported",
            f"Unsupported search parameter(s) for {resource_type}: {', '.join(sorted(ignored))} "
            "(Prefer: handling=strict). See /fhir/metadata.",
        )
    query.ignored = tuple(sorted(ignored))
    query.page = Page(
        offset=integer(params.get("_offset") or "0", "_offset", 0, MAX_OFFSET),
        count=integer(params.get("_count") or str(DEFAULT_COUNT), "_count", 0, MAX_COUNT),
    )
    query.summary = _one_of(params, "_summary", SUMMARY)
    if query.summary == "count":
        query.page = Page(query.page.offset, 0)
    query.total = _one_of(params, "_total", TOTAL)
    query.elements = tuple(e.strip() for e in _split(params.getlist("_elements")) if e.strip())
    for element in query.elements:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", element):
            raise _invalid("_elements", f"{element!r} is not an element name.")
    query.sort = _sort(params, set(sortable), strict)
    query.includes = _includes(params, resource_type, set(includes), strict)
    return query


def _one_of(params: QueryDict, name: str, allowed: Sequence[str]) -> str:
    value = (params.get(name) or "").strip()
    if value and value not in allowed:
        raise _invalid(name, f"one of {', '.join(allowed)}.")
    return value


def _sort(params: QueryDict, sortable: set[str], strict: bool) -> tuple[tuple[str, bool], ...]:
    rules = []
    for part in _split(params.getlist("_sort")):
        part = part.strip()
        descending = part.startswith("-")
        name = part.removeprefix("-")
        if name not in sortable:
            if strict:
                raise ApiError(
                    400,
                    "not-supported",
                    f"_sort: {name!r} is not a sort order here"
                    + (f" (supported: {', '.join(sorted(sortable))})." if sortable else "."),
                )
            continue
        rules.append((name, descending))
    return tuple(rules)


def _includes(
    params: QueryDict, resource_type: str, allowed: set[str], strict: bool
) -> tuple[Include, ...]:
    found = []
    for value in params.getlist("_include") + params.getlist("_include:iterate"):
        parts = value.strip().split(":")
        if len(parts) not in (2, 3) or parts[0] != resource_type:
            raise _invalid("_include", f"{value!r}: {resource_type}:<search parameter>[:<type>].")
        if parts[1] not in allowed:
            if strict:
                raise ApiError(
                    400,
                    "not-supported",
                    f"_include: {value!r} is not supported"
                    + (f" (supported: {', '.join(sorted(allowed))})." if allowed else "."),
                )
            continue
        found.append(Include(parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
    if len(found) > MAX_INCLUDES:
        raise ApiError(400, "too-costly", f"_include: at most {MAX_INCLUDES}.")
    return tuple(found)


# --- headers ---------------------------------------------------------------------------------


def prefer(header: str) -> dict[str, str]:
    """RFC 7240 preferences: `handling=strict`, `respond-async`, `return=minimal`."""
    found = {}
    for part in header.split(","):
        for item in part.split(";"):
            name, _, value = item.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip().strip('"').lower()
    return found


# --- bodies ----------------------------------------------------------------------------------


def _depth(data: Any) -> int:
    """How deep a decoded JSON document nests, without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_BODY_DEPTH:
            return level
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def json_body(body: bytes, *, what: str = "The body") -> Any:
    """A client's JSON document, within the size and nesting limits; 400/413 otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "too-costly", f"{what} is larger than {MAX_BODY_BYTES} bytes.")
    try:
        data = json.loads(body or b"null")
    except RecursionError:
        raise ApiError(400, "structure", f"{what} nests deeper than {MAX_BODY_DEPTH}.") from None
    except ValueError:
        raise ApiError(400, "invalid", f"{what} is not JSON (UTF-8).") from None
    if _depth(data) > MAX_BODY_DEPTH:
        raise ApiError(400, "structure", f"{what} nests deeper than {MAX_BODY_DEPTH}.")
    return data
