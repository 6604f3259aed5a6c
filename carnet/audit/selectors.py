"""Reading the audit log for a staff member's own dashboard: counts only. (Per-patient and
per-account histories are the guard's, in carnet/guard/incidents.py.)"""

from __future__ import annotations

from datetime import datetime

from .models import AuditEntry, AuditSubject


def recent_activity(actor_id: int, since: datetime) -> dict[str, int]:
    entries = AuditEntry.objects.filter(actor_id=actor_id, at__gte=since)
    patients = AuditSubject.objects.filter(actor_id=actor_id, at__gte=since)
    return {
        "requests": entries.count(),
        "refused": entries.exclude(outcome="allowed").count(),
        "patients": patients.values("patient_id").distinct().count(),
    }
