"""Patient: read (the identity card), search (the same "specific enough" rule and cap as the
search page, each row a subsetted Patient with what the page shows), create and update
through the patients domain (the identity form's checks, the version check). INS traits and
identifiers as FR Core names them; the INS-NIR only for a qualified identity."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.http import QueryDict
from django.utils import timezone
from django.utils.http import http_date

from carnet.guard.boundary import opened_through
from carnet.guard.policy import Capability
from carnet.guard.relationships import kinds_for
from carnet.patients.cards import Identifier, IdentityCard, SearchRow
from carnet.patients.forms import IdentityForm
from carnet.patients.selectors import (
    SearchQuery,
    open_identity,
    practitioners_for,
    search_identities,
)
from carnet.patients.services import StaleIdentity, create_identity, update_identity

from .. import systems as S
from ..conditional import not_modified, refuse_unkept
from ..fhir import ApiError, instant, parse_resource
from ..params import MAX_IDS, parse
from ..registry import (
    Call,
    Interaction,
    ResourceDefinition,
    Result,
    SearchParameter,
    register,
    register_resolver,
)
from ..search import searchset_of

GENDER = {"F": "female", "M": "male", "I": "unknown"}
SEX = {"female": "F", "male": "M", "unknown": "I", "other": "I"}
STATUS_CODE = {"provisional": "PROV", "qualified": "QUAL"}
STATUS_OF_CODE = {code: status for status, code in STATUS_CODE.items()}
SEARCH = (
    SearchParameter(
        "identifier",
        "token",
        "IPP (`<ipp system>|<ipp>` or the bare IPP, within your establishments) or INS-NIR "
        f"(`{S.INS_NIR}|<NIR>`).",
    ),
    SearchParameter(
        "family",
        "string",
        "Birth or used surname, at least 3 letters, with birthdate.",
        sort=lambda r: ((r.get("name") or [{}])[0].get("family") or "").upper(),
    ),
    SearchParameter(
        "birthdate",
        "date",
        "Birth date (YYYY-MM-DD), with family.",
        sort=lambda r: r.get("birthDate"),
    ),
    SearchParameter("given", "string", "Narrows the matches by first name (prefix)."),
    SearchParameter(
        "_id", "token", "Carnet's patient id (with a patient/ token: its patient).", clear=True
    ),
    SearchParameter(
        "general-practitioner", "reference", "Practitioner/<id>: to _include the treating doctor."
    ),
)


def _ipp(identifier_of: Identifier) -> dict[str, Any]:
    """An IPP with its assigning establishment, as the identity card carries it (no query)."""
    identifier: dict[str, Any] = {
        "use": "usual",
        "type": S.typed("PI", fr=False),
        "value": identifier_of.value,
    }
    if identifier_of.establishment_id is not None:
        identifier["system"] = S.ipp_system(identifier_of.finess)
        identifier["assigner"] = {
            "reference": f"Organization/{identifier_of.establishment_id}",
            "display": identifier_of.establishment,
        }
    return identifier


def _reliability(status: str) -> dict[str, Any]:
    return {
        "url": S.IDENTITY_RELIABILITY,
        "extension": [
            {
                "url": "identityStatus",
                "valueCoding": S.coding(S.IDENTITY_STATUS, STATUS_CODE.get(status, "PROV")),
            }
        ],
    }


def patient_resource(card: IdentityCard) -> dict[str, Any]:
    extensions = [_reliability(card.status)]
    if card.birthplace_code:
        extensions.append(
            {
                "url": S.BIRTH_PLACE,
                "valueAddress": {
                    "extension": [
                        {
                            "url": S.INSEE_CODE,
                            "valueCoding": S.coding(S.INSEE_COMMUNES, card.birthplace_code),
                        }
                    ]
                },
            }
        )
    identifiers = [_ipp(i) for i in card.identifiers]
    if card.is_qualified and card.nir:
        identifiers.append(
            {"use": "official", "type": S.typed("INS-NIR"), "system": S.INS_NIR, "value": card.nir}
        )
    first = card.first_names.split(" ")[0] if card.first_names else ""
    official: dict[str, Any] = {"use": "official", "family": card.birth_surname}
    if first:
        official["given"] = [first]
        official["extension"] = [{"url": S.BIRTH_LIST_GIVEN_NAME, "valueString": card.first_names}]
    names = [official]
    if card.used_surname or card.used_first_name:
        usual: dict[str, Any] = {"use": "usual", "family": card.used_surname or card.birth_surname}
        if card.used_first_name:
            usual["given"] = [card.used_first_name]
        names.append(usual)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": card.id,
        "meta": {
            "versionId": str(card.version),
            "lastUpdated": instant(card.updated_at),
            "profile": [S.PROFILE_PATIENT],
        },
        "extension": extensions,
        "identifier": identifiers,
        "active": True,
        "name": names,
        "gender": GENDER.get(card.sex, "unknown"),
        "birthDate": card.birth_date.isoformat(),
    }
    telecom = []
    if card.phone:
        telecom.append({"system": "phone", "value": card.phone, "use": "mobile"})
    if card.email:
        telecom.append({"system": "email", "value": card.email, "use": "home"})
    if telecom:
        resource["telecom"] = telecom
    address = {
        key: value
        for key, value in (
            ("line", [card.address_line] if card.address_line else None),
            ("postalCode", card.postal_code),
            ("city", card.city),
            ("country", card.country),
        )
        if value
    }
    if address:
        resource["address"] = [{"use": "home", **address}]
    if card.treating_doctor_id:
        resource["generalPractitioner"] = [
            {
                "reference": f"Practitioner/{card.treating_doctor_id}",
                "display": card.treating_doctor,
            }
        ]
    return resource


def search_resource(row: SearchRow) -> dict[str, Any]:
    """What the search page shows of a match, marked as a subset of the Patient."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": row.id,
        "meta": {"tag": [S.SUBSETTED]},
        "extension": [_reliability(row.status)],
        "name": [
            {
                "use": "official",
                "family": row.birth_surname,
                **({"given": row.first_names.split(" ")[:1]} if row.first_names else {}),
            }
        ],
        "gender": GENDER.get(row.sex, "unknown"),
        "birthDate": row.birth_date.isoformat(),
    }
    if row.used_surname:
        resource["name"].append({"use": "usual", "family": row.used_surname})
    if row.ipp:
        resource["identifier"] = [_ipp(row.ipp_identifier or Identifier("", "ipp", row.ipp))]
    return resource


