"""The second factor (TOTP, RFC 6238) for staff: enrolment on first sign-in, verification on
every sign-in, with django-otp's throttling against guessing."""

from __future__ import annotations

import base64

import segno
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome

from .models import User


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def pending_device(user: User) -> TOTPDevice:
    """The device being enrolled (kept until confirmed, so a reload shows the same secret)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Carnet", confirmed=False)
    return device


def secret_text(device: TOTPDevice) -> str:
    secret = base64.b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    return segno.make(device.config_url, error="m").svg_inline(scale=5, border=2)


def check_token(device: TOTPDevice, token: str) -> tuple[bool, str]:
    """(accepted, message). Throttled: each failure doubles the wait before the next try."""
    allowed, details = device.verify_is_allowed()
    if not allowed:
        wait = (details or {}).get("locked_until")
        return False, _("Too many wrong codes: wait a moment before trying again.") + (
            f" ({wait:%H:%M:%S})" if wait else ""
        )
    if device.verify_token(token):
        return True, ""
    return False, _("This code is not valid. Check your device's clock and try the current code.")


def confirm(device: TOTPDevice) -> None:
    device.confirmed = True
    device.save(update_fields=["confirmed"])


def record_attempt(user: User, accepted: bool, *, request_id: str, client_ip: str | None) -> None:
    append(
        Record(
            actor_id=user.pk,
            actor=user.username,
            role=user.role,
            action="auth.second_factor",
            outcome=Outcome.ALLOWED if accepted else Outcome.REFUSED,
            request_id=request_id,
            client_ip=client_ip,
        )
    )


def attempt(
    user: User, device: TOTPDevice, token: str, *, request_id: str, client_ip: str | None
) -> tuple[bool, str]:
    """A sign-in or enrolment step: checks the code and records the attempt."""
    accepted, message = check_token(device, token)
    record_attempt(user, accepted, request_id=request_id, client_ip=client_ip)
    return accepted, message


def verify_for_account(user_id: int, token: str) -> tuple[bool, str]:
    """The guard's second-factor check (break-the-glass, step-up)."""
    device = TOTPDevice.objects.filter(user_id=user_id, confirmed=True).first()
    if device is None:
        return False, _("No second factor is set up for this account.")
    if not token.isdigit():
        return False, _("The code is made of 6 digits.")
    return check_token(device, token)
