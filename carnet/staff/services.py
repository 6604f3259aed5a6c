"""Staff accounts. An administrator asks for an account, a role, a membership, a
second-factor reset or a budget raise; an independent security officer approves
(guard.approvals); the account's owner then sets the password and the second factor through a
one-time link (staff.enrolment), so that the administrator never knows either. Accounts the
installation's operator makes from the command line enrol at their first sign-in."""

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

from . import enrolment
from .models import EnrolmentPurpose, Membership, Practitioner, User


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
    """The account itself, with its memberships. `password` is for the operator's accounts
    (enrolled at first sign-in); an account asked for by an administrator has none until its
    owner sets it through the enrolment link."""
    user = User(
        username=username,
        role=role,
        first_name=first_name,
        last_name=last_name,
        email=email,
        access_approved=approved,
    )
    if email and User.objects.filter(email__iexact=email).exists():
        raise ValidationError(
            {"email": _("Another account has this e-mail address: each person has their own.")}
        )
    if password:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
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
    if password:
        enrolment.issue_at_sign_in(user)
    return user


def request_account(*, actor: Actor, **fields: Any) -> User:
    """An account asked for by an administrator (or by the operator's command): it exists, can
    do nothing, and has no password until a security officer approved it and its owner
    followed the link sent to its e-mail address."""
    if not fields.get("email"):
        raise ValidationError({"email": _("The enrolment link is sent to this address.")})
    user = create_account(password="", approved=False, **fields)
    approvals.ask(
        actor=actor,
        kind=ChangeKind.NEW_ACCOUNT,
        account_id=user.pk,
        payload={"role": user.role},
        summary=f"{user.username} ({user.get_role_display()}) — "
        + ", ".join(e.name for e in fields.get("establishments", [])),
    )
    return user


def approved_officer_exists() -> bool:
    return User.objects.filter(
        role=Role.SECURITY_OFFICER, access_approved=True, is_active=True
    ).exists()


def operator_account(*, actor: Actor, **fields: Any) -> tuple[User, str]:
    """An account asked for by the installation's operator (`carnet staff add`). The very
    first security officer is approved at once, since nobody could approve it, and its
    enrolment link is returned for the operator to hand over; every other account waits for a
    security officer like an administrator's request, and its link goes by e-mail."""
    if not fields.get("email"):
        raise ValidationError({"email": _("The enrolment link is sent to this address.")})
    if approved_officer_exists():
        return request_account(actor=actor, **fields), ""
    if fields.get("role") != Role.SECURITY_OFFICER:
        raise ValidationError(
            _("Add the installation's first security officer first: it approves everything else.")
        )
    user = create_account(password="", approved=True, **fields)
    return user, enrolment.issue_link(user, EnrolmentPurpose.ACCOUNT)


def resend_link(*, actor: Actor, user: User) -> None:
    """A new enrolment link for an approved account that never finished its enrolment (the
    first one expired or was lost): to the same approved address, so it widens nothing."""
    if not user.access_approved or user.has_usable_password():
        raise ValidationError(_("This account has no enrolment to finish."))
    token = enrolment.issue_link(user, EnrolmentPurpose.ACCOUNT)
    enrolment.send_link(user, token, EnrolmentPurpose.ACCOUNT)


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
    user = User.objects.get(pk=change.account_id)
    token = enrolment.issue_link(user, EnrolmentPurpose.ACCOUNT)
    enrolment.send_link(user, token, EnrolmentPurpose.ACCOUNT)


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
    """The old device stops working at once; the owner sets up the new one through a link
    sent to the account's address, confirming the password (whoever knows the password alone
    cannot enrol a device of their own)."""
    TOTPDevice.objects.filter(user_id=change.account_id).delete()
    user = User.objects.get(pk=change.account_id)
    token = enrolment.issue_link(user, EnrolmentPurpose.SECOND_FACTOR)
    enrolment.send_link(user, token, EnrolmentPurpose.SECOND_FACTOR)


def register_appliers() -> None:
    approvals.register(ChangeKind.NEW_ACCOUNT, _apply_new_account)
    approvals.register(ChangeKind.ROLE, _apply_role)
    approvals.register(ChangeKind.MEMBERSHIP, _apply_membership)
    approvals.register(ChangeKind.SECOND_FACTOR_RESET, _apply_second_factor_reset)
