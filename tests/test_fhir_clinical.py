"""The clinical record and laboratory results through the FHIR API, read through the domains'
selectors: Encounter, MedicationRequest, DocumentReference and Observation (LOINC) for whom
the guard hands the patient to; sensitive items masked by the domain never leave (left out
of searches, 403 on read) and the Bundle says which categories were masked; roles without
clinical reading refused whatever the token's scopes; a patient/ token reads only its own."""

import pytest
from django.test import Client

from carnet.clinical.documents import add_document
from carnet.clinical.models import Medication
from carnet.clinical.notes import write_note
from carnet.clinical.prescriptions import LineInput, prescribe
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate

from .clinical_helpers import as_actor, client_of, consultation, member, pdf
from .factories import make_patient
from .fhir_clients import smart
from .fhir_clients.smart import bearer, issue, parsed
from .laboratory_fixtures import make_lab, staff_user

pytestmark = pytest.mark.django_db
API = Client()
HIV, K = "56888-1", "2823-3"

ORAL = {"route": "oral", "frequency": "matin et soir"}


def _token(user, scopes="user/*.rs"):
    return smart.user_token(client_of(user), smart.app(), scopes)


@pytest.fixture
def record(establishment):
    """A patient with a consultation, an ordinary and a sensitive prescription, a sensitive
    document, and validated potassium and HIV results, all by the treating practitioner."""
    lab = make_lab(establishment)
    author = lab.practitioner
    encounter = consultation(author, lab.patient, reason="Bilan annuel")
    paracetamol = Medication.objects.exclude(dci__startswith="Emtricitabine").first()
    truvada = Medication.objects.get(dci__startswith="Emtricitabine / ténofovir")
    for medication in (paracetamol, truvada):
        as_actor(
            author,
            "tests.rx",
            lambda actor, m=medication: prescribe(
                actor=actor,
                patient_id=lab.patient,
                lines=[LineInput(m.pk, "1 cp par jour", 10, **ORAL)],
            ),
        )
    as_actor(
        author,
        "tests.doc",
        lambda actor: add_document(
            actor=actor,
            patient_id=lab.patient,
            encounter_id=encounter.pk,
            title="Confirmation sérologique",
            content=pdf("Western blot"),
            category="serology",
        ),
    )
    as_actor(
        author,
        "tests.note",
        lambda actor: write_note(
            actor=actor, patient_id=lab.patient, encounter_id=encounter.pk, text="RAS"
        ),
    )
    lab.done({K: "4.1", HIV: "positive"})
    return lab, encounter, paracetamol


@pytest.fixture
def colleague(record):
    """A practitioner caring for the patient, outside the author's team."""
    lab, _, _ = record
    user = staff_user(Role.PRACTITIONER, lab.hospital, last_name="Collegue")
    relate(patient_id=lab.patient, kind=RelationshipKind.APPOINTMENT, user_id=user.pk)
    return user


def test_the_author_reads_everything_validated(record):
    lab, encounter, _ = record
    token = _token(lab.practitioner)
    query = {"patient": f"Patient/{lab.patient}"}
    encounters = parsed(API.get("/fhir/Encounter", query, **bearer(token)))
    assert [e["resource"]["id"] for e in encounters["entry"]] == [str(encounter.pk)]
    assert encounters["entry"][0]["resource"]["class"]["code"] == "AMB"
    prescriptions = parsed(API.get("/fhir/MedicationRequest", query, **bearer(token)))
    texts = [e["resource"]["medicationCodeableConcept"]["text"] for e in prescriptions["entry"]]
    assert len(texts) == 2 and any("Emtricitabine" in t for t in texts)
    documents = parsed(API.get("/fhir/DocumentReference", query, **bearer(token)))
    assert documents["entry"][0]["resource"]["description"] == "Confirmation sérologique"
    results = parsed(API.get("/fhir/Observation", query, **bearer(token)))
    codes = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in results["entry"]}
    assert set(codes) == {K, HIV}
    assert codes[K]["valueQuantity"]["value"] == 4.1
    assert codes[K]["code"]["coding"][0]["system"] == "http://loinc.org"
    only_k = parsed(
        API.get("/fhir/Observation", {**query, "code": f"http://loinc.org|{K}"}, **bearer(token))
    )
    assert len(only_k["entry"]) == 1
    one = parsed(API.get(f"/fhir/Observation/{codes[K]['id']}", **bearer(token)))
    assert one["id"] == codes[K]["id"]
    line = prescriptions["entry"][0]["resource"]["id"]
    assert parsed(API.get(f"/fhir/MedicationRequest/{line}", **bearer(token)))["id"] == line


