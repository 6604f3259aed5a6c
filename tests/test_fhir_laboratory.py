"""Laboratory results through FHIR as the laboratory now keeps them: UCUM codes on values,
"corrected" status for a result corrected after validation, structured reference ranges, and a computed result whose
conditions did not hold sent with its absent-data reason instead of a value."""

import datetime
import json

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B.observation import Observation

from carnet.guard.models import CareRelationship
from carnet.laboratory.corrections import correct_result
from carnet.laboratory.models import LabResult

from .clinical_helpers import client_of
from .factories import make_patient
from .fhir_clients import smart
from .fhir_clients.smart import bearer, parsed
from .laboratory_fixtures import acting, make_lab

pytestmark = pytest.mark.django_db
API = Client()
K, CHOL, HDL, TG, LDL = "2823-3", "2093-3", "2085-9", "2571-8", "13457-7"


def test_observations_carry_ucum_corrected_status_and_absent_reasons(establishment):
    lab = make_lab(establishment)
    order = lab.done({K: "4.1"})
    result = LabResult.objects.get(item__order=order)
    with acting(lab.tech_a) as actor:
        correct_result(
            actor=actor, order_id=order.pk, result_id=result.pk, value="4,4", reason="Saisie"
        )
    lipids = lab.order(CHOL, HDL, TG, LDL)
    lab.collect(lipids)
    lab.enter(lipids, {CHOL: "3.00", HDL: "0.40", TG: "3.60"})
    lab.validate(lipids)
    token = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.rs")
    bundle = parsed(API.get("/fhir/Observation", {"patient": lab.patient}, **bearer(token)))
    found = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in bundle["entry"]}
    for resource in found.values():
        Observation.model_validate(resource)
    potassium = found[K]
    assert potassium["status"] == "corrected"
    assert potassium["valueQuantity"] == {
        "value": 4.4,
        "unit": "mmol/L",
        "system": "http://unitsofmeasure.org",
        "code": "mmol/L",
    }
    reference = potassium["referenceRange"][0]
    assert reference["low"]["value"] == 3.5 and reference["high"]["code"] == "mmol/L"
    open_ended = found[TG]["referenceRange"][0]  # < 1.5 g/L: no low bound
    assert "low" not in open_ended and open_ended["high"]["value"] == 1.5
    ldl = found[LDL]
    assert "valueQuantity" not in ldl and ldl["dataAbsentReason"]["coding"][0]["code"]
    assert "3.4" in ldl["note"][0]["text"] or "3,4" in ldl["note"][0]["text"]


def test_an_order_reads_as_a_diagnostic_report_of_its_observations(establishment):
    lab = make_lab(establishment)
    order = lab.done({K: "4.1"})
    sensitive = lab.order("56888-1")  # an HIV screening still awaited
    token = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.rs")
    bundle = parsed(API.get("/fhir/DiagnosticReport", {"patient": lab.patient}, **bearer(token)))
    ids = [e["resource"]["id"] for e in bundle["entry"]]
    assert str(order.pk) in ids
    report = parsed(API.get(f"/fhir/DiagnosticReport/{order.pk}", **bearer(token)))
    result = LabResult.objects.get(item__order=order)
    assert report["status"] == "final" and report["code"]["coding"][0]["code"] == "11502-2"
    assert report["result"] == [{"reference": f"Observation/{result.pk}"}]
    observation = parsed(API.get(f"/fhir/{report['result'][0]['reference']}", **bearer(token)))
    assert observation["id"] == str(result.pk)
    # The prescriber's own sensitive order is hers to read; a colleague outside her team
    # does not learn that it exists.
    assert str(sensitive.pk) in ids
    from carnet.guard.models import RelationshipKind
    from carnet.guard.policy import Role
    from carnet.guard.relationships import relate

    from .laboratory_fixtures import staff_user

    colleague = staff_user(Role.PRACTITIONER, lab.hospital, last_name="Collegue")
    relate(patient_id=lab.patient, kind=RelationshipKind.APPOINTMENT, user_id=colleague.pk)
    other = smart.user_token(client_of(colleague), smart.app(), "user/*.rs")
    seen = parsed(API.get("/fhir/DiagnosticReport", {"patient": lab.patient}, **bearer(other)))
    reports = [e["resource"] for e in seen["entry"]]
    assert [r["id"] for r in reports if r["resourceType"] == "DiagnosticReport"] == [str(order.pk)]
    # The Bundle says that a category was masked, as for Observations.
    assert any(r["resourceType"] == "OperationOutcome" for r in reports)
    assert API.get(f"/fhir/DiagnosticReport/{sensitive.pk}", **bearer(other)).status_code == 404
    assert API.get("/fhir/DiagnosticReport/not-a-uuid", **bearer(other)).status_code == 404


