"""Explicit shares: someone in a care relationship with a patient opens that patient to a
colleague for a few days (a second opinion, a replacement). Only a relationship can be shared:
a patient seen outside any relationship cannot be passed on to escape the budget."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from . import relationships
from .actors import Actor
from .boundary import Refused, Subject, check_canaries, require
from .models import OUTSIDE, RelationshipKind
from .policy import Capability

SHARE_DAYS_MAX = 30


def share(*, actor: Actor, subject: Subject, colleague_id: int, days: int, reason: str) -> None:
    ledger = require(actor, Capability.VIEW_IDENTITY)
    check_canaries([subject])
    kinds = relationships.kinds_for(actor, [subject.patient_id])
    if kinds.get(subject.patient_id, OUTSIDE) in (OUTSIDE, RelationshipKind.BREAK_GLASS):
        raise Refused("only a care relationship can be shared", not_found=False)
    if colleague_id == actor.user_id:
        raise ValidationError({"colleague": _("Choose a colleague, not yourself.")})
    if not 1 <= days <= SHARE_DAYS_MAX:
        raise ValidationError({"days": _("Between 1 and %(max)d days.") % {"max": SHARE_DAYS_MAX}})
    if not reason.strip():
        raise ValidationError({"reason": _("Say why you share this patient.")})
    relationships.relate(
        patient_id=subject.patient_id,
        kind=RelationshipKind.SHARE,
        user_id=colleague_id,
        source=f"share:{actor.user_id}",
        ends_at=timezone.now() + datetime.timedelta(days=days),
    )
    ledger.exposed[subject.patient_id] = "shared"
    ledger.reason = f"shared with account {colleague_id} for {days} days: {reason.strip()}"
