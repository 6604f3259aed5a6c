"""The FHIR endpoints themselves, fuzzed over HTTP on a live server on 127.0.0.1, with the
CapabilityStatement as their description: for every resource type it lists, searches built
from its declared parameters (each with values of its type and values that are not: impossible
dates, unknown prefixes, references to other types, control characters, very long strings),
the result parameters (_sort, _include, _summary, _elements, _total, _count), reads of odd ids,
creates with odd bodies (wrong types, deep nesting, huge), and Accept / _format / Prefer
headers. Never a server error; every error is an OperationOutcome; every success parses with
fhir.resources. Hypothesis draws the cases (a seed is printed on failure)."""

import json
import string

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.guard.policy import Role

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .fhir_clients import smart

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = 60

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_dates = st.one_of(
    st.dates().map(str),
    st.sampled_from(["2026-02-30", "2026-13-01", "2026-00-10", "0000-01-01", "9999-12-31"]),
    st.sampled_from(["2026", "2026-05", "2026-05-17T10:00", "2026-05-17T25:61:00Z", "T"]),
    st.tuples(
        st.sampled_from(["ge", "lt", "le", "gt", "eq", "ap", "ne", "sa", ">=", "<"]), st.dates()
    ).map(lambda t: f"{t[0]}{t[1]}"),
    _text,
)
_tokens = st.one_of(
    _text,
    st.tuples(_text, _text).map("|".join),
    st.sampled_from(["urn:oid:1.2.250.1.213.1.4.8|280057512345674", "|", "a|b|c", "x\x00y"]),
)
_references = st.one_of(
    _text,
    st.sampled_from(["Patient/", "Patient/x/y", "Practitioner/1", "Schedule/99999", "/", "1"]),
    st.uuids().map(lambda u: f"Patient/{u}"),
)
VALUES = {"date": _dates, "token": _tokens, "reference": _references, "string": _text}
RESULT = {
    "_count": st.one_of(st.integers(-5, 200).map(str), _text),
    "_offset": st.one_of(st.integers(-5, 5000).map(str), _text),
    "_summary": st.sampled_from(["true", "false", "text", "data", "count", "x"]),
    "_total": st.sampled_from(["none", "estimate", "accurate", "x"]),
    "_elements": st.one_of(st.sampled_from(["id", "name,birthDate", "status,start"]), _text),
    "_sort": st.one_of(st.sampled_from(["date", "-date", "family", "birthdate", "x"]), _text),
    "_format": st.sampled_from(["json", "application/fhir+json", "xml", "text/html"]),
}


def _deep(depth: int) -> str:
    return '{"resourceType":"Patient","extension":' + "[" * depth + "]" * depth + "}"


_bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(["resourceType", "name", "birthDate", "gender", "id", "x"]),
        st.one_of(_text, st.integers(), st.lists(_text, max_size=3)),
        max_size=5,
    ).map(json.dumps),
    st.sampled_from([_deep(50), _deep(5000), "[]", "null", "{", '"x"', "{}" * 10]),
    _text,
)


@pytest.fixture
def world(live_server, establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    agenda_with_hours(establishment, practitioner_for(doctor))
    patient = make_patient(establishment, birth_surname="FUZZED")
    UserFactory(username="svc.fuzz", role=Role.SECRETARY, establishments=[establishment])
    service = smart.backend("svc.fuzz", scopes="system/*.cruds")
    answer = requests.post(
        f"{live_server.url}/fhir/oauth/token/",
        data={"grant_type": "client_credentials", "scope": "system/*.cruds"},
        auth=(service.client_id, service.client_secret),
        timeout=30,
    )
    statement = requests.get(f"{live_server.url}/fhir/metadata", timeout=30).json()
    return {
        "base": f"{live_server.url}/fhir/",
        "headers": {"Authorization": f"Bearer {answer.json()['access_token']}"},
        "resources": statement["rest"][0]["resource"],
        "patient": patient,
    }


@pytest.fixture(autouse=True)
def _patient_refusals(monkeypatch):
    """The fuzzer is refused a lot (odd ids are 404s): it must not contain its own account
    half way, or the rest would only ever meet a 401."""
    monkeypatch.setattr("carnet.guard.boundary.REFUSALS_PER_HOUR", 10**6)


SEEN: list[int] = []


def _check(response: requests.Response, what: str) -> None:
    SEEN.append(response.status_code)
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:300]}"
    kind = response.headers.get("Content-Type", "")
    if response.status_code in (204, 304) or not kind.startswith("application/fhir+json"):
        assert response.status_code < 400 or kind.startswith("application/fhir+json"), what
        return
    payload = response.json()
    get_fhir_model_class(payload["resourceType"]).model_validate(payload)
    if response.status_code >= 400:
        assert payload["resourceType"] == "OperationOutcome", what