def test_each_ordered_test_reads_as_a_service_request(establishment):
    lab = make_lab(establishment)
    done = lab.done({K: "4.1"})
    waiting = lab.order(CHOL, HDL, priority="urgent")
    token = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.rs")
    bundle = parsed(API.get("/fhir/ServiceRequest", {"patient": lab.patient}, **bearer(token)))
    found = {e["resource"]["code"]["coding"][0]["code"]: e["resource"] for e in bundle["entry"]}
    assert set(found) == {K, CHOL, HDL}
    assert (found[K]["status"], found[K]["priority"]) == ("completed", "routine")
    assert found[K]["requisition"]["value"] == done.accession
    assert (found[CHOL]["status"], found[CHOL]["priority"]) == ("active", "urgent")
    assert found[CHOL]["requisition"]["value"] == waiting.accession
    one = parsed(API.get(f"/fhir/ServiceRequest/{found[HDL]['id']}", **bearer(token)))
    assert one == found[HDL]
    assert API.get("/fhir/ServiceRequest/999999", **bearer(token)).status_code == 404


def test_laboratory_searches_sort_count_and_include_as_every_search_does(establishment):
    lab = make_lab(establishment)
    lab.done({K: "4.1"})
    later = timezone.now() + datetime.timedelta(hours=2)
    with time_machine.travel(later, tick=True):
        lab.done({K: "4.6"})
        token = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.rs")
        for resource_type, date in (
            ("Observation", "date"),
            ("DiagnosticReport", "date"),
            ("ServiceRequest", "authored"),
        ):
            field = "authoredOn" if date == "authored" else "effectiveDateTime"
            query = {"patient": lab.patient, "_include": f"{resource_type}:patient"}
            newest = parsed(
                API.get(f"/fhir/{resource_type}", {**query, "_sort": f"-{date}"}, **bearer(token))
            )
            oldest = parsed(
                API.get(f"/fhir/{resource_type}", {**query, "_sort": date}, **bearer(token))
            )
            matches = [e["resource"] for e in newest["entry"] if e["search"]["mode"] == "match"]
            dates = [r[field] for r in matches]
            assert len(dates) == 2 and dates[0] > dates[1], resource_type
            assert newest["total"] == 2
            assert [
                e["resource"][field] for e in oldest["entry"] if e["search"]["mode"] == "match"
            ] == (dates[::-1])
            included = [e["resource"] for e in newest["entry"] if e["search"]["mode"] == "include"]
            assert [(r["resourceType"], r["id"]) for r in included] == [("Patient", lab.patient)]
            page = parsed(
                API.get(f"/fhir/{resource_type}", {**query, "_count": 1}, **bearer(token))
            )
            assert page["total"] == 2 and any(link["relation"] == "next" for link in page["link"])


