"""Alerts the laboratory raises for the prescriber (CriticalAlert): a critical value
validated, a validated result corrected. The prescriber sees them in the app, through the
guard, until she acknowledges them (the acknowledgement is recorded), and is told by e-mail
that one waits (the message names no patient and carries no value). Never a value in clear
outside the sealed result, never an alert for anyone but the prescriber."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import admit, require
from carnet.guard.policy import Capability
from carnet.patients.cards import display_name
from carnet.patients.models import Patient
from carnet.patients.selectors import guarded_patient, subject_of, with_relations
from carnet.staff import notices
from carnet.vault import keys as vault_keys

from .models import AlertKind, CriticalAlert, LabOrder, LabResult
from .values import display_value

ALERT_ROWS = 50


def raise_alert(
    *, order: LabOrder, result: LabResult, kind: str, flag: str = "", now: datetime.datetime
) -> CriticalAlert:
    """An alert for the order's prescriber; called by the laboratory's services inside
    their own guarded transaction. The prescriber is also told by e-mail once it commits."""
    alert = CriticalAlert.objects.create(
        result=result,
        order=order,
        patient_id=order.patient_id,
        prescriber_id=order.ordered_by_id,
        kind=kind,
        flag=flag,
        created_at=now,
    )
    transaction.on_commit(lambda: _notify(order.ordered_by_id, kind))
    return alert


# Where the prescriber reads the alerts, on the staff pages (CARNET_SITE_URL).
ALERTS_PATH = "/lab/alerts/"


def _notify(prescriber_id: int | None, kind: str) -> None:
    """An e-mail to the prescriber that an alert waits, and where to read it. No patient, no
    test, no value."""

    def compose(link: str) -> tuple[str, str]:
        if kind == AlertKind.CORRECTED:
            subject = _("[Carnet] A laboratory result you ordered was corrected")
        else:
            subject = _("[Carnet] A critical laboratory result is waiting for you")
        body = _(
            "A laboratory alert is waiting for you in Carnet. Read it and acknowledge it on "
            "the laboratory alerts page:\n%(link)s\n\nThis message names no patient and "
            "carries no result."
        ) % {"link": link}
        return subject, body

    notices.notify(prescriber_id, ALERTS_PATH, compose)


@dataclass(frozen=True)
class AlertRow:
    id: int
    kind: str
    kind_label: str
    flag: str
    patient_id: str
    patient_name: str
    test: str
    shown: str
    unit: str
    accession: str
    created_at: datetime.datetime


def alerts_for(*, actor: Actor) -> tuple[AlertRow, ...]:
    """The prescriber's alerts not acknowledged yet, oldest first; each patient handed over
    by the guard (an alert for a patient the guard refuses is not shown here)."""
    require(actor, Capability.VIEW_CLINICAL)
    alerts = list(
        CriticalAlert.objects.filter(prescriber_id=actor.user_id, acknowledged_at__isnull=True)
        .select_related("result__item__test", "order")
        .order_by("created_at")[:ALERT_ROWS]
    )
    if not alerts:
        return ()
    patients = {
        str(p.id): p
        for p in with_relations(Patient.objects.filter(id__in={a.patient_id for a in alerts}))
    }
    handed = {
        s.patient_id
        for s in admit(actor, Capability.VIEW_CLINICAL, [subject_of(p) for p in patients.values()])
    }
    vault_keys.preload(handed)
    rows = []
    for alert in alerts:
        pid = str(alert.patient_id)
        if pid not in handed:
            continue
        test = alert.result.item.test
        rows.append(
            AlertRow(
                id=alert.pk,
                kind=alert.kind,
                kind_label=str(AlertKind(alert.kind).label),
                flag=alert.flag,
                patient_id=pid,
                patient_name=display_name(patients[pid]),
                test=test.name,
                shown=display_value(test, alert.result.value),
                unit=alert.result.unit,
                accession=alert.order.accession,
                created_at=alert.created_at,
            )
        )
    return tuple(rows)


@transaction.atomic
def acknowledge_alert(*, actor: Actor, alert_id: object) -> CriticalAlert:
    """The prescriber says she saw it: who and when are kept. Another account's alert is
    "not found" alike."""
    require(actor, Capability.VIEW_CLINICAL)
    try:
        number = int(str(alert_id))
    except ValueError:
        number = 0
    alert = (
        CriticalAlert.objects.select_for_update()
        .filter(pk=number, prescriber_id=actor.user_id)
        .first()
    )
    if alert is None:
        raise ValidationError(_("This alert is not yours or does not exist."))
    guarded_patient(actor, Capability.VIEW_CLINICAL, alert.patient_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_by_id = actor.user_id
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["acknowledged_by", "acknowledged_at"])
    return alert
