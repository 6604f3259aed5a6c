"""Forgotten password on the portal: a one-time link by e-mail, the same answer whether an
account uses the address or not, throttled; a link works once, for an hour, the latest only;
a reset ends every session and leaves the second factor in place."""

import datetime
import re
import threading

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.guard.policy import Role
from carnet.portal import reset
from carnet.portal.models import PasswordReset
from carnet.staff.models import User

from .factories import UserFactory, totp_device
from .test_portal import PASSWORD, portal_client

EMAIL = "marie@example.fr"
NEW_PASSWORD = "un autre mot de passe bien long"


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    def run(callable_, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            response = callable_(*args, **kwargs)
        reset.wait_for_messages()
        return response

    return run


def ask(client, on_commit, email=EMAIL, ip="203.0.113.9"):
    return on_commit(client.post, "/portal/password-reset/", {"email": email}, REMOTE_ADDR=ip)


def link_in(message) -> str:
    found = re.search(r"https?://\S+/portal/(password-reset/[\w-]+/)", message.body)
    return "/portal/" + found.group(1)


def sign_in(client, password, email=EMAIL):
    return client.post("/portal/login/", {"username": email, "password": password})


@pytest.mark.django_db
def test_a_patient_resets_the_password_with_the_link_sent_to_the_address(
    establishment, patient, on_commit
):
    elsewhere = portal_client(establishment, patient)
    assert elsewhere.get("/portal/").status_code == 200
    mail.outbox.clear()
    response = ask(Client(), on_commit, email="  Marie@Example.fr ")
    assert response.status_code == 302 and response["Location"] == "/portal/password-reset/sent/"
    (message,) = mail.outbox
    assert message.to == ["Marie@Example.fr"] and "DURAND" not in message.body
    client = Client()
    followed = client.get(link_in(message))
    # The token leaves the address bar at once.
    assert followed["Location"] == "/portal/password-reset/new/"
    done = client.post(
        "/portal/password-reset/new/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302 and done["Location"] == "/portal/login/"
    # Every session of the account ended; the new password works, the old one no more.
    assert elsewhere.get("/portal/").status_code == 302
    assert sign_in(Client(), PASSWORD).status_code == 200
    assert sign_in(Client(), NEW_PASSWORD).status_code == 302
    assert AuditEntry.objects.filter(action="portal.password_reset", outcome="allowed").exists()


@pytest.mark.django_db
def test_the_answer_is_the_same_whether_the_address_has_an_account_or_not(
    establishment, patient, on_commit
):
    portal_client(establishment, patient)
    staff_user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    staff_user.email = "desk@example.fr"
    staff_user.save(update_fields=["email"])
    mail.outbox.clear()
    answers = []
    for email in (EMAIL, "nobody@example.fr", "desk@example.fr"):
        client = Client()
        response = ask(client, on_commit, email=email)
        page = client.get(response["Location"])
        # Each page has its own CSRF token (the language switch); the rest is identical.
        text = re.sub(r'value="[\w-]{32,}"', "", page.content.decode())
        answers.append((response.status_code, response["Location"], text))
    assert answers[0] == answers[1] == answers[2]
    # Only the patient's address got a message: never a staff account, never a stranger.
    assert [m.to for m in mail.outbox] == [[EMAIL]]
    assert PasswordReset.objects.count() == 1


@pytest.mark.django_db
def test_a_link_works_once_and_a_reused_one_is_refused(establishment, patient, on_commit):
    portal_client(establishment, patient)
    mail.outbox.clear()
    ask(Client(), on_commit)
    link = link_in(mail.outbox[0])
    client = Client()
    client.get(link)
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert client.post("/portal/password-reset/new/", data).status_code == 302
    again = Client()
    again.get(link)
    refused = again.post(
        "/portal/password-reset/new/",
        {"new_password1": "encore un autre mot de passe", "new_password2": "x"},
    )
    assert refused.status_code == 400 and "no longer valid" in refused.content.decode()
    assert sign_in(Client(), NEW_PASSWORD).status_code == 302
    # The service refuses the spent token too, whatever the page does.
    token = link.rstrip("/").rsplit("/", 1)[1]
    with pytest.raises(reset.ValidationError):
        reset.complete_reset(token=token, password="encore un autre mot de passe", client_ip=None)


@pytest.mark.django_db
def test_a_link_expires_and_a_newer_one_replaces_it(establishment, patient, on_commit):
    portal_client(establishment, patient)
    mail.outbox.clear()
    ask(Client(), on_commit)
    ask(Client(), on_commit)
    first, second = (link_in(m) for m in mail.outbox)
    client = Client()
    client.get(first)
    assert client.get("/portal/password-reset/new/").status_code == 400
    later = timezone.now() + datetime.timedelta(minutes=reset.LINK_MINUTES + 1)
    with time_machine.travel(later, tick=False):
        client = Client()
        client.get(second)
        response = client.post(
            "/portal/password-reset/new/",
            {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        )
        assert response.status_code == 400
    assert sign_in(Client(), PASSWORD).status_code == 302
    # A forged token or none at all gives the same page.
    client = Client()
    client.get("/portal/password-reset/forged-token-0123456789/")
    assert client.get("/portal/password-reset/new/").status_code == 400
    assert Client().get("/portal/password-reset/new/").status_code == 400


@pytest.mark.django_db
def test_requests_are_throttled_by_address_and_by_connection(establishment, patient, on_commit):
    portal_client(establishment, patient)
    mail.outbox.clear()
    for n in range(reset.PER_ADDRESS_HOUR + 2):
        response = ask(Client(), on_commit, ip=f"198.51.100.{n}")
        assert response.status_code == 302
    # No more messages than the per-address bound: no mail bombing, and the same answer.
    assert len(mail.outbox) == reset.PER_ADDRESS_HOUR
    for n in range(reset.PER_CONNECTION_HOUR):
        ask(Client(), on_commit, email=f"guess{n}@example.fr", ip="192.0.2.50")
    for email in (EMAIL, "another-guess@example.fr"):
        throttled = ask(Client(), on_commit, email=email, ip="192.0.2.50")
        assert throttled.status_code == 429
        assert "Too many requests" in throttled.content.decode()


@pytest.mark.django_db
def test_after_a_reset_the_second_factor_is_still_asked(establishment, patient, on_commit):
    portal_client(establishment, patient)
    account = User.objects.get(role=Role.PATIENT)
    totp_device(account)
    mail.outbox.clear()
    ask(Client(), on_commit)
    client = Client()
    client.get(link_in(mail.outbox[0]))
    client.post(
        "/portal/password-reset/new/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    signed = Client()
    response = sign_in(signed, NEW_PASSWORD)
    assert response["Location"] == "/portal/login/verify/"
    assert signed.get("/portal/").status_code == 302


@pytest.mark.django_db
def test_the_answer_does_not_wait_for_the_mail_server(
    establishment, patient, django_capture_on_commit_callbacks, monkeypatch
):
    """A slow mail server would otherwise tell which addresses have an account."""
    portal_client(establishment, patient)
    released = threading.Event()
    sent = []

    def slow_mail_server(*args, **kwargs):
        released.wait(10)
        sent.append(args)

    monkeypatch.setattr(reset, "send_mail", slow_mail_server)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post("/portal/password-reset/", {"email": EMAIL})
    assert response.status_code == 302 and not sent
    released.set()
    reset.wait_for_messages()
    assert len(sent) == 1
