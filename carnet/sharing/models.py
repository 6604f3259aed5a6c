"""Shares with practitioners outside the group: who sent what to whom, until when. The link's
token and the code sent by a second channel are kept only as digests; the recipient's
e-mail address is sealed with the patient's key."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.patients.models import Patient
from carnet.vault.fields import SealedTextField


class OutsideShare(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="outside_shares")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    recipient_rpps = models.CharField("RPPS", max_length=11)
    recipient_email = SealedTextField(owner_field="patient_id")
    reason = SealedTextField(owner_field="patient_id")
    token_digest = models.CharField(max_length=64, unique=True)
    code_digest = models.CharField(max_length=64)
    code_failures = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    last_opened_at = models.DateTimeField(null=True)
    openings = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "created_at"], name="outside_share_patient")]


class ShareKind(models.TextChoices):
    SUMMARY = "summary", _("Identity summary and appointments")
    DOCUMENT = "document", _("Document")
    NOTE = "note", _("Clinical note")
    PRESCRIPTION = "prescription", _("Prescription")


class OutsideShareItem(models.Model):
    """One part of the record a share opens; nothing else of the record is reachable."""

    share = models.ForeignKey(OutsideShare, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=16, choices=ShareKind.choices)
    ref = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["share", "kind", "ref"], name="share_item_once")
        ]
