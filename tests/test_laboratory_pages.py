"""The laboratory's pages, role by role: the worklist and order sheet for the ordering
laboratory's technicians (and nobody else), the patient's results for clinicians (never
before validation), the order form for practitioners in a care relationship; every refusal
answers without the patient and is recorded."""

import pytest
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.laboratory.models import LabOrder, LabResult, OrderStatus

from .conftest import signed_in_client
from .factories import UnitFactory
from .laboratory_fixtures import SURNAME, catalogue_ids, make_lab, staff_user

pytestmark = pytest.mark.django_db
HB, K, HIV = "718-7", "2823-3", "56888-1"


@pytest.fixture
def lab(establishment):
    return make_lab(establishment)


def _refused(response, action):
    body = response.content.decode()
    assert response.status_code in (403, 404), response.status_code
    assert SURNAME not in body
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert (entry.action, entry.outcome) == (action, "refused")


def test_the_worklist_lists_the_laboratorys_orders_by_state(lab):
    urgent = lab.order(HB, priority="urgent")
    routine = lab.order(K)
    client = signed_in_client(lab.tech_a)
    page = client.get(reverse("web:lab"))
    text = page.content.decode()
    assert page.status_code == 200
    assert text.index(urgent.accession) < text.index(routine.accession)
    assert SURNAME in text and 'data-tab="to_collect" class="current"' in text
    entry = AuditEntry.objects.get(request_id=page["X-Request-ID"])
    assert entry.outcome == "allowed" and f"{lab.patient}:lab_order" in entry.patients
    lab.collect(routine)
    to_enter = client.get(reverse("web:lab") + "?tab=to_enter").content.decode()
    assert routine.accession in to_enter and urgent.accession not in to_enter


def test_searching_an_accession_or_tube_number_opens_the_order(lab):
    order = lab.order(HB)
    lab.collect(order)
    client = signed_in_client(lab.tech_a)
    for number in (order.accession, f"{order.accession}-1"):
        response = client.get(reverse("web:lab"), {"accession": number})
        assert response.status_code == 302
        assert response["Location"] == reverse("web:lab_order", args=[order.pk])
    missing = client.get(reverse("web:lab"), {"accession": "99-999999"})
    assert missing.status_code == 200 and "No order of your laboratory" in missing.content.decode()
    elsewhere = signed_in_client(lab.tech_other).get(
        reverse("web:lab"), {"accession": order.accession}
    )
    assert elsewhere.status_code == 200 and SURNAME not in elsewhere.content.decode()


