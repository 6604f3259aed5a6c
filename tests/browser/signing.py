"""Signing staff in through the browser: accounts with a known password, the codes their
authenticator would show, and the two sign-in paths (verify, or enrol on first sign-in)."""

import base64
import re
import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.guard.policy import Role
from carnet.staff import enrolment
from carnet.staff.models import User

from ..factories import UserFactory, practitioner_for

PASSWORD = "Un-mot-de-passe-assez-long"


def staff_account(username: str, role: str, establishment, **names) -> User:
    """An account as the installation's operator makes one: a known password, and the second
    factor enrolled at first sign-in."""
    user = UserFactory(username=username, role=role, establishments=[establishment], **names)
    user.set_password(PASSWORD)
    user.save()
    enrolment.issue_at_sign_in(user)
    if role == Role.PRACTITIONER:
        practitioner_for(user)
    return user


def device_code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """A code of the account's device. A code is accepted once: a second confirmation right
    after sign-in takes the next step's code, which the device tolerates."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, drift=device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def code_from_secret(secret: str) -> str:
    """The code an authenticator app shows now, from the secret as the enrolment page prints it."""
    return f"{TOTP(base64.b32decode(secret.replace(' ', ''))).token():06d}"


def _password_step(page, base: str, user: User, next_step: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=username]) button[type=submit]")
    page.wait_for_url(f"{base}{next_step}")


def sign_in(page, base: str, user: User, device: TOTPDevice) -> None:
    _password_step(page, base, user, "/login/verify/")
    page.fill("input[name=token]", device_code(device))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{base}/")


def sign_in_enrolling(page, base: str, user: User) -> None:
    """First sign-in: password, then enrolment of the second factor from the printed secret."""
    _password_step(page, base, user, "/login/enrol/")
    secret = page.inner_text("#totp-secret").strip()
    assert re.fullmatch(r"[A-Z2-7 ]+", secret)
    page.fill("input[name=token]", code_from_secret(secret))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{base}/")
