"""Sensitive categories (serologies, psychiatry, addiction, sexual health, genetics): who sees
an item of one. The author's care team always does; anyone else only after opening that
category of that patient on purpose, with a reason, for a few hours. Never decides access to
the patient itself: the guard did that before any of these functions is asked.

Other apps (the laboratory) call `may_see` for each item they are about to show, with the
item's author (validator or ordering practitioner) and the author's unit, and show
`masked_label(category)` instead of the item when it answers False.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import ledger_for
from carnet.guard.policy import Capability, role_may
from carnet.patients.selectors import guarded_patient

from .models import SensitiveCategory, SensitiveOpening

__all__ = [
    "OPENING_HOURS",
    "MIN_REASON_LETTERS",
    "SensitiveCategory",
    "SensitiveOpening",
    "masked_label",
    "may_see",
    "open_categories",
    "open_category",
]

# Like break-the-glass: long enough for a consultation or a shift's handover, not a week.
OPENING_HOURS = 4
MIN_REASON_LETTERS = 10
# Roles that read clinical items at all. Anyone else sees none, sensitive or not, whatever
# unit they belong to (a secretary of the author's unit is not the care team).
_READERS = (Capability.VIEW_CLINICAL, Capability.LAB_WORK)


def _reads_clinical(actor: Actor) -> bool:
    return any(role_may(actor.role, capability) for capability in _READERS)


def open_categories(actor: Actor, patient_id: object) -> frozenset[str]:
    """The categories of this patient the actor opened and that are still open: one query,
    for pages that ask `may_see` about many items."""
    if actor.user_id is None:
        return frozenset()
    now = timezone.now()
    rows = SensitiveOpening.objects.filter(
        user_id=actor.user_id, patient_id=str(patient_id), at__lte=now, until__gt=now
    ).values_list("category", flat=True)
    return frozenset(rows)


def may_see(
    actor: Actor,
    patient_id: object,
    category: str,
    author_user_id: int | None,
    author_unit_id: int | None = None,
    *,
    opened: Iterable[str] | None = None,
) -> bool:
    """Whether the actor sees an item of `category` written (validated, ordered) by
    `author_user_id` of `author_unit_id`. True when there is no category; pass `opened`
    (from `open_categories`) to spare a query per item."""
    if not category:
        return True
    if not _reads_clinical(actor) or actor.user_id is None:
        return False
    if author_user_id is not None and actor.user_id == author_user_id:
        return True
    if author_unit_id is not None and author_unit_id in actor.unit_ids:
        return True
    if opened is None:
        opened = open_categories(actor, patient_id)
    return category in set(opened)


def masked_label(category: str) -> str:
    """What stands in place of a masked item, e.g. "Sensitive: Psychiatry"."""
    return _("Sensitive: %(category)s") % {"category": category_label(category)}


def category_label(category: str) -> str:
    try:
        return str(SensitiveCategory(category).label)
    except ValueError:
        return category


def open_category(
    *, actor: Actor, patient_id: object, category: str, reason: str
) -> SensitiveOpening:
    """Opens one sensitive category of one patient to the actor for a few hours. The patient
    goes through the guard like any access (relationship, budget, canary); the reason goes
    into this request's audit entry and stays on the opening for review."""
    patient = guarded_patient(actor, Capability.OPEN_SENSITIVE, patient_id)
    errors = {}
    if not category or category not in SensitiveCategory.values:
        errors["category"] = _("Choose a sensitive category from the list.")
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_LETTERS:
        errors["reason"] = _(
            "Say why you need to see this category (at least %(count)d characters)."
        ) % {"count": MIN_REASON_LETTERS}
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    opening = SensitiveOpening.objects.create(
        user_id=actor.user_id,
        patient=patient,
        category=category,
        reason=reason,
        at=now,
        until=now + datetime.timedelta(hours=OPENING_HOURS),
        request_id=actor.request_id,
    )
    ledger_for(actor).reason = f"sensitive category opened ({category}): {reason}"
    return opening