def test_sensitive_items_never_leave_for_others_and_the_bundle_says_so(record, colleague):
    lab, _, _ = record
    token = _token(colleague)
    query = {"patient": f"Patient/{lab.patient}"}
    bodies = []
    for resource_type in ("MedicationRequest", "DocumentReference", "Observation"):
        response = API.get(f"/fhir/{resource_type}", query, **bearer(token))
        bundle = parsed(response)
        bodies.append(response.content.decode())
        outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
        assert outcome and "sensitive" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    text = " ".join(bodies)
    assert "Emtricitabine" not in text and "Confirmation sérologique" not in text
    assert HIV not in text and "ositive" not in text
    assert K in text  # not sensitive: shown
    document = parsed(API.get("/fhir/DocumentReference", query, **bearer(_token(lab.practitioner))))
    hidden = document["entry"][0]["resource"]["id"]
    refused = API.get(f"/fhir/DocumentReference/{hidden}", **bearer(token))
    assert refused.status_code == 403 and issue(refused)["code"] == "suppressed"
    assert "Confirmation" not in refused.content.decode()


def test_roles_without_clinical_reading_are_refused(record, establishment):
    lab, encounter, _ = record
    secretary = staff_user(Role.SECRETARY, establishment)
    token = _token(secretary, "user/*.cruds")
    for path in ("/fhir/Encounter", "/fhir/Observation", "/fhir/MedicationRequest"):
        response = API.get(path, {"patient": f"Patient/{lab.patient}"}, **bearer(token))
        assert response.status_code == 403, path
    assert API.get(f"/fhir/Encounter/{encounter.pk}", **bearer(token)).status_code == 403


def test_an_outsider_and_a_patient_token_of_another_patient_see_nothing(
    record, other_establishment
):
    lab, encounter, _ = record
    outsider = member(Role.PRACTITIONER, other_establishment)
    response = API.get(
        "/fhir/Encounter", {"patient": f"Patient/{lab.patient}"}, **bearer(_token(outsider))
    )
    assert response.status_code == 404 and b"Bilan" not in response.content
    other = make_patient(lab.hospital, birth_surname="AUTRE")
    relate(patient_id=other, kind=RelationshipKind.TREATING_DOCTOR, user_id=lab.practitioner.pk)
    bound = smart.user_token(
        client_of(lab.practitioner), smart.app(), "launch/patient patient/*.rs", patient=other
    )
    assert API.get(f"/fhir/Encounter/{encounter.pk}", **bearer(bound)).status_code == 403
    mine = parsed(API.get("/fhir/Encounter", **bearer(bound)))  # its patient by default
    assert mine["entry"] == []
    refused = API.get("/fhir/Observation", {"patient": lab.patient}, **bearer(bound))
    assert refused.status_code == 403


def test_a_search_needs_the_patient(record):
    lab, _, _ = record
    response = API.get("/fhir/Encounter", **bearer(_token(lab.practitioner)))
    assert response.status_code == 400 and "patient" in issue(response)["diagnostics"]


def test_documents_have_content_and_a_loinc_type_and_drugs_their_atc_class(record, colleague):
    lab, _, _ = record
    token = _token(lab.practitioner)
    query = {"patient": f"Patient/{lab.patient}"}
    document = parsed(API.get("/fhir/DocumentReference", query, **bearer(token)))["entry"][0][
        "resource"
    ]
    assert document["type"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "55188-7",
        "display": "Patient data Document",
    }
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    path = attachment["url"].removeprefix("http://testserver")
    content = API.get(path, HTTP_ACCEPT="application/pdf", **bearer(token))
    assert content.status_code == 200 and content["Content-Type"] == "application/pdf"
    assert content.content.startswith(b"%PDF") and len(content.content) == attachment["size"]
    assert content["Content-Disposition"] == "attachment"
    binary = parsed(API.get(path, HTTP_ACCEPT="application/fhir+json", **bearer(token)))
    assert binary["resourceType"] == "Binary" and binary["contentType"] == "application/pdf"
    # The serology document is the author's team's: the colleague gets nothing of it.
    refused = API.get(path, **bearer(_token(colleague)))
    assert refused.status_code == 403 and b"%PDF" not in refused.content
    lines = parsed(API.get("/fhir/MedicationRequest", query, **bearer(token)))["entry"]
    concepts = {e["resource"]["medicationCodeableConcept"]["text"]: e["resource"] for e in lines}
    coded = {
        text: r["medicationCodeableConcept"].get("coding", [{}])[0].get("code")
        for text, r in concepts.items()
    }
    truvada = next(text for text in coded if text.startswith("Emtricitabine"))
    assert coded[truvada] == "J05AR03"
    aspirin = [text for text in coded if text.startswith("Acide acétylsalicylique")]
    assert all(coded[text] is None for text in aspirin)  # dose decides its class: not guessed
