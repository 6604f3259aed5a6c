"""Sensitive categories: the author's care team sees, anyone else only within an opening they
made with a reason, for a few hours, recorded in the audit log; roles that read no clinical
data never see, whatever their unit."""

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.clinical.sensitivity import (
    OPENING_HOURS,
    SensitiveCategory,
    SensitiveOpening,
    masked_label,
    may_see,
    open_categories,
    open_category,
)
from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, boundary
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate

from .factories import UnitFactory, UserFactory, make_patient

pytestmark = pytest.mark.django_db
PSY = SensitiveCategory.PSYCHIATRY


def _actor(user, establishment, units=(), request_id="sensitive"):
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=user.role,
        establishment_ids=frozenset({establishment.pk}),
        unit_ids=frozenset(u.pk for u in units),
        request_id=request_id,
        verified=True,
    )


@pytest.fixture
def unit(establishment):
    return UnitFactory(establishment=establishment)


@pytest.fixture
def author(establishment):
    return UserFactory(role=Role.PRACTITIONER, establishments=[establishment])


@pytest.fixture
def colleague(establishment):
    return UserFactory(role=Role.PRACTITIONER, establishments=[establishment])


def _open(actor, patient, category=PSY, reason="Suivi conjoint demandé par le patient"):
    with transaction.atomic(), boundary(actor, "clinical.sensitive.open"):
        return open_category(actor=actor, patient_id=patient, category=category, reason=reason)


def test_no_category_is_seen_by_every_clinical_reader(establishment, patient, colleague):
    actor = _actor(colleague, establishment)
    assert may_see(actor, patient, "", author_user_id=None)
    assert may_see(actor, patient, SensitiveCategory.NONE, author_user_id=12345)


def test_the_author_and_the_authors_unit_see_others_do_not(
    establishment, patient, author, colleague, unit
):
    assert may_see(_actor(author, establishment), patient, PSY, author.pk)
    nurse = UserFactory(role=Role.NURSE, establishments=[establishment])
    assert may_see(_actor(nurse, establishment, [unit]), patient, PSY, author.pk, unit.pk)
    assert not may_see(_actor(colleague, establishment), patient, PSY, author.pk, unit.pk)
    other_unit = UnitFactory(establishment=establishment)
    assert not may_see(_actor(nurse, establishment, [other_unit]), patient, PSY, author.pk, unit.pk)


def test_roles_without_clinical_reading_never_see_even_in_the_unit(
    establishment, patient, author, unit
):
    for role in (Role.SECRETARY, Role.ADMINISTRATOR, Role.SECURITY_OFFICER):
        user = UserFactory(role=role, establishments=[establishment])
        assert not may_see(_actor(user, establishment, [unit]), patient, PSY, author.pk, unit.pk)
        assert may_see(_actor(user, establishment, [unit]), patient, "", author.pk, unit.pk) is True


def test_an_opening_with_a_reason_shows_that_category_only_for_hours(
    establishment, patient, author, colleague
):
    relate(patient_id=patient, kind=RelationshipKind.ENCOUNTER, user_id=colleague.pk)
    actor = _actor(colleague, establishment)
    opening = _open(actor, patient)
    assert opening.until - opening.at == datetime.timedelta(hours=OPENING_HOURS)
    assert may_see(actor, patient, PSY, author.pk)
    assert not may_see(actor, patient, SensitiveCategory.SEROLOGY, author.pk)
    assert open_categories(actor, patient) == {PSY}
    # Not for another patient, not for another account.
    other = make_patient(establishment, birth_surname="AUTRE")
    assert not may_see(actor, other, PSY, author.pk)
    third = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    assert not may_see(_actor(third, establishment), patient, PSY, author.pk)
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=OPENING_HOURS, minutes=1)):
        assert not may_see(actor, patient, PSY, author.pk)
        assert open_categories(actor, patient) == frozenset()


def test_the_opening_and_its_reason_are_in_the_audit_log(establishment, patient, colleague):
    relate(patient_id=patient, kind=RelationshipKind.ENCOUNTER, user_id=colleague.pk)
    actor = _actor(colleague, establishment, request_id="open-psy")
    _open(actor, patient, reason="Avis demandé par le psychiatre de garde")
    entry = AuditEntry.objects.get(request_id="open-psy")
    assert entry.action == "clinical.sensitive.open" and entry.outcome == "allowed"
    assert entry.patients == f"{patient}:encounter"
    assert "psychiatry" in entry.reason and "psychiatre de garde" in entry.reason


def test_an_opening_needs_a_reason_of_some_length_and_a_real_category(
    establishment, patient, colleague
):
    relate(patient_id=patient, kind=RelationshipKind.ENCOUNTER, user_id=colleague.pk)
    actor = _actor(colleague, establishment)
    with pytest.raises(ValidationError) as short:
        _open(actor, patient, reason="   voir  ")
    assert "reason" in short.value.error_dict
    for category in ("", "everything"):
        with pytest.raises(ValidationError) as bad:
            _open(actor, patient, category=category)
        assert "category" in bad.value.error_dict
    assert not SensitiveOpening.objects.exists()


def test_opening_goes_through_the_guard_for_the_patient(
    establishment, other_establishment, colleague
):
    far = make_patient(other_establishment, birth_surname="LOINTAIN")
    with pytest.raises(Refused):
        _open(_actor(colleague, establishment), far)
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    near = make_patient(establishment)
    with pytest.raises(Refused):
        _open(_actor(secretary, establishment), near)
    assert not SensitiveOpening.objects.exists()


def test_masked_label_names_the_category_and_nothing_else():
    assert masked_label(PSY) == "Sensitive: Psychiatry"
    assert "serolog" in masked_label(SensitiveCategory.SEROLOGY).lower()
