"""Reading staff and organisation facts for pages (no patient data here)."""

from __future__ import annotations

from django.db.models import QuerySet

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, require
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