def _etag(card: IdentityCard) -> str:
    return f'W/"{card.version}"'


def _check_own(call: Call, patient_id: str) -> None:
    if call.only_patient and patient_id != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")


def read(call: Call) -> Result:
    _check_own(call, call.resource_id)
    card = open_identity(actor=call.actor, patient_id=call.resource_id)
    headers = {"ETag": _etag(card), "Last-Modified": http_date(card.updated_at.timestamp())}
    if not_modified(call, version=str(card.version), updated_at=card.updated_at):
        return 304, {}, headers
    return 200, patient_resource(card), headers


def _birth_day(call: Call):
    values = call.query.values("birthdate")
    if not values:
        return None
    span = call.query.dates("birthdate")
    if len(values) != 1 or span.days() != 1:
        raise ApiError(400, "value", "birthdate must be one day, YYYY-MM-DD (or eqYYYY-MM-DD).")
    return timezone.localtime(span.start).date()


def _query(call: Call) -> SearchQuery:
    nir = ipp = ""
    identifier = call.query.token("identifier")
    if identifier is not None:
        if identifier.system in (None, ""):
            ipp = identifier.code
        elif identifier.system == S.INS_NIR:
            nir = identifier.code
        elif S.finess_of_ipp_system(identifier.system):
            ipp = identifier.code
        else:
            raise ApiError(
                400, "value", f"identifier: unknown system {identifier.system!r} (IPP or INS-NIR)."
            )
    return SearchQuery(
        surname=call.query.text("family"), birth_date=_birth_day(call), nir=nir, ipp=ipp
    )


def _given_matches(first_names: str, given: str) -> bool:
    wanted = given.strip().lower()
    return not wanted or any(n.lower().startswith(wanted) for n in first_names.split())


def _by_ids(call: Call, ids: list[str]) -> list[dict[str, Any]]:
    """`_id`: each patient read through the guard, like GET Patient/<id>."""
    if len(ids) > MAX_IDS:
        raise ApiError(400, "too-costly", f"_id: at most {MAX_IDS} ids.")
    found = []
    for ident in ids:
        _check_own(call, ident)
        found.append(patient_resource(open_identity(actor=call.actor, patient_id=ident)))
    return found


