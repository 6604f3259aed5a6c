"""Coverage through the FHIR API: a patient's AMO and AMC cards, current and past, read
through the patients domain (the patient opened by the guard like an identity page); an
outsider gets nothing, a patient/ token only its patient's cards."""

import datetime

import pytest
from django.test import Client

from carnet.guard.policy import Role
from carnet.patients.insurance import record_complementary_coverage, record_mandatory_coverage

from .clinical_helpers import as_actor, client_of, member
from .factories import make_patient
from .fhir_clients import smart
from .fhir_clients.smart import bearer, parsed

pytestmark = pytest.mark.django_db
API = Client()


@pytest.fixture
def insured(establishment):
    patient = make_patient(establishment, birth_surname="ASSURE")
    desk = member(Role.SECRETARY, establishment)
    for day in (datetime.date(2024, 1, 1), datetime.date(2025, 1, 1)):
        as_actor(
            desk,
            "tests.amo",
            lambda actor, d=day: record_mandatory_coverage(
                actor=actor,
                patient_id=patient,
                data={"scheme": "01", "fund_code": "6910000", "valid_from": d},
            ),
        )
    as_actor(
        desk,
        "tests.amc",
        lambda actor: record_complementary_coverage(
            actor=actor,
            patient_id=patient,
            data={
                "organism": "Mutuelle des Tilleuls",
                "amc_number": "12345678",
                "member_number": "A-998",
                "valid_from": datetime.date(2025, 1, 1),
            },
        ),
    )
    return patient, desk


def test_cards_current_and_past(insured):
    patient, desk = insured
    token = smart.user_token(client_of(desk), smart.app(), "user/Coverage.rs")
    bundle = parsed(API.get("/fhir/Coverage", {"patient": f"Patient/{patient}"}, **bearer(token)))
    cards = [e["resource"] for e in bundle["entry"]]
    assert sorted(c["type"]["text"][:3] for c in cards) == ["AMC", "AMO", "AMO"]
    assert sorted(c["status"] for c in cards if c["type"]["text"].startswith("AMO")) == [
        "active",
        "cancelled",
    ]
    amc = next(c for c in cards if c["type"]["text"] == "AMC")
    assert amc["payor"][0]["display"] == "Mutuelle des Tilleuls"
    assert amc["subscriberId"] == "A-998"
    assert parsed(API.get(f"/fhir/Coverage/{amc['id']}", **bearer(token)))["id"] == amc["id"]
    active = parsed(
        API.get("/fhir/Coverage", {"beneficiary": patient, "status": "active"}, **bearer(token))
    )
    assert len(active["entry"]) == 2


def test_outsiders_and_other_patients_tokens_see_nothing(
    insured, establishment, other_establishment
):
    patient, desk = insured
    outsider = member(Role.SECRETARY, other_establishment)
    token = smart.user_token(client_of(outsider), smart.app(), "user/*.rs")
    refused = API.get("/fhir/Coverage", {"patient": patient}, **bearer(token))
    assert refused.status_code == 404 and b"Mutuelle" not in refused.content
    other = make_patient(establishment, birth_surname="AUTRE")
    bound = smart.user_token(client_of(desk), smart.app(), "launch/patient patient/*.rs", other)
    assert API.get("/fhir/Coverage", {"patient": patient}, **bearer(bound)).status_code == 403
    assert parsed(API.get("/fhir/Coverage", **bearer(bound)))["entry"] == []
    card = f"{patient}.amo.1"
    assert API.get(f"/fhir/Coverage/{card}", **bearer(bound)).status_code == 403
