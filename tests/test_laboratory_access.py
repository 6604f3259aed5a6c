"""Who reaches a patient through the laboratory: an order opens the patient to the ordering
laboratory's technicians, for the laboratory's work only (never the identity page, the chart
or another patient route), to no other laboratory, not to the desk of the laboratory's
building, and only while the order is open; ordering needs a care relationship."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.guard.boundary import Refused, opened_through
from carnet.guard.policy import Capability, Role
from carnet.guard.relationships import kinds_for, relate
from carnet.laboratory import services
from carnet.laboratory.models import LabOrder
from carnet.laboratory.selectors import (
    FOLLOW_UP_DAYS,
    Tab,
    find_accession,
    order_sheet,
    patient_results,
    worklist,
)
from carnet.laboratory.services import ORDER_OPEN_DAYS
from carnet.patients.selectors import SearchQuery, open_identity, search_identities
from carnet.staff.models import Membership

from .conftest import signed_in_client
from .factories import EstablishmentFactory, UnitFactory, make_patient
from .laboratory_fixtures import SURNAME, acting, actor_for, catalogue_ids, make_lab, staff_user
from .routes import all_routes, concrete

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab(establishment):
    return make_lab(establishment)


HB, HIV = "718-7", "56888-1"


def _names(user, tab=Tab.TO_COLLECT):
    with acting(user) as actor:
        return [row.patient.name for row in worklist(actor=actor, tab=tab).rows]


def test_an_order_opens_the_patient_to_its_laboratory_for_the_laboratorys_work(lab):
    order = lab.order(HB)
    assert any(name.startswith(SURNAME) for name in _names(lab.tech_a))
    with acting(lab.tech_a) as actor:
        sheet = order_sheet(actor=actor, order_id=order.pk)
        assert opened_through(actor, lab.patient) == "lab_order"
    assert sheet.patient.name.startswith(SURNAME) and sheet.patient.sex == "F"
    actor = actor_for(lab.tech_a)
    assert kinds_for(actor, [lab.patient], Capability.LAB_WORK) == {lab.patient: "lab_order"}
    assert kinds_for(actor, [lab.patient], Capability.VALIDATE_LAB) == {lab.patient: "lab_order"}
    for other in (None, Capability.VIEW_IDENTITY, Capability.SEARCH_IDENTITY):
        assert kinds_for(actor, [lab.patient], other) == {}


def test_a_technician_of_another_laboratory_sees_nothing(lab):
    order = lab.order(HB)
    lab.collect(order)
    lab.enter(order, {HB: "13.2"})
    with acting(lab.tech_other) as actor:
        for tab in Tab.ALL:
            listed = worklist(actor=actor, tab=tab)
            assert listed.rows == () and set(listed.counts.values()) == {0}
        assert find_accession(actor=actor, accession=order.accession) is None
    attempts = [
        lambda a: order_sheet(actor=a, order_id=order.pk),
        lambda a: services.collect_specimens(actor=a, order_id=order.pk),
        lambda a: services.enter_results(
            actor=a, order_id=order.pk, entries={order.items.get().pk: ("9", "")}
        ),
        lambda a: services.validate_results(
            actor=a, order_id=order.pk, result_ids=[order.items.get().result.pk]
        ),
    ]
    for attempt in attempts:
        with pytest.raises(Refused) as refused, acting(lab.tech_other) as actor:
            attempt(actor)
        assert refused.value.not_found
    # Even with the order's laboratory id forged into its memberships' reach, the guard
    # decides by the relationship of the technician's own laboratory.
    assert kinds_for(actor_for(lab.tech_other), [lab.patient], Capability.LAB_WORK) == {}


def test_another_laboratorys_order_page_is_not_found_and_recorded(lab):
    order = lab.order(HB)
    client = signed_in_client(lab.tech_other)
    response = client.get(reverse("web:lab_order", args=[order.pk]))
    assert response.status_code == 404
    assert SURNAME not in response.content.decode()
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert (entry.action, entry.outcome) == ("lab.order", "refused")
    listing = client.get(reverse("web:lab") + "?tab=to_collect").content.decode()
    assert SURNAME not in listing and order.accession not in listing


def test_the_laboratory_opens_no_other_patient_route(lab):
    """Walks every route about one patient (identity, chart, notes, documents, sharing...) as
    a technician of the ordering laboratory: none shows the patient."""
    lab.order(HB)
    walked = 0
    routes = [route for route, _pattern in all_routes() if "<uuid:patient_id>" in route]
    for index, route in enumerate(routes):
        # Each refusal counts towards the account's refusals in an hour (past 30 it is
        # contained and every later page is the sign-in): a technician of the same laboratory
        # every 20 routes, so each route is asked by an account the guard still lets in.
        if index % 20 == 0:
            technician = (
                lab.tech_a
                if index == 0
                else staff_user(Role.LAB_TECHNICIAN, lab.laboratory, last_name=f"Saisie{index}")
            )
            client = signed_in_client(technician)
        path = concrete(route, uuid=lab.patient)
        response = client.get(path)
        body = response.content.decode(errors="replace")
        assert response.status_code in (403, 404, 405), path
        assert SURNAME not in body, path
        walked += 1
    assert walked >= 4  # identity, edit, share, break-glass, the laboratory page at least
    with pytest.raises(Refused), acting(lab.tech_a) as actor:
        open_identity(actor=actor, patient_id=lab.patient)
    with acting(lab.tech_a) as actor:
        found = search_identities(
            actor=actor, query=SearchQuery(surname=SURNAME, birth_date=datetime.date(1980, 5, 17))
        )
    assert found.rows == ()


def test_the_laboratorys_desk_does_not_get_its_orders(lab):
    lab.order(HB)
    secretary = staff_user(Role.SECRETARY, lab.laboratory)
    assert kinds_for(actor_for(secretary), [lab.patient]) == {}
    response = signed_in_client(secretary).get(reverse("web:patient_detail", args=[lab.patient]))
    assert response.status_code == 404 and SURNAME not in response.content.decode()


def test_the_laboratory_loses_the_patient_after_the_follow_up(lab):
    order = lab.done({HB: "13.0"})
    assert _names(lab.tech_a, Tab.DONE)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=FOLLOW_UP_DAYS, hours=1)):
        assert _names(lab.tech_a, Tab.DONE) == []
        with pytest.raises(Refused), acting(lab.tech_a) as actor:
            order_sheet(actor=actor, order_id=order.pk)


def test_a_stale_order_stops_opening_the_patient(lab):
    order = lab.order(HB)
    with time_machine.travel(timezone.now() + datetime.timedelta(days=ORDER_OPEN_DAYS, hours=1)):
        assert _names(lab.tech_a) == []
        with acting(lab.tech_a) as actor:
            assert worklist(actor=actor, tab=Tab.TO_COLLECT).counts[Tab.TO_COLLECT] == 0
        with pytest.raises(Refused), acting(lab.tech_a) as actor:
            services.collect_specimens(actor=actor, order_id=order.pk)


def test_ordering_needs_a_care_relationship(lab):
    stranger = staff_user(Role.PRACTITIONER, lab.hospital)
    with pytest.raises(Refused) as refused:
        lab.order(HB, by=stranger)
    assert not refused.value.not_found
    assert not LabOrder.objects.exists()
    # The stranger may read the results page (counted against the budget) but not order.
    with acting(stranger) as actor:
        assert not patient_results(actor=actor, patient_id=lab.patient).can_order
        assert opened_through(actor, lab.patient) == "outside"
    far = staff_user(Role.PRACTITIONER, EstablishmentFactory())
    with pytest.raises(Refused) as refused:
        lab.order(HB, by=far)
    assert refused.value.not_found


def test_an_order_goes_to_a_laboratory_of_the_group_only(lab):
    elsewhere = EstablishmentFactory(kind="laboratory")
    hospital = lab.hospital
    for target in (elsewhere, hospital):
        with pytest.raises(ValidationError), acting(lab.practitioner) as actor:
            services.order_tests(
                actor=actor,
                patient_id=lab.patient,
                laboratory_id=target.pk,
                test_ids=catalogue_ids(HB),
            )
    assert not LabOrder.objects.exists()


def test_roles_without_the_capability_are_refused_by_the_services(lab):
    order = lab.order(HB)
    nurse = staff_user(Role.NURSE, lab.hospital)
    secretary = staff_user(Role.SECRETARY, lab.hospital)
    admin = staff_user(Role.ADMINISTRATOR, lab.hospital)
    for user in (nurse, secretary, admin, lab.tech_a):
        with pytest.raises(Refused), acting(user):
            lab.order(HB, by=user)
    for user in (lab.practitioner, nurse, secretary, admin):
        with pytest.raises(Refused), acting(user) as actor:
            services.collect_specimens(actor=actor, order_id=order.pk)
        with pytest.raises(Refused), acting(user) as actor:
            order_sheet(actor=actor, order_id=order.pk)
    for user in (secretary, admin, lab.tech_a):
        with pytest.raises(Refused), acting(user) as actor:
            patient_results(actor=actor, patient_id=lab.patient)


def test_the_ordering_unit_is_the_practitioners_only_unit(lab):
    unit = UnitFactory(establishment=lab.hospital)
    Membership.objects.create(user=lab.practitioner, establishment=lab.hospital, unit=unit)
    assert lab.order(HB).ordering_unit_id == unit.pk
    Membership.objects.create(
        user=lab.practitioner,
        establishment=lab.hospital,
        unit=UnitFactory(establishment=lab.hospital),
    )
    assert lab.order(HB).ordering_unit_id is None


def test_a_patient_with_an_order_is_still_not_searchable_by_the_laboratory(lab, establishment):
    # A second patient known at the laboratory itself (an IPP there) is reached like any
    # patient of one's establishment: outside, counted. The order's patient is not.
    known_here = make_patient(lab.laboratory, birth_surname="SURPLACE")
    lab.order(HB)
    relate(patient_id=known_here, kind="treating_doctor", user_id=lab.practitioner.pk)
    with acting(lab.tech_a) as actor:
        card = open_identity(actor=actor, patient_id=known_here)
        assert opened_through(actor, card.id) == "outside"
