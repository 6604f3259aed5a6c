"""Patient identities. In clear: ids, foreign keys, status, timestamps and truncated blind
indexes. Everything that identifies a person is a sealed field opened through the vault."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.organisations.models import Establishment
from carnet.staff.models import Practitioner
from carnet.vault.fields import SealedDateField, SealedTextField


class IdentityStatus(models.TextChoices):
    """INS identity status: provisional until the identity was checked against a document
    and the national INS service; qualified after."""

    PROVISIONAL = "provisional", _("Provisional")
    QUALIFIED = "qualified", _("Qualified")


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    UNKNOWN = "I", _("Undetermined")


class Patient(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=IdentityStatus.choices)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # 16 bytes: random, or a keyed mark for canaries (see carnet/guard/canaries.py).
    mark = models.BinaryField(null=True)
    treating_doctor = models.ForeignKey(
        Practitioner, on_delete=models.SET_NULL, null=True, blank=True, related_name="patients"
    )

    # INS traits.
    birth_surname = SealedTextField()
    first_names = SealedTextField()
    used_surname = SealedTextField()
    used_first_name = SealedTextField()
    sex = SealedTextField()
    birth_date = SealedDateField()
    birthplace_code = SealedTextField()
    nir = SealedTextField()
    # Contacts.
    address_line = SealedTextField()
    postal_code = SealedTextField()
    city = SealedTextField()
    country = SealedTextField()
    phone = SealedTextField()
    email = SealedTextField()

    # Blind indexes (see search_keys.py for widths).
    bi_birth_surname = models.IntegerField(null=True)
    bi_used_surname = models.IntegerField(null=True)
    bi_birth_prefix = models.IntegerField(null=True)
    bi_used_prefix = models.IntegerField(null=True)
    bi_birth_date = models.IntegerField(null=True)
    bi_nir = models.IntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["bi_birth_date", "bi_birth_prefix"], name="patient_bi_date_birth"),
            models.Index(fields=["bi_birth_date", "bi_used_prefix"], name="patient_bi_date_used"),
            models.Index(fields=["bi_birth_surname"], name="patient_bi_birth_surname"),
            models.Index(fields=["bi_used_surname"], name="patient_bi_used_surname"),
            models.Index(fields=["bi_nir"], name="patient_bi_nir"),
        ]

    def __str__(self) -> str:
        return f"Patient {self.id}"


class IdentifierKind(models.TextChoices):
    IPP = "IPP", _("IPP (patient number in the establishment)")


class ExternalIdentifier(models.Model):
    """One IPP per patient and establishment: it is also what makes a patient known to an
    establishment, and so what the guard checks memberships against."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="identifiers")
    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="patient_identifiers"
    )
    kind = models.CharField(
        max_length=8, choices=IdentifierKind.choices, default=IdentifierKind.IPP
    )
    value = SealedTextField(owner_field="patient_id")
    bi_value = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "establishment", "kind"], name="identifier_one_per_establishment"
            )
        ]
        indexes = [models.Index(fields=["bi_value"], name="identifier_bi_value")]


class PortalAccount(models.Model):
    """A patient's portal sign-in, linked to exactly one record (and a record to at most one
    open account). Closing it (death, the patient's request) keeps the row for the audit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="portal_account"
    )
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="portal_accounts")
    linked_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(closed_at__isnull=True),
                name="portal_account_one_open_per_patient",
            )
        ]


class LinkCode(models.Model):
    """A one-time sign-up code given by the establishment (letter, SMS, desk). Kept only as a
    keyed digest; it works with the patient's birth date, once, until it expires, and is
    burnt after a few wrong birth dates."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="link_codes")
    digest = models.CharField(max_length=64, unique=True)
    issued_at = models.DateTimeField(auto_now_add=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)
    failures = models.PositiveSmallIntegerField(default=0)


class LinkAttempt(models.Model):
    """Every sign-up attempt with a code, for throttling by address and overall."""

    at = models.DateTimeField(auto_now_add=True)
    client_ip = models.GenericIPAddressField(null=True)
    succeeded = models.BooleanField()

    class Meta:
        indexes = [
            models.Index(fields=["client_ip", "at"], name="link_attempt_ip_at"),
            models.Index(fields=["at"], name="link_attempt_at"),
        ]
