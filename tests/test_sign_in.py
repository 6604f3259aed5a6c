"""Sign-in attacks: wrong and guessed second-factor codes, password brute force per account
and per address, forged (CSRF-less) posts, idle sessions; and the password storage."""

import datetime
import threading
import time

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_otp.oath import TOTP

from carnet import settings as carnet_settings
from carnet.audit.models import AuditEntry
from carnet.guard.policy import Role
from carnet.patients.models import Patient
from carnet.staff import enrolment
from carnet.staff.hashers import SLOTS, BoundedArgon2Hasher

from .conftest import signed_in_client
from .factories import UserFactory, totp_device

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def _code(device, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    totp.time = totp.time + offset * device.step
    return f"{totp.token():06d}"


def _password_step(client: Client, user, address: str = "10.0.0.1"):
    return client.post(
        reverse("web:login"), {"username": user.username, "password": PASSWORD}, REMOTE_ADDR=address
    )


@pytest.fixture
def secretary(establishment):
    return UserFactory(role=Role.SECRETARY, establishments=[establishment])


def test_password_alone_does_not_open_staff_pages(secretary):
    totp_device(secretary)
    client = Client()
    assert _password_step(client, secretary)["Location"] == reverse("web:verify")
    response = client.get(reverse("web:patient_search"))
    assert response.status_code == 302 and reverse("web:login") in response["Location"]


def test_a_wrong_code_is_refused_and_recorded(secretary):
    device = totp_device(secretary)
    client = Client()
    _password_step(client, secretary)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("web:verify"), {"token": wrong}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "not valid" in response.content.decode()
    assert client.get(reverse("web:dashboard")).status_code == 302
    assert AuditEntry.objects.filter(action="auth.second_factor", outcome="refused").count() == 1


def test_guessing_codes_is_throttled(secretary):
    device = totp_device(secretary)
    client = Client()
    _password_step(client, secretary)
    client.post(
        reverse("web:verify"), {"token": "000000" if _code(device) != "000000" else "111111"}
    )
    # Right after a failure even the right code waits: guessing a million codes is not on.
    response = client.post(
        reverse("web:verify"), {"token": _code(device)}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Too many wrong codes" in response.content.decode()
    assert client.get(reverse("web:dashboard")).status_code == 302


def test_the_right_code_lets_the_user_in(secretary):
    device = totp_device(secretary)
    client = Client()
    _password_step(client, secretary)
    response = client.post(reverse("web:verify"), {"token": _code(device)})
    assert response["Location"] == reverse("web:dashboard")
    assert client.get(reverse("web:dashboard")).status_code == 200


def test_first_sign_in_enrols_a_second_factor_where_the_operator_opened_it(secretary):
    enrolment.issue_at_sign_in(secretary)
    client = Client()
    assert _password_step(client, secretary)["Location"] == reverse("web:enrol")
    page = client.get(reverse("web:enrol"))
    assert b"<svg" in page.content
    secret = page.context["secret"].replace(" ", "")
    assert len(secret) >= 32
    device = secretary.totpdevice_set.get()
    assert not device.confirmed
    client.post(reverse("web:enrol"), {"token": _code(device)})
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("web:dashboard")).status_code == 200
    # Spent: the next account holder without a device cannot enrol one at sign-in.
    assert enrolment.at_sign_in(secretary) is None


def test_a_password_alone_never_sets_up_a_second_factor(secretary):
    """Whoever knows an account's password (its creator, say) cannot make it theirs: without an
    enrolment opened for sign-in, there is no device to set up."""
    client = Client()
    response = _password_step(client, secretary)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("web:enrol")).status_code == 302
    assert not secretary.totpdevice_set.exists()


def test_password_guessing_locks_the_account_from_any_address(secretary):
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("web:login"),
            {"username": secretary.username, "password": f"wrong-{attempt}"},
            REMOTE_ADDR=f"10.0.1.{attempt}",
        )
    # The right password, from yet another address: still locked.
    response = _password_step(Client(), secretary, address="10.0.2.1")
    assert response.status_code == 429
    assert b"locked" in response.content.lower() or b"verrouill" in response.content.lower()


