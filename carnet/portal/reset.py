"""Password reset for patients, Django's flow adapted: a one-time link by e-mail to the
address typed (the only place it exists in clear: the account keeps a keyed digest of it).
The same answer whether an account uses the address or not; throttled by connection, by
address and overall; a link works once, for an hour, and a reset ends every session of the
account. The second factor, if the patient has one, is still asked at the next sign-in."""

from __future__ import annotations

import datetime
import logging
import secrets
import threading
import uuid

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import override

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome
from carnet.guard.containment import end_sessions
from carnet.guard.policy import Role
from carnet.patients.accounts import sign_in_name
from carnet.staff.models import User

from .models import PasswordReset, ResetRequest

LINK_MINUTES = 60
PER_ADDRESS_HOUR = 3  # more links to one address are not sent (no mail bombing)
PER_CONNECTION_HOUR = 10
OVERALL_HOUR = 300  # past this, resets pause for everyone (a distributed attack)


logger = logging.getLogger(__name__)
# Messages on their way (finished ones are dropped as new ones start).
_sending: list[threading.Thread] = []


class ResetThrottled(ValidationError):
    pass


def _digest(token: str) -> str:
    return salted_hmac("carnet.portal.password-reset", token, algorithm="sha256").hexdigest()


def _check_throttle(client_ip: str | None, since: datetime.datetime) -> None:
    recent = ResetRequest.objects.filter(at__gte=since)
    if client_ip and recent.filter(client_ip=client_ip).count() >= PER_CONNECTION_HOUR:
        raise ResetThrottled(_("Too many requests from this connection. Try again in an hour."))
    if recent.count() >= OVERALL_HOUR:
        raise ResetThrottled(
            _("Password reset is paused for a while. Try again later, or call the desk.")
        )


def _patient_account(address_digest: str) -> User | None:
    return User.objects.filter(
        username=address_digest,
        role=Role.PATIENT,
        is_active=True,
        portal_account__closed_at__isnull=True,
    ).first()


def request_reset(*, email: str, client_ip: str | None, request_id: str = "") -> None:
    """Sends a link if a patient account uses this address; says nothing either way."""
    now = timezone.now()
    _check_throttle(client_ip, now - datetime.timedelta(hours=1))
    address = sign_in_name(email)
    # Made whether or not an account exists, so both answers take the same work.
    token = secrets.token_urlsafe(32)
    digest = _digest(token)
    with transaction.atomic():
        earlier = ResetRequest.objects.filter(
            address_digest=address, at__gte=now - datetime.timedelta(hours=1)
        ).count()
        ResetRequest.objects.create(at=now, client_ip=client_ip, address_digest=address)
        user = _patient_account(address)
        if user is None or earlier >= PER_ADDRESS_HOUR:
            return
        PasswordReset.objects.filter(
            user=user, used_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        PasswordReset.objects.create(
            user=user,
            digest=digest,
            created_at=now,
            expires_at=now + datetime.timedelta(minutes=LINK_MINUTES),
        )
        _record(user, "portal.password_reset.link", request_id, client_ip)
        transaction.on_commit(lambda: _send_apart(email.strip(), token))


def _send_apart(address: str, token: str) -> None:
    """Off the request's thread: the answer must take the same time whether a message goes
    out or not, or a slow mail server would tell which addresses have an account."""
    _sending[:] = [thread for thread in _sending if thread.is_alive()]
    thread = threading.Thread(target=_send, args=(address, token), daemon=True)
    _sending.append(thread)
    thread.start()


def wait_for_messages(timeout: float = 10) -> None:
    """Until the messages on their way are handed to the mail backend (tests, commands)."""
    for thread in list(_sending):
        thread.join(timeout)


def _send(address: str, token: str) -> None:
    url = settings.CARNET_PORTAL_URL.rstrip("/") + f"/password-reset/{token}/"
    with override(settings.LANGUAGE_CODE):
        subject = _("[Carnet] Choose a new password for your patient space")
        body = "\n\n".join(
            [
                _(
                    "Someone asked to reset the password of your patient space. To choose a "
                    "new one, follow this link:"
                ),
                url,
                _("The link works once, for %(minutes)d minutes.") % {"minutes": LINK_MINUTES},
                _("If you did not ask for it, ignore this message: your password does not change."),
            ]
        )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address], fail_silently=False)
    except Exception as error:  # the patient asks again; the address is never logged
        logger.warning("password-reset message not sent: %s", type(error).__name__)


def open_link(token: str) -> PasswordReset | None:
    """The link behind a token, or None (used, expired, replaced or unknown alike)."""
    if not token or len(token) > 128:
        return None
    return (
        PasswordReset.objects.select_related("user")
        .filter(
            digest=_digest(token),
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            user__is_active=True,
        )
        .first()
    )


def complete_reset(
    *, token: str, password: str, client_ip: str | None, request_id: str = ""
) -> User:
    """Sets the new password once; the link is spent and every session of the account ends."""
    with transaction.atomic():
        link = open_link(token)
        if link is not None:
            link = PasswordReset.objects.select_for_update().filter(pk=link.pk).first()
        if link is None or link.used_at is not None or link.revoked_at is not None:
            raise ValidationError(_("This link is no longer valid: ask for a new one."))
        user = link.user
        try:
            password_validation.validate_password(password, user)
        except ValidationError as error:
            raise ValidationError({"new_password1": error.messages}) from None
        now = timezone.now()
        link.used_at = now
        link.save(update_fields=["used_at"])
        PasswordReset.objects.filter(user=user, used_at__isnull=True).update(revoked_at=now)
        user.set_password(password)
        user.save(update_fields=["password"])
        end_sessions(user.pk)
        _record(user, "portal.password_reset", request_id, client_ip)
    return user


def _record(user: User, action: str, request_id: str, client_ip: str | None) -> None:
    append(
        Record(
            actor_id=user.pk,
            actor=user.username,
            role=Role.PATIENT,
            action=action,
            outcome=Outcome.ALLOWED,
            request_id=request_id or uuid.uuid4().hex,
            client_ip=client_ip,
        )
    )
