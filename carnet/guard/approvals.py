"""Four eyes on every change that grants access: one person asks, an independent, approved
security officer decides with their second factor. Until then nothing takes effect.

Independent means more than "not the same account": the decider must share no one with the
requester or the account concerned, following who asked each change to each account (its
creation first). So an administrator who creates an account, or has it changed, can never get
his own requests approved through it, however long the chain. Security officers are never
asked for by an administrator: the installation's operator asks (command line), an approved
security officer decides. The domain that owns a change registers how to apply it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from .actors import Actor, check_second_factor
from .boundary import Refused, ledger_for, require
from .models import AccessChange, AccountBudget, ChangeKind, ChangeStatus
from .policy import Capability, Role

Applier = Callable[[AccessChange], None]
_appliers: dict[str, Applier] = {}

# Changes that make a security officer: the operator asks, never an administrator.
_OFFICER_ROLE = str(Role.SECURITY_OFFICER)


def register(kind: str, applier: Applier) -> None:
    _appliers[kind] = applier


def lineage(account_ids: Iterable[int | None]) -> set[int]:
    """These accounts and everyone who asked a change to them (their creation included, asked
    or approved), and so on up: the people who shaped what these accounts can do."""
    seen: set[int] = set()
    frontier = {a for a in account_ids if a is not None}
    while frontier:
        seen |= frontier
        asked = AccessChange.objects.filter(
            account_id__in=frontier,
            status__in=[ChangeStatus.PENDING, ChangeStatus.APPROVED],
            requested_by__isnull=False,
        ).values_list("requested_by_id", flat=True)
        frontier = set(asked) - seen
    return seen


def makes_officer(kind: str, payload: dict[str, Any]) -> bool:
    return kind in (ChangeKind.NEW_ACCOUNT, ChangeKind.ROLE) and payload.get("role") == (
        _OFFICER_ROLE
    )


def ask(
    *, actor: Actor, kind: str, account_id: int, payload: dict[str, Any], summary: str
) -> AccessChange:
    """Records the request; nothing changes until an independent security officer approves.
    The operator's commands ask as the system (no requesting account)."""
    ledger = require(actor, Capability.MANAGE_ACCOUNTS)
    if kind not in _appliers:
        raise Refused(f"no way to apply {kind}", not_found=False)
    if not actor.is_system:
        if makes_officer(kind, payload):
            raise Refused(
                "security officers are asked for by the installation's operator", not_found=False
            )
        if account_id == actor.user_id:
            raise Refused("nobody asks an access change for their own account", not_found=False)
        if account_id in lineage([actor.user_id]):
            raise Refused(
                "this account took part in setting up the requester's own account",
                not_found=False,
            )
    change = AccessChange.objects.create(
        kind=kind,
        account_id=account_id,
        payload=payload,
        summary=summary[:300],
        requested_by_id=actor.user_id,
        requested_at=timezone.now(),
    )
    ledger.reason = f"asked {kind} #{change.pk} for account {account_id}"
    return change


# Changes an account asks for itself (through the guard, not the accounts pages).
OWN_KINDS = frozenset({ChangeKind.BREAK_GLASS_OUTSIDE})


def ask_own(*, actor: Actor, kind: str, payload: dict[str, Any], summary: str) -> AccessChange:
    """An account asks to see more itself (a break-the-glass beyond its establishments): the
    same independent approval, and nothing until then."""
    ledger = ledger_for(actor)
    if kind not in OWN_KINDS or kind not in _appliers or actor.user_id is None:
        raise Refused(f"no way to ask {kind} for oneself", not_found=False)
    change = AccessChange.objects.create(
        kind=kind,
        account_id=actor.user_id,
        payload=payload,
        summary=summary[:300],
        requested_by_id=actor.user_id,
        requested_at=timezone.now(),
    )
    ledger.reason = f"asked {kind} #{change.pk} for itself"
    return change


def pending() -> QuerySet:
    return (
        AccessChange.objects.filter(status=ChangeStatus.PENDING)
        .select_related("account", "requested_by")
        .order_by("requested_at")
    )


def why_not_independent(decider_id: int | None, *people: int | None) -> str:
    """Empty if the decider shares no one with these accounts, else why."""
    if decider_id is None:
        return "only a security officer's account decides"
    involved = lineage(people)
    if decider_id in involved:
        return "the decider is concerned by this change, or asked it"
    shared = lineage([decider_id]) & involved
    if shared:
        return "the decider's own account was set up by someone concerned by this change"
    return ""


def check_decider(actor: Actor, *people: int | None, token: str = "") -> None:
    """An approved, active security officer, independent of these people, who confirmed their
    second factor (in this request with `token`, or a few minutes ago)."""
    require(actor, Capability.SECURITY_CONSOLE)
    if actor.role != _OFFICER_ROLE or not actor.approved or actor.user_id is None:
        raise Refused("only an approved security officer decides", not_found=False)
    active = (
        get_user_model()
        .objects.filter(pk=actor.user_id, is_active=True, access_approved=True)
        .exists()
    )
    if not active:
        raise Refused("only an approved security officer decides", not_found=False)
    reason = why_not_independent(actor.user_id, *people)
    if reason:
        raise Refused(reason, not_found=False)
    if not actor.second_factor_fresh:
        accepted, message = check_second_factor(actor, token.strip())
        if not accepted:
            raise SecondFactorNeeded(message)


class SecondFactorNeeded(Refused):
    """The decision needs the decider's second factor (none given, or not valid)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"second factor needed to decide: {message}", not_found=False)
        self.message = message


def decide(
    *, actor: Actor, change_id: int, approve: bool, note: str = "", token: str = ""
) -> AccessChange:
    ledger = require(actor, Capability.SECURITY_CONSOLE)
    change = AccessChange.objects.filter(pk=change_id, status=ChangeStatus.PENDING).first()
    if change is None:
        raise Refused("no such pending change")
    if approve:
        # Outside the change's own transaction: a wrong code counts against the device's
        # throttle even though nothing is decided.
        try:
            check_decider(actor, change.requested_by_id, change.account_id, token=token)
        except SecondFactorNeeded:
            ledger.reason = f"approval of {change.kind} #{change.pk} refused: second factor"
            raise
    elif actor.user_id in (change.requested_by_id, change.account_id):
        # Rejecting widens nothing: any security officer but the people concerned may refuse.
        raise Refused("nobody decides their own request or their own account", not_found=False)
    with transaction.atomic():
        return _settle(ledger, change.pk, approve, note)


def _settle(ledger: Any, change_id: int, approve: bool, note: str) -> AccessChange:
    actor = ledger.actor
    change = (
        AccessChange.objects.select_for_update()
        .filter(pk=change_id, status=ChangeStatus.PENDING)
        .first()
    )
    if change is None:
        raise Refused("no such pending change")
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
