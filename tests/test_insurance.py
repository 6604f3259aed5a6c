"""Insurance cards: a new card never erases the old one (both listed, the current one derived),
the numbers are sealed (not in the raw database), recording needs MANAGE_INSURANCE, viewing goes
through the guard like the identity page (the outsider gets the missing record's 404), and a
closed record takes no new card."""

import datetime

import pytest
from django.db import transaction
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.policy import Role
from carnet.patients.insurance import coverage_of, record_complementary_coverage
from carnet.patients.models import ComplementaryCoverage, MandatoryCoverage, Patient

from .factories import make_patient
from .test_raw_database import _raw_dump

AMO = {"amo-scheme": "01", "amo-fund_code": "691 0000", "amo-valid_from": "2024-01-01"}
AMC = {
    "amc-organism": "Mutuelle des Tilleuls",
    "amc-amc_number": "77568878",
    "amc-member_number": "AB 123456",
    "amc-valid_from": "2025-01-01",
    "amc-valid_to": "2025-12-31",
}


def _amo(client, patient, **changes):
    return client.post(reverse("web:patient_insurance_amo", args=[patient]), {**AMO, **changes})


def _amc(client, patient, **changes):
    return client.post(reverse("web:patient_insurance_amc", args=[patient]), {**AMC, **changes})


def test_a_new_card_supersedes_the_old_which_stays_listed(staff, patient):
    _user, desk = staff(Role.SECRETARY)
    assert _amo(desk, patient).status_code == 302
    assert _amc(desk, patient).status_code == 302
    assert (
        _amo(desk, patient, **{"amo-scheme": "02", "amo-fund_code": "069 1234"}).status_code == 302
    )
    renewed = _amc(
        desk,
        patient,
        **{"amc-member_number": "AB 999999", "amc-valid_from": "2026-01-01", "amc-valid_to": ""},
    )
    assert renewed.status_code == 302

    assert MandatoryCoverage.objects.count() == 2 and ComplementaryCoverage.objects.count() == 2
    assert MandatoryCoverage.objects.filter(superseded_at__isnull=True).count() == 1
    assert ComplementaryCoverage.objects.filter(superseded_at__isnull=True).count() == 1
    page = desk.get(reverse("web:patient_insurance", args=[patient]))
    assert page.status_code == 200
    sheet = page.context["sheet"]
    assert sheet.current_mandatory.scheme == "02" and sheet.current_mandatory.fund_code == "0691234"
    assert sheet.current_complementary.member_number == "AB 999999"
    assert [c.superseded_at is not None for c in sheet.past] == [True, True]
    html = page.content.decode()
    # The current cards and both earlier ones are on the page.
    for text in ("02 069 1234", "01 691 0000", "AB 999999", "AB 123456", "Régime agricole (MSA)"):
        assert text in html, text
    entry = AuditEntry.objects.get(request_id=page["X-Request-ID"])
    assert (entry.action, entry.outcome) == ("patients.insurance", "allowed")
    assert entry.patients == f"{patient}:outside"
    summary = desk.get(reverse("web:patient_detail", args=[patient])).content.decode()
    assert "Mutuelle des Tilleuls" in summary and "2 earlier cards" in summary


@pytest.mark.parametrize(
    ("post", "field", "message"),
    [
        ({"amo-fund_code": "69"}, "fund_code", "3 digits"),
        ({"amo-scheme": "42"}, "scheme", "valid choice"),
        ({"amo-valid_from": "", "amo-valid_to": "2020-01-01"}, "valid_from", "required"),
    ],
)
def test_a_wrong_amo_card_is_not_recorded(staff, patient, post, field, message):
    _user, desk = staff(Role.SECRETARY)
    response = _amo(desk, patient, **post)
    assert response.status_code == 400
    assert response.context["mandatory_form"].errors[field]
    assert message in response.content.decode()
    assert not MandatoryCoverage.objects.exists()


def test_a_wrong_amc_card_is_not_recorded(staff, patient):
    _user, desk = staff(Role.SECRETARY)
    response = _amc(desk, patient, **{"amc-amc_number": "12AB", "amc-valid_to": "2024-01-01"})
    assert response.status_code == 400
    errors = response.context["complementary_form"].errors
    assert errors["amc_number"] and errors["valid_to"]
    assert not ComplementaryCoverage.objects.exists()


def test_the_outsider_meets_a_missing_record_and_records_nothing(
    staff, patient, other_establishment
):
    _user, outsider = staff(Role.SECRETARY, at=other_establishment)
    page = outsider.get(reverse("web:patient_insurance", args=[patient]))
    missing = outsider.get(
        reverse("web:patient_insurance", args=["00000000-0000-4000-8000-000000000000"])
    )
    assert page.status_code == missing.status_code == 404
    assert _amo(outsider, patient).status_code == 404
    assert not MandatoryCoverage.objects.exists()
    assert AuditEntry.objects.filter(action="patients.insurance_amo", outcome="refused").exists()


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.NURSE, Role.LAB_TECHNICIAN])
def test_caring_roles_read_the_cards_but_do_not_record_them(staff, patient, role):
    _secretary, desk = staff(Role.SECRETARY)
    assert _amo(desk, patient).status_code == 302
    _user, client = staff(role)
    page = client.get(reverse("web:patient_insurance", args=[patient]))
    assert page.status_code == 200 and "691 0000" in page.content.decode()
    assert "Record a new AMO card" not in page.content.decode()
    assert _amo(client, patient, **{"amo-fund_code": "692"}).status_code == 403
    assert MandatoryCoverage.objects.count() == 1


@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.SECURITY_OFFICER])
def test_roles_without_patient_access_see_no_card(staff, patient, role):
    _secretary, desk = staff(Role.SECRETARY)
    assert _amc(desk, patient).status_code == 302
    _user, client = staff(role)
    page = client.get(reverse("web:patient_insurance", args=[patient]))
    assert page.status_code == 403 and "Tilleuls" not in page.content.decode()


def test_a_merged_record_takes_no_new_card(staff, establishment):
    survivor = make_patient(establishment)
    merged = make_patient(establishment, first_names="Marie")
    Patient.objects.filter(pk=merged).update(merged_into=survivor)
    _user, desk = staff(Role.SECRETARY)
    response = _amo(desk, merged)
    assert response.status_code == 302
    page = desk.get(response["Location"]).content.decode()
    assert "merged into another" in page and "Record a new AMO card" not in page
    assert not MandatoryCoverage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_numbers_are_nowhere_in_the_raw_database(establishment):
    patient = make_patient(establishment)
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    card = {
        "organism": "Mutuelle Zéphyrine Quillebeuf",
        "amc_number": "97531864",
        "member_number": "QXZ 4815162342",
        "valid_from": datetime.date(2025, 1, 1),
        "valid_to": None,
    }
    with transaction.atomic(), boundary(desk, "tests.amc"):
        record_complementary_coverage(actor=desk, patient_id=patient, data=card)
    with transaction.atomic(), boundary(desk, "tests.view"):
        current = coverage_of(actor=desk, patient_id=patient).current_complementary
    assert (current.organism, current.amc_number) == (card["organism"], card["amc_number"])
    dump = _raw_dump()
    assert establishment.name.encode() in dump, "the dump read is not this database"
    for value in ("Zéphyrine", "Quillebeuf", "97531864", "4815162342"):
        assert value.encode() not in dump, value
        assert value.encode("utf-16-le") not in dump, value
