"""Break-the-glass and step-up: a deliberate, reasoned opening confirmed by the second factor.

Break-the-glass opens one patient to a practitioner or nurse with no care relationship, for a
few hours; the security officer is alerted and reviews it; the patient's access history shows
it. More than a few a day is itself containment. Step-up lifts the soft exposure limit for a
while, once the user confirms with the second factor and says why."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import approvals, relationships
from .actors import Actor, check_second_factor
from .boundary import Contained, Refused, Subject, check_canaries, require
from .models import (
    AccessChange,
    Alert,
    AlertKind,
    BreakGlass,
    BreakGlassReason,
    ChangeKind,
    RelationshipKind,
)
from .policy import BREAK_GLASS_HOURS, BREAK_GLASS_PER_DAY, STEP_UP_MINUTES, Capability


def _confirm(actor: Actor, token: str, explanation: str, *, field: str) -> None:
    errors = {}
    if not explanation.strip():
        errors[field] = _("Say why you need this access.")
    accepted, message = check_second_factor(actor, token.strip())
    if not accepted:
        errors["token"] = message or _("This code is not valid.")
    if errors:
        raise ValidationError(errors)


def _label(reason: str) -> str:
    """The reason as the installation's security officers read it."""
    with translation.override(settings.LANGUAGE_CODE):
        return str(BreakGlassReason(reason).label)


def open_break_glass(
    *, actor: Actor, subject: Subject | None, reason: str, explanation: str, token: str
) -> BreakGlass | None:
    """Opens the patient at once within the actor's establishments. A patient none of them
    knows is a wider reach: the opening waits for an independent security officer (None is
    returned; the approval opens it)."""
    ledger = require(actor, Capability.BREAK_GLASS)
    if subject is None:
        raise Refused("no such patient")
    check_canaries([subject])
    if reason not in BreakGlassReason.values:
        raise ValidationError({"reason": _("Choose a reason from the list.")})
    _confirm(actor, token, explanation, field="explanation")
    now = timezone.now()
    recent = BreakGlass.objects.filter(
        user_id=actor.user_id, opened_at__gte=now - datetime.timedelta(days=1)
    ).count()
    if recent >= BREAK_GLASS_PER_DAY:
        raise Contained(f"break-the-glass: more than {BREAK_GLASS_PER_DAY} in a day")
    if not (actor.establishment_ids & subject.establishment_ids):
        approvals.ask_own(
            actor=actor,
            kind=ChangeKind.BREAK_GLASS_OUTSIDE,
            payload={
                "patient": subject.patient_id,
                "reason": reason,
                "explanation": explanation.strip(),
                "request_id": actor.request_id,
            },
            summary=f"{actor.username}: {_label(reason)}",
        )
        return None
    opening = _open(
        user_id=actor.user_id,
        patient_id=subject.patient_id,
        reason=reason,
        explanation=explanation.strip(),
        request_id=actor.request_id,
    )
    ledger.exposed[subject.patient_id] = "break_glass_opened"
    ledger.reason = f"break the glass ({reason})"
    return opening


def _open(
    *, user_id: int | None, patient_id: str, reason: str, explanation: str, request_id: str
) -> BreakGlass:
    now = timezone.now()
    opening = BreakGlass.objects.create(
        user_id=user_id,
        patient_id=patient_id,
        reason=reason,
        explanation=explanation,
        opened_at=now,
        expires_at=now + datetime.timedelta(hours=BREAK_GLASS_HOURS),
        request_id=request_id,
    )
    relationships.relate(
        patient_id=patient_id,
        kind=RelationshipKind.BREAK_GLASS,
        user_id=user_id,
        source=f"break_glass:{opening.pk}",
        starts_at=now,
        ends_at=opening.expires_at,
    )
    Alert.objects.create(
        kind=AlertKind.BREAK_GLASS,
        at=now,
        account_id=user_id,
        patient_id=patient_id,
        detail=f"{_label(reason)}: {explanation}",
        request_id=request_id,
    )
    return opening


def _apply_outside(change: AccessChange) -> None:
    """Approved: the opening starts now, for the usual few hours, and is reviewed as usual."""
    payload = change.payload
    _open(
        user_id=change.account_id,
        patient_id=payload["patient"],
        reason=payload["reason"],
        explanation=payload["explanation"],
        request_id=payload.get("request_id", ""),
    )


approvals.register(ChangeKind.BREAK_GLASS_OUTSIDE, _apply_outside)


def step_up(*, actor: Actor, reason: str, token: str) -> datetime.datetime:
    """Confirms the user, records why; returns until when the soft limit is lifted."""
    ledger = require(actor, Capability.USE_STAFF_PAGES)
    _confirm(actor, token, reason, field="reason")
    ledger.reason = f"step-up: {reason.strip()}"
    return timezone.now() + datetime.timedelta(minutes=STEP_UP_MINUTES)
