"""Patient identities. In clear: ids, foreign keys, status, timestamps and truncated blind
indexes. Everything that identifies a person is a sealed field opened through the vault.
Insurance, death and merges keep their history here too, with the same rule."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from carnet.organisations.models import Establishment
from carnet.staff.models import Practitioner
from carnet.vault.fields import SealedDateField, SealedDateTimeField, SealedTextField


class IdentityStatus(models.TextChoices):
    """The identity's reliability, as the national identity-vigilance rules (RNIV) name it:
    provisional (nothing checked); retrieved (the INS was retrieved from the national INSi
    service, no document checked); validated (checked against a high-trust document, INS not
    retrieved); qualified (both: the INS may then be shared)."""

    PROVISIONAL = "provisional", _("Provisional")
    RETRIEVED = "retrieved", _("Retrieved")
    VALIDATED = "validated", pgettext_lazy("identity status", "Validated")
    QUALIFIED = "qualified", _("Qualified")


# The statuses that need a document checked in front of the patient, and those that need the
# INS (the NIR it carries).
CHECKED_STATUSES = frozenset({IdentityStatus.VALIDATED, IdentityStatus.QUALIFIED})
INS_STATUSES = frozenset({IdentityStatus.RETRIEVED, IdentityStatus.QUALIFIED})


class IdentityDocument(models.TextChoices):
    """High-trust documents the RNIV accepts to validate an identity (for a minor, the family
    record book or a birth certificate, with a parent's own document)."""

    ID_CARD = "id_card", _("National identity card")
    PASSPORT = "passport", _("Passport")
    RESIDENCE_PERMIT = "residence_permit", _("Residence permit")
    FAMILY_BOOK = "family_book", _("Family record book (minor)")
    BIRTH_CERTIFICATE = "birth_certificate", _("Birth certificate (minor)")


class Sex(models.TextChoices):
    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    UNKNOWN = "I", _("Undetermined")


class Patient(models.Model):
    """One person's record.

    Death: `deceased` is a clear flag and `deceased_at` the sealed moment of death. The flag
    is what the guard's neighbours decide on without opening anything (the record is read-only,
    duplicates leave it out); it tells a stolen database no more than the declaration row and
    the appointments cancelled for "death" already do, as a random id without an identity.
    When and where the person died is personal data: sealed, here and on the declaration.

    Merge: `merged_into` points to the surviving record; a merged record keeps its identity,
    read-only, for the audit, and its rows moved to the survivor (see merges.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    status = models.CharField(max_length=16, choices=IdentityStatus.choices)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Who last wrote the identity's traits, and when: the look-alike warning after one's own
    # change is an answer about other people, counted like a search (patients.duplicates).
    changed_by = models.BigIntegerField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
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

    # Death (see the docstring) and merge.
    deceased = models.BooleanField(default=False)
    deceased_at = SealedDateTimeField()
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    merged_at = models.DateTimeField(null=True, blank=True)

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

    @property
    def read_only(self) -> bool:
        return self.deceased or self.merged_into_id is not None


class IdentifierKind(models.TextChoices):
    IPP = "IPP", _("IPP (patient number in the establishment)")
    # An IPP that came with a merged record, where the survivor already had its own: still
    # found by search, and given back if the merge is undone.
    MERGED_IPP = "IPP-M", _("Former IPP (merged record)")


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
        verbose_name = _("identifier (IPP)")
        verbose_name_plural = _("identifiers (IPP)")
        constraints = [
            # Former IPPs of merged records may be several; the current IPP is one.
            models.UniqueConstraint(
                fields=["patient", "establishment", "kind"],
                condition=models.Q(kind="IPP"),
                name="identifier_one_ipp_per_establishment",
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
        verbose_name = _("patient space account")
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

    class Meta:
        verbose_name = _("sign-up code")


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


class AmoScheme(models.TextChoices):
    """AMO (assurance maladie obligatoire): the mandatory scheme, by its code on the card.
    Sealed with the card: a few schemes (the Senate's, the National Assembly's) are so small
    that the scheme alone points to a handful of people."""

    GENERAL = "01", _("Régime général (CPAM)")
    AGRICULTURAL = "02", _("Régime agricole (MSA)")
    INDEPENDENT = "03", _("Travailleurs indépendants (ex-RSI)")
    SNCF = "04", _("SNCF")
    RATP = "05", _("RATP")
    SEAFARERS = "06", _("Marins (ENIM)")
    MINERS = "07", _("Mines (CANSSM)")
    MILITARY = "08", _("Militaires (CNMSS)")
    NOTARIES = "10", _("Clercs et employés de notaire (CRPCEN)")
    PARLIAMENT = "14", _("Assemblée nationale")
    SENATE = "15", _("Sénat")
    CLERGY = "90", _("Cultes (CAVIMAC)")
    MUTUAL_SECTION = "91", _("Section locale mutualiste (fonctionnaires, étudiants)")
    OTHER = "99", _("Other scheme")


class Coverage(models.Model):
    """A card as it was recorded: never changed, never deleted. A new card of the same kind
    supersedes the current one (`superseded_at`); the current card is derived, not stored."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="%(class)s_valid_to_after_from",
            )
        ]


