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
from .policy import (
    ENUMERATION_BAR,
    EXPLAINED_AT_MOST,
    EXPLAINED_WITHIN_MINUTES,
    WINDOWS,
    default_budget,
)


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
    return limits_for_account(actor.user_id, actor.role, actor.establishment_ids)


def limits_for_account(
    user_id: int | None, role: str, establishment_ids: frozenset[int]
) -> dict[str, tuple[int, int]]:
    limits = dict(default_budget(role))
    rules = BudgetRule.objects.filter(establishment_id__in=establishment_ids, role=role)
    for rule in rules:
        soft, hard = limits.get(rule.window, (0, 0))
        limits[rule.window] = (min(soft, rule.soft), min(hard, rule.hard))
    for raised in AccountBudget.objects.filter(user_id=user_id):
        limits[raised.window] = (raised.soft, raised.hard)
    return limits


def _lock(user_id: int) -> None:
    # The row exists after the account's first charge: one statement from then on.
    if BudgetCounter.objects.select_for_update().filter(user_id=user_id).exists():
        return
    BudgetCounter.objects.get_or_create(user_id=user_id)
    BudgetCounter.objects.select_for_update().filter(user_id=user_id).first()


def charge(actor: Actor, patients: Iterable[str], *, misses: int = 0) -> None:
    """Counts these outside-relationship patients (and misses) for the actor, or raises."""
    new = {str(p) for p in patients}
    if actor.is_system or actor.imported_as or actor.user_id is None or not (new or misses):
        return
    _lock(actor.user_id)
    now = timezone.now()
    longest = now - datetime.timedelta(seconds=max(WINDOWS.values()))
    misses_since = now - datetime.timedelta(seconds=max(WINDOWS[w] for w in ENUMERATION_BAR))
    # Patients over the longest window (a few dozen rows at most: the limits see to it), but
    # those a later act of care explained; misses over the enumeration windows only.
    history = list(
        Exposure.objects.filter(user_id=actor.user_id)
        .filter(
            Q(at__gte=longest, patient_id__isnull=False, explained_by="")
            | Q(at__gte=misses_since, patient_id__isnull=True)
        )
        .values_list("patient_id", "at")
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
        if misses and window in ENUMERATION_BAR:
            missed = sum(1 for p, at in history if p is None and at >= since) + misses
            if missed > ENUMERATION_BAR[window]:
                reason = (
                    f"searches that found nobody: {missed} in a {window} "
                    f"(limit {ENUMERATION_BAR[window]})"
                )
                raise OverBudget(reason, len(seen))
    if step_up and not actor.stepped_up:
        raise StepUpRequired()
    events = [*sorted(new), *([None] * misses)]
    Exposure.objects.bulk_create(
        Exposure(user_id=actor.user_id, patient_id=p, at=now, request_id=actor.request_id)
        for p in events
    )


def _room(actor: Actor, now: datetime.datetime, wanted: int) -> int:
    """How many more patients may be explained now, within the hourly and daily bound."""
    room = wanted
    for window, bound in EXPLAINED_AT_MOST.items():
        since = now - datetime.timedelta(seconds=WINDOWS[window])
        done = (
            Exposure.objects.filter(user_id=actor.user_id, explained_at__gte=since)
            .values("patient_id")
            .distinct()
            .count()
        )
        room = min(room, max(0, bound - done))
    return room


def admit_explained(actor: Actor, patient_ids: Iterable[str], *, by: str) -> list[str]:
    """Patients explained at once by what the actor's work is (an appointment to come, for the
    desk), within the same bound as explained looks: recorded, not counted. Returns those
    taken; the others are counted as usual."""
    wanted = sorted({str(p) for p in patient_ids})
    if actor.is_system or actor.imported_as or actor.user_id is None or not wanted:
        return []
    _lock(actor.user_id)
    now = timezone.now()
    # Explained already today: looked at again, it takes no more room.
    known = {
        str(p)
        for p in Exposure.objects.filter(
            user_id=actor.user_id,
            patient_id__in=wanted,
            explained_at__gte=now - datetime.timedelta(seconds=WINDOWS["day"]),
        ).values_list("patient_id", flat=True)
    }
    fresh = [p for p in wanted if p not in known]
    taken = sorted(known) + fresh[: _room(actor, now, len(fresh))]
    Exposure.objects.bulk_create(
        Exposure(
            user_id=actor.user_id,
            patient_id=p,
            at=now,
            request_id=actor.request_id,
            explained_by=by,
            explained_at=now,
        )
        for p in taken
    )
    return taken


def explain(actor: Actor, patient_ids: Iterable[str], *, by: str) -> list[str]:
    """The patients among these that the actor exposed outside any relationship in the last
    minutes, now explained by an act of care (`by`: the booking, the admission...): no longer
    counted, within the hourly and daily bound. Returns the patients explained."""
    if actor.is_system or actor.imported_as or actor.user_id is None:
        return []
    wanted = {str(p) for p in patient_ids}
    now = timezone.now()
    recent = Exposure.objects.filter(
        user_id=actor.user_id,
        patient_id__in=wanted,
        explained_by="",
        at__gte=now - datetime.timedelta(minutes=EXPLAINED_WITHIN_MINUTES),
    )
    candidates = sorted({str(p) for p in recent.values_list("patient_id", flat=True)})
    if not candidates:
        return []
    chosen = candidates[: _room(actor, now, len(candidates))]
    if chosen:
        Exposure.objects.filter(
            user_id=actor.user_id, patient_id__in=chosen, explained_by=""
        ).update(explained_by=by[:64], explained_at=now)
    return chosen


def exposed_in(user_id: int, *, since: datetime.datetime) -> int:
    return (
        Exposure.objects.filter(
            Q(user_id=user_id), at__gte=since, patient_id__isnull=False, explained_by=""
        )
        .values("patient_id")
        .distinct()
        .count()
    )
