"""Administrators manage and never read; every change that grants access waits for an approved,
independent security officer, who confirms with the second factor, and never approves their
own request, their own account, or anything asked by someone who set up their account."""

import pytest
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.guard.budgets import limits_for
from carnet.guard.models import AccessChange, ChangeStatus
from carnet.guard.policy import Role
from carnet.organisations.identifiers import with_luhn_key
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import UserFactory, make_patient, officer_account, totp_code

pytestmark = pytest.mark.django_db
RPPS = with_luhn_key("1010101010")


@pytest.fixture
def admin(staff):
    return staff(Role.ADMINISTRATOR)


@pytest.fixture
def officer(establishment):
    user = officer_account(establishment)
    return user, signed_in_client(user)


def _new_account(client, establishment, **extra):
    data = {
        "username": "nouvelle.secretaire",
        "first_name": "Anne",
        "last_name": "Nouvel",
        "email": "anne@example.fr",
        "role": Role.SECRETARY,
        "establishment": establishment.pk,
        **extra,
    }
    return client.post(reverse("web:account_create"), data)


def approve(officer, change, decision="approve", code=True):
    user, client = officer
    data = {"decision": decision}
    if code:
        data["token"] = totp_code(user)
    return client.post(reverse("web:security_decide", args=[change.pk]), data)


def test_a_new_account_reads_nothing_until_approved(admin, officer, establishment):
    _, admin_client = admin
    patient = make_patient(establishment, birth_surname="ATTENDRE")
    assert _new_account(admin_client, establishment).status_code == 302
    account = User.objects.get(username="nouvelle.secretaire")
    assert account.is_active and not account.access_approved
    # Its creator chose no password: there is none to know.
    assert not account.has_usable_password()
    # Even signed in by other means, it reads nothing, found or not.
    client = signed_in_client(account)
    assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 403
    assert client.get(reverse("web:patient_search")).status_code == 403
    change = AccessChange.objects.get(account=account)
    # The administrator cannot approve anything.
    assert approve((None, admin_client), change, code=False).status_code == 403
    assert approve(officer, change).status_code == 302
    assert User.objects.get(pk=account.pk).access_approved
    assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 200


def test_approval_needs_the_officers_second_factor(admin, officer, establishment):
    _, admin_client = admin
    _new_account(admin_client, establishment)
    change = AccessChange.objects.get(account__username="nouvelle.secretaire")
    assert approve(officer, change, code=False).status_code == 302
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.PENDING
    user, client = officer
    wrong = "000000" if totp_code(user) != "000000" else "111111"
    client.post(
        reverse("web:security_decide", args=[change.pk]), {"decision": "approve", "token": wrong}
    )
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.PENDING
    # The wrong code counts against the device's throttle even though nothing was decided.
    assert TOTPDevice.objects.get(user=user).throttling_failure_count == 1


def test_a_role_change_waits_for_approval_and_can_be_rejected(admin, officer, establishment):
    admin_user, admin_client = admin
    nurse = UserFactory(role=Role.NURSE, establishments=[establishment])
    admin_client.post(
        reverse("web:account_request", args=[nurse.pk, "role"]), {"role": Role.PRACTITIONER}
    )
    assert User.objects.get(pk=nurse.pk).role == Role.NURSE
    change = AccessChange.objects.get(account=nurse)
    # Rejecting needs no code: it widens nothing.
    approve(officer, change, decision="reject", code=False)
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.REJECTED
    assert User.objects.get(pk=nurse.pk).role == Role.NURSE
    admin_client.post(
        reverse("web:account_request", args=[nurse.pk, "role"]), {"role": Role.PRACTITIONER}
    )
    approve(officer, AccessChange.objects.filter(account=nurse, status="pending").get())
    assert User.objects.get(pk=nurse.pk).role == Role.PRACTITIONER


def test_nobody_approves_a_change_to_their_own_account(admin, officer, establishment):
    _, admin_client = admin
    officer_user, _ = officer
    admin_client.post(
        reverse("web:account_request", args=[officer_user.pk, "budget"]),
        {"window": "week", "soft": 50, "hard": 60},
    )
    change = AccessChange.objects.get(account=officer_user)
    assert approve(officer, change).status_code == 403
    assert AccessChange.objects.get(pk=change.pk).status == ChangeStatus.PENDING


def test_nobody_asks_a_change_for_their_own_account(admin):
    admin_user, admin_client = admin
    response = admin_client.post(
        reverse("web:account_request", args=[admin_user.pk, "role"]), {"role": Role.PRACTITIONER}
    )
    assert response.status_code == 403
    assert not AccessChange.objects.filter(account=admin_user).exists()


def test_second_factor_reset_and_budget_raise_take_effect_on_approval(
    admin, officer, establishment, django_capture_on_commit_callbacks
):
    _, admin_client = admin
    secretary = UserFactory(
        role=Role.SECRETARY, establishments=[establishment], email="camille@example.fr"
    )
    signed_in_client(secretary)  # enrols a device
    admin_client.post(reverse("web:account_request", args=[secretary.pk, "second-factor"]))
    admin_client.post(
        reverse("web:account_request", args=[secretary.pk, "budget"]),
        {"window": "week", "soft": 40, "hard": 50},
    )
    assert TOTPDevice.objects.filter(user=secretary).exists()
    for change in AccessChange.objects.filter(account=secretary):
        with django_capture_on_commit_callbacks(execute=True):
            assert approve(officer, change).status_code == 302
    assert not TOTPDevice.objects.filter(user=secretary).exists()
    # The new device is set up through a link sent to the account's own address.
    assert [m.to for m in mail.outbox] == [["camille@example.fr"]]
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


def test_the_officer_sees_who_what_and_where_before_deciding(admin, officer, establishment):
    _, admin_client = admin
    _new_account(
        admin_client,
        establishment,
        role=Role.PRACTITIONER,
        rpps=RPPS,
        specialty="Cardiologie",
        email="dr.nouvel@example.fr",
    )
    change = AccessChange.objects.get(account__username="nouvelle.secretaire")
    page = officer[1].get(reverse("web:security_change", args=[change.pk])).content.decode()
    for shown in (RPPS, "dr.nouvel@example.fr", establishment.name, "Practitioner"):
        assert shown in page
    assert 'name="token"' in page