def test_searches_from_the_capability_statement_never_fail(world):
    resources = [
        r for r in world["resources"] if any(i["code"] == "search-type" for i in r["interaction"])
    ]

    @st.composite
    def searches(draw):
        resource = draw(st.sampled_from(resources))
        params = {}
        for spec in draw(
            st.lists(
                st.sampled_from(resource.get("searchParam", [{"name": "_id", "type": "token"}])),
                max_size=4,
            )
        ):
            name = spec["name"] + draw(st.sampled_from(["", "", ":exact", ":missing", ":x"]))
            params[name] = draw(VALUES.get(spec["type"], _text))
        for name in draw(st.lists(st.sampled_from(sorted(RESULT)), max_size=3)):
            params[name] = draw(RESULT[name])
        includes = resource.get("searchInclude", []) + [f"{resource['type']}:x", "Other:y", "bad"]
        if draw(st.booleans()):
            params["_include"] = draw(st.sampled_from(includes))
        params[draw(st.text(alphabet=string.ascii_letters, min_size=1, max_size=8))] = draw(_text)
        headers = draw(
            st.sampled_from(
                [
                    {},
                    {"Prefer": "handling=strict"},
                    {"Accept": "application/fhir+xml"},
                    {"Accept": "*/*"},
                ]
            )
        )
        return resource["type"], params, headers

    @given(case=searches())
    @settings(max_examples=EXAMPLES * 3, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        kind, params, headers = case
        response = requests.get(
            world["base"] + kind, params=params, headers={**world["headers"], **headers}, timeout=30
        )
        _check(response, f"GET {kind} {params} {headers}")

    SEEN.clear()
    fuzz()
    # The fuzzer reached the handlers, not only the doors: answers and refusals alike.
    assert {200, 400, 406} <= set(SEEN), sorted(set(SEEN))


def test_reads_and_creates_never_fail(world):
    types = [r["type"] for r in world["resources"]]
    ids = st.one_of(
        _text.filter(lambda t: "/" not in t and t not in ("", ".", "..")),
        st.uuids().map(str),
        st.just(world["patient"]),
        st.integers(0, 10**12).map(str),
    )

    @given(
        kind=st.sampled_from(types),
        ident=ids,
        body=_bodies,
        accept=st.sampled_from(["", "application/fhir+json", "application/pdf", "text/html"]),
    )
    @settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(kind, ident, body, accept):
        headers = {**world["headers"], **({"Accept": accept} if accept else {})}
        read = requests.get(
            world["base"] + f"{kind}/{requests.utils.quote(ident, safe='')}",
            headers=headers,
            timeout=30,
        )
        if kind != "Binary" or read.status_code >= 400:
            _check(read, f"GET {kind}/{ident!r}")
        created = requests.post(
            world["base"] + kind,
            data=body.encode(),
            headers={
                **headers,
                "Content-Type": "application/fhir+json",
                "If-None-Exist": "family=x&birthdate=2026-02-30",
            },
            timeout=30,
        )
        _check(created, f"POST {kind} {body[:80]!r}")
        updated = requests.put(
            world["base"] + f"Patient/{world['patient']}",
            data=body.encode(),
            headers={**headers, "Content-Type": "application/fhir+json", "If-Match": 'W/"1"'},
            timeout=30,
        )
        _check(updated, f"PUT Patient {body[:80]!r}")

    SEEN.clear()
    fuzz()
    assert {400, 404} <= set(SEEN), sorted(set(SEEN))
    # Control: the same requests, well formed, are served.
    read = requests.get(
        world["base"] + f"Patient/{world['patient']}", headers=world["headers"], timeout=30
    )
    assert read.status_code == 200, read.text[:300]
