"""Serologies are sensitive: outside the ordering practitioner's team (the practitioner and
their unit) a result is masked, its value never opened, until the reader opens the category
with a reason. And a stolen database holds no result value, comment or clinical information
in clear."""

import secrets

import pytest
from django.urls import reverse

from carnet.clinical.sensitivity import SensitiveCategory, open_category
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.laboratory.models import LabOrder, LabResult
from carnet.laboratory.selectors import patient_results
from carnet.laboratory.services import enter_results
from carnet.staff.models import Membership

from .conftest import signed_in_client
from .factories import UnitFactory
from .laboratory_fixtures import acting, make_lab, staff_user
from .test_raw_database import _raw_dump

HIV, HBS, K, DDIMER = "56888-1", "5196-1", "2823-3", "48065-7"


@pytest.fixture
def lab(establishment):
    return make_lab(establishment)


@pytest.fixture
def colleague(lab):
    """A practitioner caring for the same patient, outside the ordering practitioner's team."""
    user = staff_user(Role.PRACTITIONER, lab.hospital, last_name="Collegue")
    relate(patient_id=lab.patient, kind=RelationshipKind.APPOINTMENT, user_id=user.pk)
    return user


def _lines(user, patient):
    with acting(user) as actor:
        lab_page = patient_results(actor=actor, patient_id=patient)
    return lab_page, {line.test.loinc: line for r in lab_page.reports for line in r.lines}


@pytest.mark.django_db
def test_a_serology_is_masked_outside_the_ordering_team_until_opened(lab, colleague):
    lab.done({HIV: "positive", K: "4.1"})
    _, mine = _lines(lab.practitioner, lab.patient)
    assert (mine[HIV].shown, mine[HIV].flag, mine[HIV].masked) == ("Positive", "A", "")

    page, theirs = _lines(colleague, lab.patient)
    assert theirs[HIV].masked and theirs[HIV].value == "" and theirs[HIV].shown == ""
    assert theirs[K].shown == "4.1"  # not sensitive: shown
    assert [c for c, _ in page.masked_categories] == [SensitiveCategory.SEROLOGY]

    body = signed_in_client(colleague).get(reverse("web:patient_lab", args=[lab.patient]))
    text = body.content.decode()
    assert body.status_code == 200
    results = text.split('class="lab-section-title"')[1]  # after the order form (every test)
    assert "Positive" not in text and "HIV 1 and 2" not in results
    assert "Sensitive: HIV and other serologies" in text

    with acting(colleague) as actor:
        open_category(
            actor=actor,
            patient_id=lab.patient,
            category=SensitiveCategory.SEROLOGY,
            reason="Pre-operative check before the surgery tomorrow",
        )
    _, opened = _lines(colleague, lab.patient)
    assert opened[HIV].shown == "Positive" and not opened[HIV].masked
    text = signed_in_client(colleague).get(reverse("web:patient_lab", args=[lab.patient]))
    assert "Positive" in text.content.decode()


@pytest.mark.django_db
def test_the_ordering_unit_is_the_team(lab, colleague):
    unit = UnitFactory(establishment=lab.hospital)
    Membership.objects.create(user=lab.practitioner, establishment=lab.hospital, unit=unit)
    lab.done({HBS: "negative"})
    _, theirs = _lines(colleague, lab.patient)
    assert theirs[HBS].masked
    Membership.objects.create(user=colleague, establishment=lab.hospital, unit=unit)
    _, theirs = _lines(colleague, lab.patient)
    assert theirs[HBS].shown == "Negative" and not theirs[HBS].masked


@pytest.mark.django_db
def test_an_awaited_serology_does_not_tell_its_name_outside_the_team(lab, colleague):
    lab.order(HIV, K)
    page, _ = _lines(colleague, lab.patient)
    awaited = page.reports[0].awaited
    assert {line.test.loinc: bool(line.masked) for line in awaited} == {HIV: True, K: False}
    text = signed_in_client(colleague).get(reverse("web:patient_lab", args=[lab.patient]))
    results = text.content.decode().split('class="lab-section-title"')[1]
    assert "HIV 1 and 2" not in results and "Potassium" in results


@pytest.mark.django_db
def test_the_laboratory_sees_the_serology_it_produces(lab):
    order = lab.order(HIV)
    lab.collect(order)
    lab.enter(order, {HIV: "positive"})
    page = signed_in_client(lab.tech_b).get(reverse("web:lab_order", args=[order.pk]))
    assert "Positive" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_result_values_comments_and_clinical_information_are_nowhere_in_the_raw_database(lab):
    planted_values = [str(10_000_000 + secrets.randbelow(80_000_000)) for _ in range(5)]
    planted_words = [f"Zq{secrets.token_hex(6)}" for _ in range(5)]
    for value, word in zip(planted_values, planted_words, strict=True):
        order = lab.order(DDIMER, HIV, clinical_information=f"Contexte {word}-info")
        lab.collect(order)
        items = dict(order.items.values_list("test__loinc", "pk"))
        with acting(lab.tech_a) as actor:
            enter_results(
                actor=actor,
                order_id=order.pk,
                entries={
                    # Far past the plausible limits: kept only typed twice, with a comment.
                    items[DDIMER]: (value, f"Hémolyse {word}-comment", value),
                    items[HIV]: ("positive", ""),
                },
            )
        lab.validate(order)
    # Control: the values are there and open through the guard.
    _, lines = _lines(lab.practitioner, lab.patient)
    assert lines[DDIMER].value in planted_values

    dump = _raw_dump()
    assert lab.laboratory.name.encode() in dump, "the dump read is not this database"
    leaks = [
        text
        for text in planted_values + planted_words
        if text.encode() in dump or text.encode("utf-16-le") in dump
    ]
    assert leaks == []
    # Coded answers are words of the catalogue: look at the sealed columns themselves.
    for result in LabResult.objects.all():
        assert b"positive" not in bytes(result.value_sealed)
    assert LabOrder.objects.filter(clinical_information_sealed__isnull=False).count() == 5


@pytest.mark.django_db
def test_the_results_page_offers_the_reasoned_opening_and_comes_back(lab, colleague):
    lab.done({HIV: "positive"})
    client = signed_in_client(colleague)
    here = reverse("web:patient_lab", args=[lab.patient])
    page = client.get(here).content.decode()
    opening = reverse("web:chart_sensitive_open", args=[lab.patient, SensitiveCategory.SEROLOGY])
    link = f"{opening}?next={here}"
    assert f'href="{link}"' in page
    back = client.post(link, {"reason": "Pre-operative check before the surgery tomorrow"})
    assert back.status_code == 302 and back["Location"] == here
    assert "Positive" in client.get(here).content.decode()
