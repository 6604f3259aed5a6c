"""Correcting a validated result: only as a new version. The value it replaces is kept
(LabResultVersion) with who corrected it, when and why, shown struck through beside the new
one; the report reads "corrected" and the prescriber is alerted. Never an edit in place."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.policy import Capability

from .alerts import raise_alert
from .models import AlertKind, LabResult, LabResultVersion
from .selectors import lab_order_for
from .services import MAX_REASON, _check_entry, _int
from .values import Flag, flag_for, reference_for


@transaction.atomic
def correct_result(
    *,
    actor: Actor,
    order_id: object,
    result_id: object,
    value: str,
    reason: str,
    again: str = "",
    comment: str = "",
) -> LabResult:
    """Replaces a validated value by a new version, keeping the old one; the plausibility
    limits hold as at entry. The correction is the corrector's (a validator of the
    laboratory), recorded with its reason."""
    order, patient = lab_order_for(actor, order_id, Capability.VALIDATE_LAB, lock=True)
    result = (
        LabResult.objects.select_for_update(of=("self",))
        .select_related("item__test")
        .filter(item__order=order, pk=_int(result_id), validated_at__isnull=False)
        .first()
    )
    if result is None:
        raise ValidationError(_("Only a validated result is corrected."))
    errors: dict[str, list[str]] = {}
    reason = reason.strip()
    if not reason:
        errors["reason"] = [_("Say why the result is corrected.")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("At most %(count)d characters.") % {"count": MAX_REASON}]
    comment = comment.strip()[:300]
    try:
        new_value, confirmed = _check_entry(result.item, value, comment, again)
    except ValidationError as error:
        errors["value"] = error.messages
    else:
        if new_value == result.value:
            errors["value"] = [_("This is the value already validated.")]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    LabResultVersion.objects.create(
        result=result,
        patient_id=result.patient_id,
        version=result.version,
        value=result.value,
        reference=result.reference,
        comment=result.comment,
        entered_by_id=result.entered_by_id,
        entered_at=result.entered_at,
        validated_by_id=result.validated_by_id,
        validated_at=result.validated_at,
        replaced_by_id=actor.user_id,
        replaced_at=now,
        reason=reason,
    )
    result.value = new_value
    result.reference = reference_for(result.item.test, patient.sex or "")
    result.comment = comment or None
    result.implausible_confirmed = confirmed
    result.version += 1
    result.corrected_by_id = actor.user_id
    result.corrected_at = now
    result.save()
    raise_alert(order=order, result=result, kind=AlertKind.CORRECTED, now=now)
    flag = flag_for(result.item.test.result_type, result.value, result.reference)
    if flag in (Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH):
        raise_alert(order=order, result=result, kind=AlertKind.CRITICAL, flag=flag, now=now)
    return result
