"""Four eyes on every change that grants access: an administrator asks, a security officer
decides. Nobody decides their own request or a change to their own account. The domain that
owns the change registers how to apply it; until approval nothing takes effect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .actors import Actor
from .boundary import Refused, require
from .models import AccessChange, AccountBudget, ChangeKind, ChangeStatus
from .policy import Capability

Applier = Callable[[AccessChange], None]
_appliers: dict[str, Applier] = {}


def register(kind: str, applier: Applier) -> None:
    _appliers[kind] = applier


def ask(
    *, actor: Actor, kind: str, account_id: int, payload: dict[str, Any], summary: str
) -> AccessChange:
    ledger = require(actor, Capability.MANAGE_ACCOUNTS)
    if kind not in _appliers:
        raise Refused(f"no way to apply {kind}", not_found=False)
    change = AccessChange.objects.create(
        kind=kind,
        account_id=account_id,
        payload=payload,
        summary=summary[:300],
        requested_by_id=actor.user_id,
        requested_at=timezone.now(),
    )
    ledger.reason = f"asked {kind} for account {account_id}: {summary}"
    return change


def pending() -> QuerySet:
    return (
        AccessChange.objects.filter(status=ChangeStatus.PENDING)
        .select_related("account", "requested_by")
        .order_by("requested_at")
    )


@transaction.atomic
def decide(*, actor: Actor, change_id: int, approve: bool, note: str = "") -> AccessChange:
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    change = (
        AccessChange.objects.select_for_update()
        .filter(pk=change_id, status=ChangeStatus.PENDING)
        .first()
    )
    if change is None:
        raise Refused("no such pending change")
    if actor.user_id in (change.requested_by_id, change.account_id):
        raise Refused("nobody approves their own request or their own account", not_found=False)
    change.status = ChangeStatus.APPROVED if approve else ChangeStatus.REJECTED
    change.decided_by_id = actor.user_id
    change.decided_at = timezone.now()
    change.note = note.strip()
    change.save(update_fields=["status", "decided_by", "decided_at", "note"])
    if approve:
        _appliers[change.kind](change)
    ledger.reason = f"{change.status} {change.kind} #{change.id} for account {change.account_id}"
    return change


def _apply_budget_raise(change: AccessChange) -> None:
    for window, (soft, hard) in change.payload["limits"].items():
        AccountBudget.objects.update_or_create(
            user_id=change.account_id,
            window=window,
            defaults={"soft": soft, "hard": hard, "change": change},
        )


register(ChangeKind.BUDGET_RAISE, _apply_budget_raise)
