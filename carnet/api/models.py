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
    # SMART Backend Services: the client proves itself with a JWT signed by its private key
    # (private_key_jwt), checked against its public keys, given as a JWKS or a JWKS URL.
    jwks = models.TextField(blank=True, help_text="the client's public keys (JWKS, JSON)")
    jwks_url = models.URLField(blank=True, max_length=500)
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

    @property
    def asymmetric(self) -> bool:
        return bool(self.jwks or self.jwks_url)


class UsedAssertion(models.Model):
    """A client assertion's `jti`, kept until the assertion expires: the same assertion is
    never accepted twice (SMART Backend Services)."""

    client = models.ForeignKey(SmartClient, on_delete=models.CASCADE, related_name="+")
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "jti"], name="api_assertion_jti_once")
        ]


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


class Cohort(models.Model):
    """A FHIR Group of patients an account named for a bulk export (`Group/<id>/$export`):
    Carnet's patient ids only, and the purpose the security officer reads. Making one opens
    no patient; exporting it goes through the four eyes like any export."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=500)
    members = models.TextField(help_text="patient ids, one per line")
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def member_ids(self) -> list[str]:
        return [line for line in self.members.splitlines() if line]


class BulkExport(models.Model):
    """What a FHIR Bulk Data kick-off asked, beside the guard's export request that carries
    the patients, the purpose and the four eyes: the level, the types and `_since`."""

    export_id = models.BigIntegerField(unique=True)
    level = models.CharField(max_length=16)  # system, Patient or Group/<id>
    types = models.CharField(max_length=500)
    since = models.DateTimeField(null=True)
    request_url = models.CharField(max_length=2000)
    errors = models.TextField(blank=True, help_text="NDJSON OperationOutcomes, once produced")