class MandatoryCoverage(Coverage):
    """AMO: scheme, fund (caisse, with its centre when known) and the dates of the rights."""

    scheme = SealedTextField(owner_field="patient_id")
    fund_code = SealedTextField(owner_field="patient_id")

    class Meta(Coverage.Meta):
        verbose_name = _("AMO card")
        verbose_name_plural = _("AMO cards")
        indexes = [models.Index(fields=["patient", "recorded_at"], name="amo_patient_recorded")]


class ComplementaryCoverage(Coverage):
    """AMC (assurance maladie complémentaire, the "mutuelle"): organism, its AMC number (the
    organism's number for third-party payment) and the member's number."""

    organism = SealedTextField(owner_field="patient_id")
    amc_number = SealedTextField(owner_field="patient_id")
    member_number = SealedTextField(owner_field="patient_id")

    class Meta(Coverage.Meta):
        verbose_name = _("AMC card")
        verbose_name_plural = _("AMC cards")
        indexes = [models.Index(fields=["patient", "recorded_at"], name="amc_patient_recorded")]


class DeathDeclaration(models.Model):
    """A death declared by a practitioner in care. A declaration made in error is retracted
    (kept, with who, when and why), never deleted."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    died_at = SealedDateTimeField(owner_field="patient_id")
    place = SealedTextField(owner_field="patient_id")
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    declared_at = models.DateTimeField()
    cancelled_appointments = models.PositiveIntegerField(default=0)
    # The portal account this declaration closed, reopened if the declaration is retracted.
    closed_account = models.ForeignKey(
        PortalAccount, on_delete=models.PROTECT, null=True, related_name="+"
    )
    retracted_at = models.DateTimeField(null=True, blank=True)
    retracted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    retraction_reason = SealedTextField(owner_field="patient_id")

    class Meta:
        verbose_name = _("death declaration")
        constraints = [
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(retracted_at__isnull=True),
                name="death_one_standing_per_patient",
            )
        ]


class IdentityCorrection(models.Model):
    """An authorised change to a read-only (deceased) identity: who, when, why."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    corrected_at = models.DateTimeField()
    version = models.PositiveIntegerField(help_text="the identity's version after the change")
    reason = SealedTextField(owner_field="patient_id")

    class Meta:
        verbose_name = _("identity correction")


class DuplicateDismissal(models.Model):
    """Two records someone checked and found to be two people: not proposed again. Ids only,
    the smaller first."""

    first_id = models.UUIDField()
    second_id = models.UUIDField()
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    dismissed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["first_id", "second_id"], name="dismissal_once"),
            models.CheckConstraint(
                condition=models.Q(first_id__lt=models.F("second_id")), name="dismissal_ordered"
            ),
        ]


class IdentityMerge(models.Model):
    """One merge: the record that survives, the one merged into it, who and why, and (in
    `moves`) every row that moved, so that undoing it gives back exactly those rows."""

    survivor = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    merged = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    merged_at = models.DateTimeField()
    reason = SealedTextField(owner_field="survivor_id")
    # The survivor's identity version right after the merge: undo needs it unchanged.
    survivor_version = models.PositiveIntegerField()
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    undo_reason = SealedTextField(owner_field="survivor_id")

    class Meta:
        indexes = [models.Index(fields=["merged", "undone_at"], name="merge_merged")]


class MergeMove(models.Model):
    """One row a merge changed: its model, its key, and the values to put back on undo (ids
    and states only, never a sealed value)."""

    merge = models.ForeignKey(IdentityMerge, on_delete=models.CASCADE, related_name="moves")
    model = models.CharField(max_length=100)
    row = models.CharField(max_length=64)
    # The column that now points to the survivor (empty for a row changed, not moved).
    field = models.CharField(max_length=100, blank=True)
    restore = models.JSONField()


class IdentityStatusChange(models.Model):
    """Who changed an identity's status, when, and on which document: identity vigilance
    asks for it, and a status without its history is not trusted."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=IdentityStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=IdentityStatus.choices)
    document = models.CharField(max_length=24, choices=IdentityDocument.choices, blank=True)
    changed_by = models.BigIntegerField(null=True)
    changed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["patient", "changed_at"], name="patient_status_history")]
