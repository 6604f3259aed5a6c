"""One-time enrolment: the owner of an account sets its password and second factor, so that
whoever created the account never knows either.

An account an administrator asked for gets a link by e-mail once a security officer approved
it (a second-factor reset likewise); the link's token is kept only as a digest, works once,
expires, and closes after a few wrong codes. Accounts the installation's operator made from the
command line (the demo's, the first security officer) enrol at their first sign-in instead.
Without an open enrolment nobody can set up a second factor, so a password alone never lets
anyone make an account theirs.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Enrolment, EnrolmentPurpose, User

LINK_HOURS = 72
SIGN_IN_DAYS = 30
MAX_FAILURES = 5


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _close_open(user: User) -> None:
    now = timezone.now()
    Enrolment.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
        expires_at=now
    )


def issue_link(user: User, purpose: str) -> str:
    """A new enrolment link's token for this account (any older one stops working)."""
    _close_open(user)
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    Enrolment.objects.create(
        user=user,
        purpose=purpose,
        digest=_digest(token),
        created_at=now,
        expires_at=now + datetime.timedelta(hours=LINK_HOURS),
    )
    return token


def issue_at_sign_in(user: User) -> Enrolment:
    """For an account the operator made: its owner enrols the second factor at first sign-in."""
    _close_open(user)
    now = timezone.now()
    return Enrolment.objects.create(
        user=user,
        purpose=EnrolmentPurpose.ACCOUNT,
        created_at=now,
        expires_at=now + datetime.timedelta(days=SIGN_IN_DAYS),
        password_set_at=now,
    )


def link_url(token: str) -> str:
    return settings.CARNET_SITE_URL.rstrip("/") + "/enrol/?" + urlencode({"token": token})


def send_link(user: User, token: str, purpose: str) -> None:
    """E-mails the link to the account's own address once the transaction commits. The
    message names the account, never a patient."""
    url = link_url(token)
    with override(settings.LANGUAGE_CODE):
        if purpose == EnrolmentPurpose.ACCOUNT:
            subject = _("[Carnet] Your account is ready: set your password")
            intro = _(
                "A Carnet account was opened for you (%(username)s). Follow this link to choose "
                "your password and set up your second factor:"
            ) % {"username": user.username}
        else:
            subject = _("[Carnet] Set up your new second factor")
            intro = _(
                "The second factor of your Carnet account (%(username)s) was reset. Follow this "
                "link, confirm your password and set up the new one:"
            ) % {"username": user.username}
        body = "\n\n".join(
            [
                intro,
                url,
                _("The link works once, for %(hours)d hours.") % {"hours": LINK_HOURS},
                _(
                    "If you did not expect this message, do not follow the link and tell your "
                    "establishment's security officer."
                ),
            ]
        )
    recipient = [user.email]
    transaction.on_commit(
        lambda: send_mail(
            subject, body, settings.DEFAULT_FROM_EMAIL, recipient, fail_silently=False
        )
    )


def by_token(token: str) -> Enrolment | None:
    """The open enrolment behind a link, or None (used, expired, closed or unknown alike)."""
    if not token or len(token) > 128:
        return None
    return (
        Enrolment.objects.select_related("user")
        .filter(
            digest=_digest(token),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            failures__lt=MAX_FAILURES,
        )
        .exclude(digest="")
        .first()
    )


def open_by_id(enrolment_id: int) -> Enrolment | None:
    return (
        Enrolment.objects.select_related("user")
        .filter(
            pk=enrolment_id,
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            failures__lt=MAX_FAILURES,
        )
        .first()
    )


def at_sign_in(user: User) -> Enrolment | None:
    """The open enrolment that lets this account set up its second factor at sign-in."""
    return (
        Enrolment.objects.filter(
            user=user,
            digest="",
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            failures__lt=MAX_FAILURES,
        )
        .order_by("-created_at")
        .first()
    )


def usable(enrolment: Enrolment) -> bool:
    """An approved, active account: a link never makes an account usable before approval."""
    user = enrolment.user
    return user.is_active and user.access_approved


def set_password(enrolment: Enrolment, password: str) -> None:
    """The owner's password (validated by the caller's form)."""
    user = enrolment.user
    user.set_password(password)
    user.save(update_fields=["password"])
    enrolment.password_set_at = timezone.now()
    enrolment.save(update_fields=["password_set_at"])


def password_confirmed(enrolment: Enrolment) -> None:
    """After a reset: the owner proved the password before enrolling the new device."""
    enrolment.password_set_at = timezone.now()
    enrolment.save(update_fields=["password_set_at"])


def fresh_device(enrolment: Enrolment) -> TOTPDevice:
    """The device being enrolled under this enrolment: one made for it, never one left over."""
    device = TOTPDevice.objects.filter(
        user=enrolment.user, confirmed=False, name=f"enrolment-{enrolment.pk}"
    ).first()
    if device is None:
        TOTPDevice.objects.filter(user=enrolment.user, confirmed=False).delete()
        device = TOTPDevice.objects.create(
            user=enrolment.user, name=f"enrolment-{enrolment.pk}", confirmed=False
        )
    return device


def failed(enrolment: Enrolment) -> None:
    Enrolment.objects.filter(pk=enrolment.pk).update(failures=enrolment.failures + 1)
    enrolment.failures += 1


@transaction.atomic
def complete(enrolment: Enrolment, device: TOTPDevice) -> None:
    """The new device replaces every other; the enrolment is spent."""
    TOTPDevice.objects.filter(user=enrolment.user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.name = "Carnet"
    device.save(update_fields=["confirmed", "name"])
    enrolment.used_at = timezone.now()
    enrolment.save(update_fields=["used_at"])
