"""What the API adds to django-oauth-toolkit's applications and tokens: each client's kind and
scope ceiling (and, for a backend service, the service account it acts as), and the patient a
`patient/` token is bound to. Ids only: no patient identity is kept here."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ClientKind(models.TextChoices):
    # Authorization code with PKCE: acts for the staff member who signed in (password and
    # second factor) and approved it.
    APP = "app", _("App acting for a signed-in staff member")
    # Client credentials: acts as its service account, a staff account with a role, budgets
    # and containment like anyone's.
    BACKEND = "backend", _("Backend service acting as its service account")


class SmartClient(models.Model):
    application = models.OneToOneField(
        "oauth2_provider.Application", on_delete=models.CASCADE, related_name="smart"
    )
    kind = models.CharField(max_length=16, choices=ClientKind.choices)
    scopes = models.TextField(help_text="the widest SMART scopes this client may be granted")
    service_account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="app", service_account__isnull=True)
                | models.Q(kind="backend", service_account__isnull=False),
                name="api_backend_has_service_account",
            )
        ]

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class LaunchContext(models.Model):
    """The patient chosen at sign-in for a token with `patient/` scopes; the grant, the access
    token and the refresh token each carry it (a refresh keeps the same patient)."""

    grant = models.OneToOneField(
        "oauth2_provider.Grant", on_delete=models.CASCADE, null=True, related_name="+"
    )
    access_token = models.OneToOneField(
        "oauth2_provider.AccessToken", on_delete=models.CASCADE, null=True, related_name="+"
    )
    refresh_token = models.OneToOneField(
        "oauth2_provider.RefreshToken", on_delete=models.CASCADE, null=True, related_name="+"
    )
    patient_id = models.UUIDField()
