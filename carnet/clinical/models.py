"""The clinical record's tables. In clear: ids, foreign keys, kinds, times, sizes and the
sensitive category (it decides what is masked before anything is opened). Whatever a
clinician wrote or uploaded is sealed with the patient's data key."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.patients.models import Patient


class SensitiveCategory(models.TextChoices):
    """Categories masked outside the author's care team unless opened on purpose: what the
    2021 laboratory leak spread (HIV status) and what a patient least wants a colleague to
    come across by chance."""

    NONE = "", _("Not sensitive")
    SEROLOGY = "serology", _("HIV and other serologies")
    PSYCHIATRY = "psychiatry", _("Psychiatry")
    ADDICTION = "addiction", _("Addiction")
    SEXUAL_HEALTH = "sexual_health", _("Sexual and reproductive health")
    GENETICS = "genetics", _("Genetics")


class SensitiveOpening(models.Model):
    """One account opening one sensitive category of one patient, with a reason, for a few
    hours (see sensitivity.py). The reason stays in clear, like a break-the-glass
    explanation: security officers review it without opening the record."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices)
    reason = models.TextField()
    at = models.DateTimeField()
    until = models.DateTimeField()
    request_id = models.CharField(max_length=64)

    class Meta:
        indexes = [
            models.Index(fields=["user", "patient", "until"], name="clinical_opening_user"),
            models.Index(fields=["at"], name="clinical_opening_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(category=""), name="clinical_opening_has_category"
            ),
            models.CheckConstraint(
                condition=models.Q(until__gt=models.F("at")), name="clinical_opening_ends"
            ),
        ]
