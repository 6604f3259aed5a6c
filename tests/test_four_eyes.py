"""Administrators manage and never read; every change that grants access waits for a security
officer, who never approves their own request or their own account."""

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.guard.budgets import limits_for
from carnet.guard.models import AccessChange, ChangeStatus
from carnet.guard.policy import Role
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import UserFactory, make_patient

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(staff):
    return staff(Role.ADMINISTRATOR)


@pytest.fixture
def officer(establishment):
    user = UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment])
    return user, signed_in_client(user)


def _new_account(client, establishment, **extra):
    data = {
        "username": "nouvelle.secretaire",
        "first_name": "Anne",
        "last_name": "Nouvel",
        "email": "anne@example.fr",
        "role": Role.SECRETARY,
        "establishment": establishment.pk,
        "password": "un mot de passe assez long",
        **extra,
    }
    return client.post(reverse("web:account_create"), data)


def _approve(client, change, decision="approve"):
    return client.post(reverse("web:security_decide", args=[change.pk]), {"decision": decision})


def test_a_new_account_reads_nothing_until_approved(admin, officer, establishment):
    _, admin_client = admin
    patient = make_patient(establishment, birth_surname="ATTENDRE")
    assert _new_account(admin_client, establishment).status_code == 302
    account = User.objects.get(username="nouvelle.secretaire")
    assert account.is_active and not account.access_approved
    client = signed_in_client(account)
    assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 404
    search = client.get(
        reverse("web:patient_search"), {"surname": "ATT", "birth_date": "1980-05-17"}
    )
    assert "ATTENDRE" not in search.content.decode()
    change = AccessChange.objects.get(account=account)
    # The administrator cannot approve anything.
    assert _approve(admin_client, change).status_code == 403
    _, officer_client = officer
    assert _approve(officer_client, change).status_code == 302
    assert User.objects.get(pk=account.pk).access_approved
    assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 200


def test_a_role_change_waits_for_approval_and_can_be_rejected(admin, officer, establishment):
    admin_user, admin_client = admin
    nurse = UserFactory(role=Role.NURSE, establishments=[establishment])
    admin_client.post(
        reverse("web:account_request", args=[nurse.pk, "role"]), {"role": Role.PRACTITIONER}
    )
    assert User.objects.get(pk=nurse.pk).role == Role.NURSE
    change = AccessChange.objects.get(account=nurse)
    _, officer_client = officer
    _approve(officer_client, change, decision="reject")
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.REJECTED
    assert User.objects.get(pk=nurse.pk).role == Role.NURSE
    admin_client.post(
        reverse("web:account_request", args=[nurse.pk, "role"]), {"role": Role.PRACTITIONER}
    )
    _approve(officer_client, AccessChange.objects.filter(account=nurse, status="pending").get())
    assert User.objects.get(pk=nurse.pk).role == Role.PRACTITIONER


def test_nobody_approves_a_change_to_their_own_account(admin, officer, establishment):
    _, admin_client = admin
    officer_user, officer_client = officer
    admin_client.post(
        reverse("web:account_request", args=[officer_user.pk, "budget"]),
        {"window": "week", "soft": 50, "hard": 60},
    )
    change = AccessChange.objects.get(account=officer_user)
    assert _approve(officer_client, change).status_code == 403
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.PENDING


def test_second_factor_reset_and_budget_raise_take_effect_on_approval(
    admin, officer, establishment
):
    _, admin_client = admin
    _, officer_client = officer
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    signed_in_client(secretary)  # enrols a device
    admin_client.post(reverse("web:account_request", args=[secretary.pk, "second-factor"]))
    admin_client.post(
        reverse("web:account_request", args=[secretary.pk, "budget"]),
        {"window": "week", "soft": 40, "hard": 50},
    )
    assert TOTPDevice.objects.filter(user=secretary).exists()
    for change in AccessChange.objects.filter(account=secretary):
        _approve(officer_client, change)
    assert not TOTPDevice.objects.filter(user=secretary).exists()
    from carnet.guard.actors import Actor

    actor = Actor(
        user_id=secretary.pk,
        username=secretary.username,
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    assert limits_for(actor)["week"] == (40, 50)


def test_a_budget_raise_with_soft_above_hard_is_refused(admin, establishment):
    _, admin_client = admin
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    admin_client.post(
        reverse("web:account_request", args=[secretary.pk, "budget"]),
        {"window": "week", "soft": 60, "hard": 50},
    )
    assert not AccessChange.objects.filter(account=secretary).exists()


def test_the_accounts_pages_are_for_administrators_only(staff):
    for role in (Role.SECRETARY, Role.PRACTITIONER, Role.SECURITY_OFFICER):
        user, client = staff(role)
        assert client.get(reverse("web:accounts")).status_code == 403
        assert client.get(reverse("web:account_create")).status_code == 403


def test_a_membership_with_a_unit_of_another_establishment_is_refused(
    admin, establishment, other_establishment
):
    from carnet.organisations.models import Unit

    _, admin_client = admin
    nurse = UserFactory(role=Role.NURSE, establishments=[establishment])
    foreign_unit = Unit.objects.create(
        establishment=other_establishment, name="Cardiologie", code="C"
    )
    admin_client.post(
        reverse("web:account_request", args=[nurse.pk, "membership"]),
        {"establishment": establishment.pk, "unit": foreign_unit.pk},
    )
    assert not AccessChange.objects.filter(account=nurse).exists()
