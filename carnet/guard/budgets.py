"""Exposure budgets: every distinct patient handed over outside a care relationship counts
against the account's budget over the last hour, day and week (searches that find nobody
count against a miss budget). Charged before any data leaves; the account's counter row is
locked while it is charged, so several servers see one count."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from .actors import Actor
from .models import AccountBudget, BudgetCounter, BudgetRule, Exposure
from .policy import MISS_BUDGET, WINDOWS, default_budget


class StepUpRequired(Exception):
    """Past the soft limit: the user must confirm with the second factor and a reason."""


class OverBudget(Exception):
    """Past the hard limit: the request must be refused and the account contained."""

    def __init__(self, reason: str, exposed_before: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exposed_before = exposed_before


def limits_for(actor: Actor) -> dict[str, tuple[int, int]]:
    """The role's defaults, tightened by the rules of the actor's establishments, unless a
    security officer approved a raise for this very account."""
    limits = dict(default_budget(actor.role))
    rules = BudgetRule.objects.filter(establishment_id__in=actor.establishment_ids, role=actor.role)
    for rule in rules:
        soft, hard = limits.get(rule.window, (0, 0))
        limits[rule.window] = (min(soft, rule.soft), min(hard, rule.hard))
    for raised in AccountBudget.objects.filter(user_id=actor.user_id):
        limits[raised.window] = (raised.soft, raised.hard)
    return limits


def _lock(user_id: int) -> None:
    BudgetCounter.objects.get_or_create(user_id=user_id)
    BudgetCounter.objects.select_for_update().filter(user_id=user_id).first()


def charge(actor: Actor, patients: Iterable[str], *, misses: int = 0) -> None:
    """Counts these outside-relationship patients (and misses) for the actor, or raises."""
    new = {str(p) for p in patients}
    if actor.is_system or actor.user_id is None or not (new or misses):
        return
    _lock(actor.user_id)
    now = timezone.now()
    week = now - datetime.timedelta(seconds=WINDOWS["week"])
    history = list(
        Exposure.objects.filter(user_id=actor.user_id, at__gte=week).values_list("patient_id", "at")
    )
    limits = limits_for(actor)
    step_up = False
    for window, seconds in WINDOWS.items():
        since = now - datetime.timedelta(seconds=seconds)
        seen = {str(p) for p, at in history if p is not None and at >= since}
        total = len(seen | new)
        soft, hard = limits.get(window, (0, 0))
        if new - seen and total > hard:
            reason = f"exposure budget: {total} patients in a {window} (limit {hard})"
            raise OverBudget(reason, len(seen))
        if new - seen and total > soft:
            step_up = True
        missed = sum(1 for p, at in history if p is None and at >= since) + misses
        miss_soft, miss_hard = MISS_BUDGET[window]
        if misses and missed > miss_hard:
            reason = f"search misses: {missed} in a {window} (limit {miss_hard})"
            raise OverBudget(reason, len(seen))
        if misses and missed > miss_soft:
            step_up = True
    if step_up and not actor.stepped_up:
        raise StepUpRequired()
    events = [*sorted(new), *([None] * misses)]
    Exposure.objects.bulk_create(
        Exposure(user_id=actor.user_id, patient_id=p, at=now, request_id=actor.request_id)
        for p in events
    )


def exposed_in(user_id: int, *, since: datetime.datetime) -> int:
    return (
        Exposure.objects.filter(Q(user_id=user_id), at__gte=since, patient_id__isnull=False)
        .values("patient_id")
        .distinct()
        .count()
    )
