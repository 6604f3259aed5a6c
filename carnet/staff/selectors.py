"""Reading staff and organisation facts for pages (no patient data here)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from carnet.guard import approvals
from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, require
from carnet.guard.budgets import limits_for_account
from carnet.guard.models import AccessChange, BreakGlassReason, ChangeKind, ChangeStatus
from carnet.guard.policy import Capability, Role
from carnet.organisations.models import Establishment, Unit

from .models import User


def establishment_names(actor: Actor) -> list[str]:
    return list(
        Establishment.objects.filter(id__in=actor.establishment_ids)
        .order_by("name")
        .values_list("name", flat=True)
    )


def accounts(*, actor: Actor) -> QuerySet:
    """Staff accounts, for administrators (no patient data here)."""
    require(actor, Capability.MANAGE_ACCOUNTS)
    return (
        User.objects.exclude(role__in=[Role.PATIENT, Role.SCREEN])
        .prefetch_related("memberships__establishment", "memberships__unit")
        .order_by("last_name", "first_name")
    )


def account(*, actor: Actor, user_id: int) -> User:
    found = accounts(actor=actor).filter(pk=user_id).first()
    if found is None:
        raise Refused("no such account")
    return found


def establishments_and_units() -> tuple[QuerySet, QuerySet]:
    return Establishment.objects.order_by("name"), Unit.objects.select_related(
        "establishment"
    ).order_by("establishment__name", "name")


def locked_account_with_password(username: str, password: str) -> bool:
    """Whether this is a locked account and the right password: only then does the sign-in
    page say the account is locked (nobody else learns that the account exists)."""
    user = User.objects.filter(username=username, is_active=False).first()
    return bool(user and password and user.check_password(password))


def display_names(user_ids: set[int]) -> dict[int, str]:
    """Staff full names, for access histories ("who opened my record")."""
    return {
        user.pk: user.get_full_name() or user.username
        for user in User.objects.filter(pk__in=user_ids).only("first_name", "last_name", "username")
    }


def establishment_names_by_id(ids: set[int]) -> dict[int, str]:
    return dict(Establishment.objects.filter(pk__in=ids).values_list("pk", "name"))


@dataclass
class ChangeDetails:
    """What a security officer reads before deciding: the account as it is, the change asked,
    who asked it, and why this officer may or may not approve it."""

    change: AccessChange
    account: User
    requester: User | None
    asked: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)
    cannot_approve: str = ""


def _role_label(role: str) -> str:
    return str(Role(role).label) if role in Role.values else role


def change_details(*, actor: Actor, change_id: int) -> ChangeDetails:
    require(actor, Capability.SECURITY_CONSOLE)
    change = (
        AccessChange.objects.select_related("account", "requested_by").filter(pk=change_id).first()
    )
    if change is None:
        raise Refused("no such change")
    account = (
        User.objects.prefetch_related("memberships__establishment", "memberships__unit")
        .select_related("practitioner")
        .get(pk=change.account_id)
    )
    payload = change.payload
    asked: list[tuple[str, str]] = []
    warnings: list[str] = []
    if change.kind == ChangeKind.ROLE:
        asked.append((_("Role"), f"{account.get_role_display()} → {_role_label(payload['role'])}"))
    elif change.kind == ChangeKind.NEW_ACCOUNT:
        asked.append((_("Role"), _role_label(payload.get("role", account.role))))
        asked.append((_("Enrolment link sent to"), account.email or "—"))
    elif change.kind == ChangeKind.MEMBERSHIP:
        place = Establishment.objects.filter(pk=payload["establishment"]).first()
        unit = Unit.objects.filter(pk=payload.get("unit")).first() if payload.get("unit") else None
        asked.append(
            (_("Membership"), (place.name if place else "?") + (f" — {unit.name}" if unit else ""))
        )
    elif change.kind == ChangeKind.SECOND_FACTOR_RESET:
        asked.append((_("New-device link sent to"), account.email or "—"))
        warnings.append(
            _(
                "The old device stops working at once. Check with the person, by another channel, "
                "that they asked for it and that the e-mail address is theirs."
            )
        )
    elif change.kind == ChangeKind.BREAK_GLASS_OUTSIDE:
        asked.append((_("Patient (id)"), payload["patient"]))
        asked.append((_("Reason"), str(BreakGlassReason(payload["reason"]).label)))
        asked.append((_("Explanation"), payload["explanation"]))
        warnings.append(
            _(
                "The patient is known at none of this account's establishments. Once approved, "
                "the record opens to this account for a few hours and is reviewed like any "
                "break-the-glass."
            )
        )
    elif change.kind == ChangeKind.BUDGET_RAISE:
        now = limits_for_account(account.pk, account.role, _establishments(account))
        for window, (soft, hard) in payload["limits"].items():
            before = now.get(window, (0, 0))
            asked.append(
                (
                    _("Exposure budget (%(window)s)") % {"window": window},
                    f"{before[0]}/{before[1]} → {soft}/{hard}",
                )
            )
    if approvals.makes_officer(change.kind, payload):
        warnings.append(
            _(
                "This makes a security officer: once approved, the account approves access "
                "changes and reads the audit log."
            )
        )
    if change.requested_by_id is None:
        warnings.append(_("Asked by the installation's operator (command line)."))
    same_mail = (
        User.objects.filter(email__iexact=account.email).exclude(pk=account.pk).exists()
        if account.email
        else False
    )
    if same_mail:
        warnings.append(_("Another account has the same e-mail address."))
    cannot = ""
    if change.status != ChangeStatus.PENDING:
        cannot = _("Already decided.")
    elif actor.role != Role.SECURITY_OFFICER or not actor.approved:
        cannot = _("Only an approved security officer decides.")
    else:
        why = approvals.why_not_independent(
            actor.user_id, change.requested_by_id, change.account_id
        )
        if why:
            cannot = _(
                "You cannot approve this change: your own account or the account concerned were "
                "set up by the same people. Another security officer must decide."
            )
    return ChangeDetails(
        change=change,
        account=account,
        requester=change.requested_by,
        asked=asked,
        warnings=warnings,
        cannot_approve=cannot,
    )


def _establishments(account: User) -> frozenset[int]:
    return frozenset(m.establishment_id for m in account.memberships.all())