def test_collect_enter_and_validate_through_the_pages(lab):
    order = lab.order(HB, K)
    tech_a, tech_b = signed_in_client(lab.tech_a), signed_in_client(lab.tech_b)
    sheet = tech_a.get(reverse("web:lab_order", args=[order.pk]))
    assert sheet.status_code == 200 and "collected_at" in sheet.content.decode()
    assert tech_a.post(reverse("web:lab_collect", args=[order.pk])).status_code == 302
    items = dict(order.items.values_list("test__loinc", "pk"))

    wrong = tech_a.post(
        reverse("web:lab_results", args=[order.pk]),
        {f"value_{items[HB]}": "treize", f"value_{items[K]}": "4,6"},
    )
    assert wrong.status_code == 400
    assert "Enter a number" in wrong.content.decode() and 'value="treize"' in wrong.content.decode()
    assert not LabResult.objects.exists()

    saved = tech_a.post(
        reverse("web:lab_results", args=[order.pk]),
        {f"value_{items[HB]}": "17,9", f"value_{items[K]}": "4,6", f"comment_{items[K]}": "ok"},
    )
    assert saved.status_code == 302
    own = tech_a.get(reverse("web:lab_order", args=[order.pk])).content.decode()
    assert "entered by you" in own and 'name="result"' in own and "disabled" in own

    ids = list(LabResult.objects.values_list("pk", flat=True))
    refused = tech_a.post(reverse("web:lab_validate", args=[order.pk]), {"result": ids})
    assert refused.status_code == 302
    assert not LabResult.objects.filter(validated_at__isnull=False).exists()
    assert (
        tech_b.post(reverse("web:lab_validate", args=[order.pk]), {"result": ids}).status_code
        == 302
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.DONE


def test_a_result_reaches_clinicians_only_once_validated(lab):
    order = lab.order(HB)
    lab.collect(order)
    lab.enter(order, {HB: "17.9"})
    doctor = signed_in_client(lab.practitioner)
    before = doctor.get(reverse("web:patient_lab", args=[lab.patient])).content.decode()
    assert "17.9" not in before and "17,9" not in before
    assert "Awaited" in before
    lab.validate(order)
    after = doctor.get(reverse("web:patient_lab", args=[lab.patient])).content.decode()
    assert "17.9" in after and 'class="lab-flag flag-H"' in after


def test_a_practitioner_in_care_orders_from_the_page(lab):
    doctor = signed_in_client(lab.practitioner)
    page = doctor.get(reverse("web:patient_lab", args=[lab.patient])).content.decode()
    assert 'id="order-tests"' in page and lab.laboratory.name in page
    blank = doctor.post(
        reverse("web:patient_lab_order", args=[lab.patient]),
        {"laboratory": lab.laboratory.pk, "priority": "routine"},
    )
    assert blank.status_code == 400 and not LabOrder.objects.exists()
    sent = doctor.post(
        reverse("web:patient_lab_order", args=[lab.patient]),
        {
            "laboratory": lab.laboratory.pk,
            "priority": "urgent",
            "tests": catalogue_ids(HB, HIV),
            "clinical_information": "Fièvre depuis trois jours",
        },
    )
    assert sent.status_code == 302
    order = LabOrder.objects.get()
    assert order.priority == "urgent" and order.items.count() == 2
    assert order.laboratory == lab.laboratory and order.ordered_by == lab.practitioner


def test_a_practitioner_outside_care_reads_counted_and_cannot_order(lab):
    stranger = staff_user(Role.PRACTITIONER, lab.hospital)
    client = signed_in_client(stranger)
    page = client.get(reverse("web:patient_lab", args=[lab.patient]))
    assert page.status_code == 200 and 'id="order-tests"' not in page.content.decode()
    entry = AuditEntry.objects.get(request_id=page["X-Request-ID"])
    assert f"{lab.patient}:outside" in entry.patients
    posted = client.post(
        reverse("web:patient_lab_order", args=[lab.patient]),
        {"laboratory": lab.laboratory.pk, "priority": "routine", "tests": catalogue_ids(HB)},
    )
    assert posted.status_code == 403 and not LabOrder.objects.exists()


def test_a_nurse_of_the_unit_reads_results_and_cannot_order(lab):
    lab.done({K: "4.2"})
    unit = UnitFactory(establishment=lab.hospital)
    nurse = staff_user(Role.NURSE, lab.hospital)
    nurse.memberships.update(unit=unit)
    relate(patient_id=lab.patient, kind=RelationshipKind.ADMISSION, unit_id=unit.pk)
    client = signed_in_client(nurse)
    page = client.get(reverse("web:patient_lab", args=[lab.patient])).content.decode()
    assert "4.2" in page and 'id="order-tests"' not in page
    posted = client.post(
        reverse("web:patient_lab_order", args=[lab.patient]),
        {"laboratory": lab.laboratory.pk, "priority": "routine", "tests": catalogue_ids(HB)},
    )
    _refused(posted, "lab.order_tests")


def test_roles_without_laboratory_work_are_refused_every_page(lab):
    order = lab.order(HB)
    pages = [
        ("get", reverse("web:lab"), "lab.worklist"),
        ("get", reverse("web:lab_order", args=[order.pk]), "lab.order"),
        ("post", reverse("web:lab_collect", args=[order.pk]), "lab.collect"),
        ("post", reverse("web:lab_results", args=[order.pk]), "lab.results"),
        ("post", reverse("web:lab_validate", args=[order.pk]), "lab.validate"),
    ]
    for role in (Role.PRACTITIONER, Role.NURSE, Role.SECRETARY, Role.ADMINISTRATOR):
        client = signed_in_client(staff_user(role, lab.laboratory))
        for method, path, action in pages:
            _refused(getattr(client, method)(path), action)
    order.refresh_from_db()
    assert order.status == OrderStatus.TO_COLLECT


def test_roles_without_clinical_reading_are_refused_the_results_page(lab):
    lab.done({K: "4.2"})
    for user in (
        lab.tech_a,
        staff_user(Role.SECRETARY, lab.hospital),
        staff_user(Role.ADMINISTRATOR, lab.hospital),
    ):
        client = signed_in_client(user)
        _refused(client.get(reverse("web:patient_lab", args=[lab.patient])), "lab.patient")
        _refused(
            client.post(
                reverse("web:patient_lab_order", args=[lab.patient]),
                {"laboratory": lab.laboratory.pk, "tests": catalogue_ids(HB)},
            ),
            "lab.order_tests",
        )


def test_a_technician_of_another_laboratory_is_refused_every_order_page(lab):
    order = lab.order(HB)
    lab.collect(order)
    client = signed_in_client(lab.tech_other)
    _refused(client.get(reverse("web:lab_order", args=[order.pk])), "lab.order")
    _refused(client.post(reverse("web:lab_collect", args=[order.pk])), "lab.collect")
    item = order.items.get().pk
    _refused(
        client.post(reverse("web:lab_results", args=[order.pk]), {f"value_{item}": "9"}),
        "lab.results",
    )
    assert not LabResult.objects.exists()


def test_anonymous_visitors_are_sent_to_sign_in(lab, client):
    order = lab.order(HB)
    for path in (
        reverse("web:lab"),
        reverse("web:lab_order", args=[order.pk]),
        reverse("web:patient_lab", args=[lab.patient]),
    ):
        response = client.get(path)
        assert response.status_code == 302 and "/login/" in response["Location"]
