"""From a request's signed-in user to the guard's Actor: staff past their second factor,
patients past theirs if they enrolled one."""

from __future__ import annotations

import time

from django.http import HttpRequest

from carnet.guard.actors import Actor
from carnet.guard.http import SECOND_FACTOR_SESSION_KEY, STEP_UP_SESSION_KEY, client_ip
from carnet.guard.policy import Role

from .models import Membership
from .second_factor import confirmed_device


def actor_from_request(request: HttpRequest) -> Actor | None:
    cached = getattr(request, "_carnet_actor", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if not user.is_verified() and not _patient_without_second_factor(user):
        return None
    now = time.time()
    actor = actor_for_account(
        user,
        request,
        stepped_up=request.session.get(STEP_UP_SESSION_KEY, 0) > now,
        second_factor_fresh=request.session.get(SECOND_FACTOR_SESSION_KEY, 0) > now,
    )
    request._carnet_actor = actor  # type: ignore[attr-defined]
    return actor


def actor_for_account(
    account: object, request: HttpRequest, *, stepped_up: bool, second_factor_fresh: bool = False
) -> Actor:
    """The Actor of an account already authenticated (session, or an API token), with its
    memberships, in this request."""
    # One statement: each membership with every establishment of its establishment's group.
    rows = list(
        Membership.objects.filter(user=account).values_list(
            "establishment_id", "unit_id", "establishment__group__establishments__id"
        )
    )
    return Actor(
        user_id=account.pk,  # type: ignore[attr-defined]
        username=account.username,  # type: ignore[attr-defined]
        role=account.role,  # type: ignore[attr-defined]
        establishment_ids=frozenset(e for e, _, _ in rows),
        unit_ids=frozenset(u for _, u, _ in rows if u is not None),
        group_establishment_ids=frozenset(g for _, _, g in rows if g is not None),
        request_id=getattr(request, "request_id", ""),
        client_ip=client_ip(request),
        verified=True,
        approved=account.access_approved,  # type: ignore[attr-defined]
        stepped_up=stepped_up,
        second_factor_fresh=second_factor_fresh,
    )


def _patient_without_second_factor(user: object) -> bool:
    """A patient's second factor is their choice; once enrolled, it is required."""
    return getattr(user, "role", None) == Role.PATIENT and confirmed_device(user) is None