def test_a_few_typos_behind_one_address_block_nobody_else(establishment, secretary):
    """A hospital's staff share one outgoing address: colleagues' wrong passwords there do not
    lock the others out."""
    totp_device(secretary)
    client = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT * 3):
        client.post(
            reverse("web:login"),
            {"username": f"colleague{attempt % 7}", "password": "wrong-password"},
            REMOTE_ADDR="10.0.3.3",
        )
    assert _password_step(Client(), secretary, address="10.0.3.3").status_code == 302


def test_password_spraying_from_one_address_blocks_that_address(establishment, secretary):
    totp_device(secretary)
    client = Client()
    for attempt in range(settings.CARNET_LOGIN_ADDRESS_LIMIT):
        client.post(
            reverse("web:login"),
            {"username": f"someone{attempt}", "password": "Printemps2026!"},
            REMOTE_ADDR="10.0.3.3",
        )
    assert _password_step(Client(), secretary, address="10.0.3.3").status_code == 429
    assert _password_step(Client(), secretary, address="10.0.3.4").status_code == 302


def test_posts_without_a_csrf_token_are_refused(secretary):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("web:login"), {"username": secretary.username, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    signed_in = signed_in_client(secretary)
    signed_in.handler.enforce_csrf_checks = True
    response = signed_in.post(reverse("web:patient_create"), {"birth_surname": "FORGED"})
    assert response.status_code == 403
    assert Patient.objects.count() == 0


def test_an_idle_session_expires(secretary):
    client = signed_in_client(secretary)
    assert client.get(reverse("web:dashboard")).status_code == 200
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(
        seconds=settings.SESSION_COOKIE_AGE + 60
    )
    with time_machine.travel(later):
        response = client.get(reverse("web:dashboard"))
    assert response.status_code == 302 and reverse("web:login") in response["Location"]


def test_a_session_in_use_stays_open_without_a_write_at_every_request(secretary):
    """Used every few minutes for longer than the idle timeout, the session stays open; the
    expiry moves on at most once a minute, not at every request."""
    client = signed_in_client(secretary)
    start = datetime.datetime.now(tz=datetime.UTC)
    step = datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE // 3)
    for n in range(1, 7):
        with time_machine.travel(start + n * step):
            assert client.get(reverse("web:dashboard")).status_code == 200
    soon = start + 6 * step + datetime.timedelta(seconds=5)
    with time_machine.travel(soon), CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("web:dashboard")).status_code == 200
    assert not any('UPDATE "django_session"' in q["sql"] for q in queries.captured_queries)


def test_patients_and_screens_cannot_use_the_staff_sign_in(establishment):
    for role in (Role.PATIENT, Role.SCREEN):
        user = UserFactory(role=role)
        client = Client()
        response = client.post(
            reverse("web:login"), {"username": user.username, "password": PASSWORD}
        )
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        assert "_auth_user_id" not in client.session


def test_passwords_are_stored_with_argon2id_at_least_at_owasp_parameters():
    assert carnet_settings.PASSWORD_HASHERS[0] == "carnet.staff.hashers.BoundedArgon2Hasher"
    hasher = BoundedArgon2Hasher()
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2 and hasher.parallelism >= 1
    encoded = hasher.encode("a long enough passphrase", hasher.salt())
    assert encoded.startswith("argon2$argon2id$v=19$m=19456,t=2,p=1$")
    assert hasher.verify("a long enough passphrase", encoded)
    assert not hasher.verify("another passphrase", encoded)
    # A hash made with Django's heavier default still verifies, and is to be rewritten.
    older = Argon2PasswordHasher().encode("a long enough passphrase", hasher.salt())
    assert hasher.verify("a long enough passphrase", older) and hasher.must_update(older)
    assert not hasher.must_update(encoded)


def test_no_more_than_a_few_hashings_at_once(monkeypatch):
    """A flood of sign-ins waits for a slot: never more than SLOTS hashings (and their memory)
    at once in a process."""
    running, most = 0, 0
    lock = threading.Lock()

    def slow_verify(self, password, encoded):
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return True

    monkeypatch.setattr(Argon2PasswordHasher, "verify", slow_verify)
    hasher = BoundedArgon2Hasher()
    threads = [
        threading.Thread(target=hasher.verify, args=("x", "argon2$...")) for _ in range(SLOTS * 3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert most == SLOTS


def test_short_and_common_passwords_are_refused():
    for weak in ("Short-pw1", "password1234", "123456789012"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("a long enough passphrase")


def test_every_page_carries_the_security_headers(secretary):
    response = Client().get(reverse("web:login"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["Cache-Control"] == "no-store"
