"""The security officer's work: alerts, locked accounts (unlock with a reason), break-the-glass
reviews. Every function requires the console capability and is recorded; nobody unlocks or
reviews themselves."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from . import approvals
from .actors import Actor
from .boundary import Refused, require
from .containment import release
from .models import Alert, BreakGlass, Containment
from .policy import Capability


@dataclass(frozen=True)
class ConsoleSummary:
    alerts: list[Alert]
    locked: list[Containment]
    reviews: list[BreakGlass]


def summary(*, actor: Actor) -> ConsoleSummary:
    require(actor, Capability.SECURITY_CONSOLE)
    return ConsoleSummary(
        alerts=list(
            Alert.objects.filter(acknowledged_at__isnull=True)
            .select_related("account")
            .order_by("-at")[:100]
        ),
        locked=list(
            Containment.objects.filter(released_at__isnull=True)
            .select_related("user")
            .order_by("-at")
        ),
        reviews=list(
            BreakGlass.objects.filter(reviewed_at__isnull=True)
            .select_related("user")
            .order_by("-opened_at")
        ),
    )


def _not_self(actor: Actor, user_id: int) -> None:
    if user_id == actor.user_id:
        raise Refused("nobody acts on their own account", not_found=False)


def acknowledge(*, actor: Actor, alert_id: int) -> None:
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    alert = Alert.objects.filter(pk=alert_id, acknowledged_at__isnull=True).first()
    if alert is None:
        raise Refused("no such open alert")
    _not_self(actor, alert.account_id)
    alert.acknowledged_by_id = actor.user_id
    alert.acknowledged_at = timezone.now()
    alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    ledger.reason = f"alert {alert_id} acknowledged"


def unlock(*, actor: Actor, user_id: int, reason: str, token: str = "") -> None:
    """Unlocking gives access back: an independent security officer, with the second factor."""
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    _not_self(actor, user_id)
    if not Containment.objects.filter(user_id=user_id, released_at__isnull=True).exists():
        raise Refused("no such locked account")
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the account can be unlocked.")})
    approvals.check_decider(actor, user_id, token=token)
    release(user_id=user_id, by=actor, reason=reason.strip())
    username = get_user_model().objects.values_list("username", flat=True).get(pk=user_id)
    ledger.reason = f"unlocked {username}: {reason.strip()}"


def review_break_glass(*, actor: Actor, opening_id: int, justified: bool, note: str) -> None:
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    opening = BreakGlass.objects.filter(pk=opening_id, reviewed_at__isnull=True).first()
    if opening is None:
        raise Refused("no such opening to review")
    _not_self(actor, opening.user_id)
    opening.reviewed_by_id = actor.user_id
    opening.reviewed_at = timezone.now()
    opening.review_verdict = "justified" if justified else "unjustified"
    opening.review_note = note.strip()
    opening.save(update_fields=["reviewed_by", "reviewed_at", "review_verdict", "review_note"])
    ledger.reason = f"break-the-glass {opening_id} reviewed: {opening.review_verdict}"
