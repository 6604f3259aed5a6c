"""A patient's report of a line of their access history they do not recognise: an alert on the
security officers' console (and an e-mail to them). Only a line of the patient's own history
can be reported (an intact audit entry naming their record, not their own act), once each,
a few a day; the report carries ids, never the patient's identity."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.audit import verify
from carnet.audit.models import AuditEntry

from .actors import Actor
from .boundary import Refused, require
from .incidents import intact
from .models import AccessReport, Alert, AlertKind, RelationshipKind
from .policy import Capability
from .relationships import kinds_for

# Enough for a patient who finds several strange lines, too few to flood the console.
REPORTS_PER_DAY = 10


def _notify(alert_id: int) -> None:
    from .containment import security_officer_emails

    recipients = security_officer_emails()
    if recipients:
        send_mail(
            subject="[Carnet] Access not recognised by a patient",
            message=(
                f"A patient reported a line of their access history they do not recognise "
                f"(alert {alert_id}). Review it in the security console (alerts, audit "
                "search by account and by patient).\nThis message carries no patient data."
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )


def report_unrecognised_access(
    *, actor: Actor, patient_id: str, entry_id: int
) -> tuple[Alert, bool]:
    """The alert for this line, and whether this report raised it (a line already reported
    raises nothing more). Another record's line, or one's own act, is refused as missing."""
    ledger = require(actor, Capability.USE_PORTAL)
    patient_id = str(patient_id)
    if kinds_for(actor, [patient_id]).get(patient_id) != RelationshipKind.SELF:
        raise Refused("not the patient's own record", patients=[patient_id])
    row = AuditEntry.objects.filter(pk=entry_id).values_list(*verify.FIELDS).first()
    named = dict(verify.parse_patients(row[verify.PATIENTS])) if row else {}
    if row is None or patient_id not in named or not intact(row):
        raise Refused(f"no audit entry {entry_id} in the patient's history")
    accessed_by, username, role, action, at = row[3], row[4], row[5], row[7], row[2]
    if accessed_by is not None and accessed_by == actor.user_id:
        raise Refused("a patient's own act is not reported")
    existing = (
        AccessReport.objects.select_related("alert")
        .filter(patient_id=patient_id, entry_id=entry_id)
        .first()
    )
    if existing is not None:
        return existing.alert, False
    now = timezone.now()
    recent = AccessReport.objects.filter(
        reported_by_id=actor.user_id, at__gte=now - datetime.timedelta(days=1)
    ).count()
    if recent >= REPORTS_PER_DAY:
        raise ValidationError(
            _(
                "You have reported many lines today: the security officer is looking into "
                "them. Call the establishment if it is urgent."
            )
        )
    stamp = f"{timezone.localtime(at):%Y-%m-%d %H:%M}"
    alert = Alert.objects.create(
        kind=AlertKind.PATIENT_REPORT,
        at=now,
        # The account that acted is the one to look at; a line without one (an automatic task,
        # an outside practitioner) is filed under the reporting patient's account.
        account_id=accessed_by or actor.user_id,
        patient_id=patient_id,
        detail=f"patient does not recognise audit entry {entry_id}: {username} ({role}), "
        f"{action}, {stamp}",
        request_id=actor.request_id,
    )
    AccessReport.objects.create(
        patient_id=patient_id, entry_id=entry_id, reported_by_id=actor.user_id, at=now, alert=alert
    )
    ledger.exposed.setdefault(patient_id, RelationshipKind.SELF)
    ledger.reason = f"access line reported as not recognised: audit entry {entry_id}"
    transaction.on_commit(lambda: _notify(alert.pk))
    return alert, True


def reported_entries(*, actor: Actor, patient_id: str) -> set[int]:
    """The audit entries of the patient's own history already reported (ids only)."""
    require(actor, Capability.USE_PORTAL)
    if kinds_for(actor, [str(patient_id)]).get(str(patient_id)) != RelationshipKind.SELF:
        raise Refused("not the patient's own record", patients=[str(patient_id)])
    return set(
        AccessReport.objects.filter(patient_id=patient_id).values_list("entry_id", flat=True)
    )
