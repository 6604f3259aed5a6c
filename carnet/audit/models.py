"""Audit entries, their per-patient index, the heads of the parallel chains, and anchors.

No table points into these with a foreign key and each is indexed by time, so the entries
can be partitioned by month when the log reaches billions of rows.
"""

from django.db import models


class Outcome(models.TextChoices):
    ALLOWED = "allowed", "allowed"
    REFUSED = "refused", "refused"
    CONTAINED = "contained", "contained"


class AuditEntry(models.Model):
    id = models.BigAutoField(primary_key=True)
    chain = models.PositiveSmallIntegerField()
    seq = models.BigIntegerField()
    at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True)
    actor = models.CharField(max_length=150)
    role = models.CharField(max_length=32)
    establishment_id = models.BigIntegerField(null=True)
    action = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    patients = models.TextField(
        blank=True, help_text="space-separated patient ids, each with what opened it (id:kind)"
    )
    patient_count = models.PositiveIntegerField(default=0)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, db_index=True)
    client_ip = models.GenericIPAddressField(null=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_entry_chain_seq"),
        ]
        indexes = [models.Index(fields=["actor_id", "at"], name="audit_entry_actor_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"


class AuditSubject(models.Model):
    """One row per patient an entry concerns: answers "who saw patient P" and "which
    patients did account A see between T1 and T2" without scanning entries."""

    id = models.BigAutoField(primary_key=True)
    entry_id = models.BigIntegerField()
    patient_id = models.UUIDField()
    relationship = models.CharField(max_length=32, blank=True)
    actor_id = models.BigIntegerField(null=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["patient_id", "at"], name="audit_subject_patient_at"),
            models.Index(fields=["actor_id", "at"], name="audit_subject_actor_at"),
            # An entry's own rows: verification (incremental above all) and the incident report.
            models.Index(fields=["entry_id"], name="audit_subject_entry"),
        ]


class ChainHead(models.Model):
    chain = models.PositiveSmallIntegerField(primary_key=True)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)


class Anchor(models.Model):
    """Binds the heads of every chain at one moment, chained to the previous anchor."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(db_index=True)
    heads = models.TextField(help_text="chain:seq:hash, space-separated")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
