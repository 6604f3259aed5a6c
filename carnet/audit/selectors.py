"""Reading the audit log: per-account and per-patient access. Answers with ids only."""

from __future__ import annotations

from datetime import datetime

from .models import AuditEntry, AuditSubject


def entries_for_request(request_id: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(request_id=request_id).order_by("at"))


def patients_seen_by(actor_id: int, start: datetime, end: datetime) -> list[str]:
    """Which patients did this account's requests concern between start and end."""
    rows = AuditSubject.objects.filter(actor_id=actor_id, at__gte=start, at__lt=end)
    return sorted({str(p) for p in rows.values_list("patient_id", flat=True)})


def recent_activity(actor_id: int, since: datetime) -> dict[str, int]:
    entries = AuditEntry.objects.filter(actor_id=actor_id, at__gte=since)
    patients = AuditSubject.objects.filter(actor_id=actor_id, at__gte=since)
    return {
        "requests": entries.count(),
        "refused": entries.exclude(outcome="allowed").count(),
        "patients": patients.values("patient_id").distinct().count(),
    }
