"""Containment, inside the request that crossed the line: lock the account, end every session
it has, record it, alert the security officers (in the console and by e-mail). Runs in its own
transaction after the refused request was rolled back, so nothing of that request leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from carnet.audit.chain import Record, append
from carnet.audit.models import Outcome
from carnet.metrics import CONTAINMENTS

from .actors import Actor
from .models import Alert, AlertKind, Containment, TrackedSession
from .policy import Role

# Other ways in than a session (API tokens) register here how to end an account's access;
# each runs inside the containment's transaction, with the account id.
_revokers: list[Callable[[int], object]] = []


def on_containment(revoke: Callable[[int], object]) -> None:
    if revoke not in _revokers:
        _revokers.append(revoke)


def end_sessions(user_id: int) -> int:
    tracked = TrackedSession.objects.filter(user_id=user_id)
    keys = list(tracked.values_list("session_key", flat=True))
    Session.objects.filter(session_key__in=keys).delete()
    tracked.delete()
    return len(keys)


def security_officer_emails() -> list[str]:
    return list(
        get_user_model()
        .objects.filter(role=Role.SECURITY_OFFICER, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )


def _notify(kind: str, username: str, at: str) -> None:
    recipients = security_officer_emails()
    if recipients:
        send_mail(
            subject=f"[Carnet] {kind}: {username}",
            message=(
                f"Carnet contained the account {username} at {at}.\n"
                "The account is locked and its sessions are ended. Review it in the security "
                "console (alerts, audit search, incident report) before unlocking it.\n"
                "This message carries no patient data."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )


def contain(
    actor: Actor,
    action: str,
    *,
    reason: str,
    patients: Iterable[str] = (),
    canary: bool = False,
    exposed_before: int = 0,
) -> None:
    touched = [str(p) for p in patients]
    now = timezone.now()
    CONTAINMENTS.inc()
    with transaction.atomic():
        if actor.user_id is not None:
            get_user_model().objects.filter(pk=actor.user_id).update(is_active=False)
            Containment.objects.create(
                user_id=actor.user_id,
                at=now,
                reason=reason,
                request_id=actor.request_id,
                patients_before=exposed_before,
            )
            end_sessions(actor.user_id)
            for revoke in _revokers:
                revoke(actor.user_id)
            Alert.objects.create(
                kind=AlertKind.CANARY if canary else AlertKind.CONTAINMENT,
                at=now,
                account_id=actor.user_id,
                patient_id=touched[0] if canary and touched else None,
                detail=reason,
                request_id=actor.request_id,
            )
        append(
            Record(
                actor_id=actor.user_id,
                actor=actor.username,
                role=actor.role,
                establishment_id=actor.establishment_id,
                action=action,
                outcome=Outcome.CONTAINED,
                patients=touched,
                reason=reason,
                request_id=actor.request_id,
                client_ip=actor.client_ip,
            )
        )
        kind = "Canary touched" if canary else "Account contained"
        stamp = f"{timezone.localtime(now):%Y-%m-%d %H:%M:%S %Z}"
        transaction.on_commit(lambda: _notify(kind, actor.username, stamp))


@transaction.atomic
def release(*, user_id: int, by: Actor, reason: str) -> None:
    """A security officer unlocks an account, with a reason (recorded)."""
    now = timezone.now()
    Containment.objects.filter(user_id=user_id, released_at__isnull=True).update(
        released_at=now, released_by_id=by.user_id, release_reason=reason
    )
    get_user_model().objects.filter(pk=user_id).update(is_active=True)