def search(call: Call) -> Result:
    query = _query(call)
    given = call.query.text("given")
    if call.only_patient:
        return _search_own(call, query, given)
    criteria = query.surname or query.birth_date or query.nir or query.ipp
    if call.query.ids and not criteria:
        return searchset_of(call, "Patient", _by_ids(call, call.query.ids))
    outcome = search_identities(actor=call.actor, query=query)
    if outcome.problem:
        raise ApiError(
            400,
            "too-costly",
            f"{outcome.problem} (FHIR: family and birthdate, or identifier, or _id.)",
        )
    rows = [r for r in outcome.rows if _given_matches(r.first_names, given)]
    issue = None
    if outcome.more:
        issue = {
            "severity": "warning",
            "code": "too-costly",
            "diagnostics": "More patients match: Carnet lists at most 10; refine the criteria.",
        }
    resources = [search_resource(r) for r in rows]
    return searchset_of(call, "Patient", resources, issues=[issue])


def _search_own(call: Call, query: SearchQuery, given: str) -> Result:
    """A patient/ token searches its own patient only: the criteria are checked against it."""
    card = open_identity(actor=call.actor, patient_id=call.only_patient)
    family = query.surname.strip().lower()
    matches = (
        (not query.birth_date or query.birth_date == card.birth_date)
        and (
            not family
            or card.birth_surname.lower().startswith(family)
            or card.used_surname.lower().startswith(family)
        )
        and (not query.nir or (card.is_qualified and query.nir == card.nir))
        and (not query.ipp or any(i.value == query.ipp for i in card.identifiers))
        and _given_matches(card.first_names, given)
    )
    return searchset_of(call, "Patient", [patient_resource(card)] if matches else [])


def _identity_data(resource: dict[str, Any], call: Call) -> dict[str, Any]:
    """The identity form's fields from a Patient, then the form's own checks."""
    names = resource.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    usual = next((n for n in names if n.get("use") == "usual"), {})
    listed = next(
        (
            e.get("valueString", "")
            for e in official.get("extension", [])
            if e.get("url") == S.BIRTH_LIST_GIVEN_NAME
        ),
        "",
    )
    status = "provisional"
    place = ""
    for extension in resource.get("extension", []):
        if extension.get("url") == S.IDENTITY_RELIABILITY:
            for part in extension.get("extension", []):
                if part.get("url") == "identityStatus":
                    code = (part.get("valueCoding") or {}).get("code", "")
                    status = STATUS_OF_CODE.get(code, "provisional")
        if extension.get("url") == S.BIRTH_PLACE:
            for part in (extension.get("valueAddress") or {}).get("extension", []):
                if part.get("url") == S.INSEE_CODE:
                    place = (part.get("valueCoding") or {}).get("code", "")
    nir = next(
        (
            i.get("value", "")
            for i in resource.get("identifier", [])
            if i.get("system") == S.INS_NIR
        ),
        "",
    )
    telecom = resource.get("telecom", [])
    address = (resource.get("address") or [{}])[0]
    doctor = ""
    for reference in resource.get("generalPractitioner", []):
        doctor = reference.get("reference", "").removeprefix("Practitioner/")
    data = {
        "status": status,
        "sex": SEX.get(resource.get("gender", ""), ""),
        "birth_surname": official.get("family", ""),
        "first_names": listed or " ".join(official.get("given", [])),
        "used_surname": usual.get("family", ""),
        "used_first_name": " ".join(usual.get("given", [])),
        "birth_date": resource.get("birthDate", ""),
        "birthplace_code": place,
        "nir": nir,
        "address_line": " ".join(address.get("line", [])),
        "postal_code": address.get("postalCode", ""),
        "city": address.get("city", ""),
        "country": address.get("country", ""),
        "phone": next((t.get("value", "") for t in telecom if t.get("system") == "phone"), ""),
        "email": next((t.get("value", "") for t in telecom if t.get("system") == "email"), ""),
        "treating_doctor": doctor,
    }
    form = IdentityForm(data, practitioners=practitioners_for(call.actor))
    if not form.is_valid():
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()
        )
        raise ApiError(422, "processing", f"The identity is not valid: {problems}")
    return form.cleaned_data


