"""The one-time enrolment link: its owner chooses the password and sets up the second factor;
the link works once, expires, closes after wrong codes, never before approval, and leaves the
address bar at once. After a reset, the owner proves the password before the new device."""

import datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.guard.policy import Role
from carnet.staff import enrolment
from carnet.staff.models import EnrolmentPurpose

from .factories import UserFactory, totp_device

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "une phrase de passe assez longue"


@pytest.fixture
def newcomer(establishment):
    user = UserFactory(
        role=Role.SECRETARY, establishments=[establishment], email="nouvelle@example.fr"
    )
    user.set_unusable_password()
    user.save()
    return user


def _open(client, token):
    response = client.get(reverse("web:enrolment"), {"token": token})
    return response


def _code(device):
    device.refresh_from_db()
    return f"{TOTP(device.bin_key, step=device.step, t0=device.t0).token():06d}"


def test_the_owner_sets_password_then_second_factor_then_signs_in(newcomer):
    token = enrolment.issue_link(newcomer, EnrolmentPurpose.ACCOUNT)
    client = Client()
    opened = _open(client, token)
    # The token leaves the address bar at once.
    assert opened.status_code == 302 and opened["Location"] == reverse("web:enrolment")
    page = client.get(reverse("web:enrolment"))
    assert "Choose your password" in page.content.decode()
    weak = client.post(reverse("web:enrolment"), {"password": "court", "again": "court"})
    assert weak.status_code == 400
    differ = client.post(
        reverse("web:enrolment"), {"password": NEW_PASSWORD, "again": NEW_PASSWORD + "x"}
    )
    assert differ.status_code == 400
    client.post(reverse("web:enrolment"), {"password": NEW_PASSWORD, "again": NEW_PASSWORD})
    newcomer.refresh_from_db()
    assert newcomer.check_password(NEW_PASSWORD)
    device_page = client.get(reverse("web:enrolment"))
    assert b"<svg" in device_page.content
    device = TOTPDevice.objects.get(user=newcomer, confirmed=False)
    done = client.post(reverse("web:enrolment"), {"token": _code(device)})
    assert done.status_code == 302 and done["Location"] == reverse("web:login")
    device.refresh_from_db()
    assert device.confirmed
    # Spent.
    assert _open(Client(), token).status_code == 410
    # And the account signs in like any other.
    signing = Client()
    step = signing.post(
        reverse("web:login"), {"username": newcomer.username, "password": NEW_PASSWORD}
    )
    assert step["Location"] == reverse("web:verify")


def test_a_link_does_nothing_before_approval_after_expiry_or_after_wrong_codes(newcomer):
    newcomer.access_approved = False
    newcomer.save()
    token = enrolment.issue_link(newcomer, EnrolmentPurpose.ACCOUNT)
    assert _open(Client(), token).status_code == 410
    newcomer.access_approved = True
    newcomer.save()
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(
        hours=enrolment.LINK_HOURS + 1
    )
    with time_machine.travel(later):
        assert _open(Client(), token).status_code == 410
    token = enrolment.issue_link(newcomer, EnrolmentPurpose.ACCOUNT)
    client = Client()
    _open(client, token)
    client.post(reverse("web:enrolment"), {"password": NEW_PASSWORD, "again": NEW_PASSWORD})
    client.get(reverse("web:enrolment"))
    device = TOTPDevice.objects.get(user=newcomer, confirmed=False)
    wrong = "000000" if _code(device) != "000000" else "111111"
    for _ in range(enrolment.MAX_FAILURES):
        client.post(reverse("web:enrolment"), {"token": wrong})
    assert client.get(reverse("web:enrolment")).status_code == 410
    assert not TOTPDevice.objects.filter(user=newcomer, confirmed=True).exists()


def test_a_newer_link_replaces_the_older_one(newcomer):
    first = enrolment.issue_link(newcomer, EnrolmentPurpose.ACCOUNT)
    second = enrolment.issue_link(newcomer, EnrolmentPurpose.ACCOUNT)
    assert _open(Client(), first).status_code == 410
    assert _open(Client(), second).status_code == 302


def test_after_a_reset_the_owner_proves_the_password_first(establishment):
    user = UserFactory(role=Role.NURSE, establishments=[establishment], email="inf@example.fr")
    old = totp_device(user)
    old.delete()  # what the approved reset did
    token = enrolment.issue_link(user, EnrolmentPurpose.SECOND_FACTOR)
    client = Client()
    _open(client, token)
    page = client.get(reverse("web:enrolment")).content.decode()
    assert "Confirm your password" in page or "current password" in page
    wrong = client.post(reverse("web:enrolment"), {"password": "pas le bon mot de passe"})
    assert wrong.status_code == 400
    client.post(reverse("web:enrolment"), {"password": "correct-horse-battery"})
    assert b"<svg" in client.get(reverse("web:enrolment")).content


def test_the_link_page_opens_nothing_else(newcomer):
    """Someone who opened a link is not signed in: staff pages still ask for a sign-in."""
    token = enrolment.issue_link(newcomer, EnrolmentPurpose.ACCOUNT)
    client = Client()
    _open(client, token)
    response = client.get(reverse("web:dashboard"))
    assert response.status_code == 302 and reverse("web:login") in response["Location"]
