"""What the portal keeps of its own: password-reset links (digests only: the link itself is
in the patient's mailbox) and the requests that throttle them. No patient data, no e-mail
address: an address is kept only as the account's keyed sign-in digest."""

from django.conf import settings
from django.db import models


class PasswordReset(models.Model):
    """One link sent to a patient's address: works once, for a short while; a newer link or
    a successful reset ends the others."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class ResetRequest(models.Model):
    """A reset asked, whether an account uses the address or not (so the throttle tells
    nothing): by connection, by address digest, and overall."""

    at = models.DateTimeField(db_index=True)
    client_ip = models.GenericIPAddressField(null=True)
    address_digest = models.CharField(max_length=80)

    class Meta:
        indexes = [
            models.Index(fields=["client_ip", "at"], name="portal_reset_ip_at"),
            models.Index(fields=["address_digest", "at"], name="portal_reset_address_at"),
        ]