def _conditional_match(call: Call) -> list[str]:
    """If-None-Exist: the patients its criteria find (the same search, through the guard)."""
    criteria = parse(QueryDict(call.if_none_exist), SEARCH, resource_type="Patient", strict=True)
    status, bundle, _ = search(replace(call, params=criteria.raw, query=criteria))
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def create(call: Call) -> Result:
    resource = parse_resource(call.body, "Patient")
    if call.if_none_exist:
        found = _conditional_match(call)
        if len(found) > 1:
            raise ApiError(
                412, "duplicate", "If-None-Exist: more than one patient matches; refine it."
            )
        if found:
            card = open_identity(actor=call.actor, patient_id=found[0])
            location = f"{call.base}Patient/{card.id}/_history/{card.version}"
            return 200, patient_resource(card), {"Location": location, "ETag": _etag(card)}
    card = create_identity(actor=call.actor, data=_identity_data(resource, call))
    kept = patient_resource(card)
    refuse_unkept(resource, kept)
    location = f"{call.base}Patient/{card.id}/_history/{card.version}"
    return 201, kept, {"Location": location, "ETag": _etag(card)}


def _version(call: Call, resource: dict[str, Any]) -> int:
    text = call.if_match or (resource.get("meta") or {}).get("versionId", "")
    text = text.removeprefix("W/").strip('"')
    if not text:
        raise ApiError(428, "required", 'Say which version you change: If-Match: W/"<versionId>".')
    try:
        return int(text)
    except ValueError:
        raise ApiError(400, "value", "The version must be a number.") from None


def update(call: Call) -> Result:
    _check_own(call, call.resource_id)
    resource = parse_resource(call.body, "Patient")
    if resource.get("id") != call.resource_id:
        raise ApiError(400, "invalid", "The resource's id must be the one in the URL.")
    data = _identity_data(resource, call)
    try:
        card = update_identity(
            actor=call.actor,
            patient_id=call.resource_id,
            data=data,
            version=_version(call, resource),
        )
    except StaleIdentity:
        raise ApiError(
            412, "conflict", "The identity changed since that version: read it again."
        ) from None
    kept = patient_resource(card)
    refuse_unkept(resource, kept)
    return 200, kept, {"ETag": _etag(card)}


def resolve_patients(call: Call, ids: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Patients an `_include` names: only those this request already opened (the patient a
    chart search is about) or in a care relationship with the reader, each opened through
    the guard; the others are left out rather than charged to the reader's budget."""
    if call.only_patient:
        ids_allowed = [i for i in ids if i == call.only_patient]
    else:
        related = kinds_for(call.actor, ids)
        ids_allowed = [i for i in ids if i in related or opened_through(call.actor, i)]
    found = [patient_resource(open_identity(actor=call.actor, patient_id=i)) for i in ids_allowed]
    return found, [i for i in ids if i not in ids_allowed]


def _references(*paths: str):
    def extract(resource: dict[str, Any]) -> list[str]:
        found = []
        for path in paths:
            for item in resource.get(path) or []:
                reference = (item or {}).get("reference", "")
                if reference:
                    found.append(reference)
        return found

    return extract


register(
    ResourceDefinition(
        type="Patient",
        documentation=(
            "Identities (INS traits, IPP per establishment, INS-NIR when qualified). Search "
            "needs family and birthdate, or an identifier, or _id; at most 10 matches, each "
            "shown as the search page shows it (SUBSETTED). Create takes If-None-Exist; "
            "update needs If-Match; elements Carnet cannot keep are refused (422)."
        ),
        interactions={
            "read": Interaction("patients.view", Capability.VIEW_IDENTITY, read),
            "search": Interaction("patients.search", Capability.SEARCH_IDENTITY, search),
            "create": Interaction("patients.create", Capability.CREATE_IDENTITY, create),
            "update": Interaction("patients.edit", Capability.EDIT_IDENTITY, update),
        },
        search=SEARCH,
        profile=S.PROFILE_PATIENT,
        patient_compartment=True,
        includes={"general-practitioner": _references("generalPractitioner")},
        conditional_read=True,
        conditional_create=True,
    )
)
register_resolver("Patient", resolve_patients)
