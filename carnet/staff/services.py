"""Staff accounts: created by an administrator, effective for patients only once a security
officer approved them; role changes, memberships and second-factor resets likewise wait for
approval (four eyes, through the guard's approvals)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.guard import approvals
from carnet.guard.actors import Actor
from carnet.guard.models import ChangeKind
from carnet.guard.policy import WINDOWS, Role
from carnet.organisations.models import Establishment, Unit

from .models import Membership, Practitioner, User


@transaction.atomic
def create_account(
    *,
    username: str,
    password: str,
    role: str,
    first_name: str,
    last_name: str,
    establishments: list[Establishment],
    unit: Unit | None = None,
    rpps: str = "",
    specialty: str = "",
    email: str = "",
    approved: bool = False,
) -> User:
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
        access_approved=approved,
    )
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    for establishment in establishments:
        Membership.objects.create(
            user=user,
            establishment=establishment,
            unit=unit if unit and unit.establishment_id == establishment.pk else None,
        )
    if rpps:
        practitioner = Practitioner(user=user, rpps=rpps, specialty=specialty)
        practitioner.full_clean()
        practitioner.save()
    return user


def request_account(*, actor: Actor, password: str, **fields: Any) -> User:
    """An administrator creates an account; it opens no patient until approved."""
    user = create_account(password=password, approved=False, **fields)
    approvals.ask(
        actor=actor,
        kind=ChangeKind.NEW_ACCOUNT,
        account_id=user.pk,
        payload={"role": user.role},
        summary=f"{user.username} ({user.get_role_display()}) — "
        + ", ".join(e.name for e in fields.get("establishments", [])),
    )
    return user


def request_role(*, actor: Actor, user: User, role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    approvals.ask(
        actor=actor,
        kind=ChangeKind.ROLE,
        account_id=user.pk,
        payload={"role": role},
        summary=f"{user.username}: {user.get_role_display()} -> {Role(role).label}",
    )


def request_membership(
    *, actor: Actor, user: User, establishment: Establishment, unit: Unit | None = None
) -> None:
    if unit is not None and unit.establishment_id != establishment.pk:
        raise ValidationError({"unit": _("This unit belongs to another establishment.")})
    approvals.ask(
        actor=actor,
        kind=ChangeKind.MEMBERSHIP,
        account_id=user.pk,
        payload={"establishment": establishment.pk, "unit": unit.pk if unit else None},
        summary=f"{user.username} -> {establishment.name}" + (f" / {unit.name}" if unit else ""),
    )


def request_second_factor_reset(*, actor: Actor, user: User) -> None:
    approvals.ask(
        actor=actor,
        kind=ChangeKind.SECOND_FACTOR_RESET,
        account_id=user.pk,
        payload={},
        summary=f"{user.username}: new second factor at next sign-in",
    )


def request_budget_raise(*, actor: Actor, user: User, limits: dict[str, tuple[int, int]]) -> None:
    for window, (soft, hard) in limits.items():
        if window not in WINDOWS or not 0 <= soft <= hard:
            raise ValidationError(_("Each window needs 0 <= soft <= hard."))
    approvals.ask(
        actor=actor,
        kind=ChangeKind.BUDGET_RAISE,
        account_id=user.pk,
        payload={"limits": {w: [s, h] for w, (s, h) in limits.items()}},
        summary=f"{user.username}: " + ", ".join(f"{w} {s}/{h}" for w, (s, h) in limits.items()),
    )


def _apply_new_account(change: Any) -> None:
    User.objects.filter(pk=change.account_id).update(access_approved=True)


def _apply_role(change: Any) -> None:
    User.objects.filter(pk=change.account_id).update(role=change.payload["role"])


def _apply_membership(change: Any) -> None:
    unit_id = change.payload["unit"]
    if (
        unit_id is not None
        and not Unit.objects.filter(
            pk=unit_id, establishment_id=change.payload["establishment"]
        ).exists()
    ):
        raise ValidationError(_("This unit belongs to another establishment."))
    Membership.objects.get_or_create(
        user_id=change.account_id,
        establishment_id=change.payload["establishment"],
        unit_id=change.payload["unit"],
    )


def _apply_second_factor_reset(change: Any) -> None:
    TOTPDevice.objects.filter(user_id=change.account_id).delete()


def register_appliers() -> None:
    approvals.register(ChangeKind.NEW_ACCOUNT, _apply_new_account)
    approvals.register(ChangeKind.ROLE, _apply_role)
    approvals.register(ChangeKind.MEMBERSHIP, _apply_membership)
    approvals.register(ChangeKind.SECOND_FACTOR_RESET, _apply_second_factor_reset)