def test_each_tube_reads_as_a_specimen_of_its_report(establishment, other_establishment):
    from carnet.guard.models import RelationshipKind
    from carnet.guard.policy import Role
    from carnet.guard.relationships import relate
    from carnet.laboratory.models import Specimen

    from .laboratory_fixtures import staff_user

    lab = make_lab(establishment)
    order = lab.done({K: "4.1"})
    sensitive = lab.order("56888-1")  # an HIV screening, collected, still awaited
    lab.collect(sensitive)
    tube = Specimen.objects.get(order=order)
    token = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.rs")
    bundle = parsed(API.get("/fhir/Specimen", {"patient": lab.patient}, **bearer(token)))
    found = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    assert str(tube.pk) in found and len(found) == 2
    mine = found[str(tube.pk)]
    assert mine["accessionIdentifier"]["value"] == tube.barcode
    assert mine["type"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert mine["subject"] == {"reference": f"Patient/{lab.patient}"}
    assert mine["request"][0]["reference"].startswith("ServiceRequest/")
    report = parsed(API.get(f"/fhir/DiagnosticReport/{order.pk}", **bearer(token)))
    assert report["specimen"] == [{"reference": f"Specimen/{tube.pk}"}]
    assert parsed(API.get(f"/fhir/Specimen/{tube.pk}", **bearer(token))) == mine
    # A colleague outside the prescriber's team does not learn of the sensitive order's tube;
    # an outsider reads none.
    colleague = staff_user(Role.PRACTITIONER, lab.hospital, last_name="Collegue")
    relate(patient_id=lab.patient, kind=RelationshipKind.APPOINTMENT, user_id=colleague.pk)
    theirs = smart.user_token(client_of(colleague), smart.app(), "user/*.rs")
    seen = parsed(API.get("/fhir/Specimen", {"patient": lab.patient}, **bearer(theirs)))
    assert [e["resource"]["id"] for e in seen["entry"]] == [str(tube.pk)]
    hidden = Specimen.objects.get(order=sensitive)
    assert API.get(f"/fhir/Specimen/{hidden.pk}", **bearer(theirs)).status_code == 404
    outsider = staff_user(Role.PRACTITIONER, other_establishment, last_name="Ailleurs")
    outside = smart.user_token(client_of(outsider), smart.app(), "user/*.rs")
    refused = API.get(f"/fhir/Specimen/{tube.pk}", **bearer(outside))
    assert refused.status_code in (403, 404) and tube.barcode not in refused.content.decode()


def test_a_laboratory_system_adds_a_test_to_an_order_where_allowed(establishment):
    """A reflex test (ServiceRequest create) by the laboratory's backend: only to an order of
    its own laboratory, for that order's patient, where the ordering establishment allows it;
    never a new order, never a new relationship; no one else creates one."""
    from carnet.guard.policy import Role
    from carnet.laboratory.models import LabOrderItem

    from .laboratory_fixtures import staff_user

    lab = make_lab(establishment)
    order = lab.order(K)
    staff_user(Role.LAB_TECHNICIAN, lab.laboratory, username="lis.backend")
    backend = smart.backend("lis.backend", scopes="system/ServiceRequest.c")
    token = smart.backend_token(backend, "system/ServiceRequest.c")

    def add(code, accession=None, patient=None, intent="reflex-order", by=token):
        body = {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": intent,
            "subject": {"reference": f"Patient/{patient or lab.patient}"},
            "requisition": {"value": accession or order.accession},
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        }
        return API.post(
            "/fhir/ServiceRequest",
            json.dumps(body),
            content_type="application/fhir+json",
            **bearer(by),
        )

    refused = add(CHOL)
    assert refused.status_code == 422 and "does not let" in refused.content.decode()
    establishment.laboratory_add_ons = True
    establishment.save()
    relationships_before = CareRelationship.objects.count()
    created = add(CHOL)
    assert created.status_code == 201, created.content
    resource = created.json()
    assert resource["intent"] == "reflex-order" and resource["requisition"]["value"] == (
        order.accession
    )
    item = LabOrderItem.objects.get(order=order, test__loinc=CHOL)
    assert item.added_by.username == "lis.backend"
    assert created["Location"].endswith(f"ServiceRequest/{item.pk}")
    assert CareRelationship.objects.count() == relationships_before
    # The prescriber reads it as the laboratory's own request.
    reader = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.rs")
    seen = parsed(API.get(f"/fhir/ServiceRequest/{item.pk}", **bearer(reader)))
    assert seen["intent"] == "reflex-order"
    # Twice, an unknown requisition, another patient, a prescriber's intent: refused.
    assert add(CHOL).status_code == 422
    assert add(HDL, accession="26-999999").status_code == 422
    other = make_patient(establishment)
    assert add(HDL, patient=other).status_code == 422
    assert add(HDL, intent="order").status_code == 422
    # Another laboratory's system cannot add to this laboratory's order.
    staff_user(Role.LAB_TECHNICIAN, lab.other_laboratory, username="lis.autre")
    elsewhere = smart.backend("lis.autre", scopes="system/ServiceRequest.c", name="Autre")
    assert add(HDL, by=smart.backend_token(elsewhere, "system/ServiceRequest.c")).status_code == 422
    # A practitioner's app creates no ServiceRequest this way.
    writer = smart.user_token(client_of(lab.practitioner), smart.app(), "user/*.cruds")
    assert add(HDL, by=writer).status_code in (403, 404)
    assert not LabOrderItem.objects.filter(order=order, test__loinc=HDL).exists()
