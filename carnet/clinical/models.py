"""The clinical record's tables. In clear: ids, foreign keys, kinds, times, sizes and the
sensitive category (it decides what is masked before anything is opened). Whatever a
clinician wrote or uploaded is sealed with the patient's data key."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.organisations.models import Establishment, Room, Unit
from carnet.patients.models import Patient
from carnet.staff.models import Practitioner
from carnet.vault.fields import SealedTextField
from carnet.vault.keys import open_bytes, seal_bytes


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


class EncounterKind(models.TextChoices):
    CONSULTATION = "consultation", _("Consultation")
    ADMISSION = "admission", _("Admission")


class Encounter(models.Model):
    """A consultation (with a practitioner) or an admission (in a unit, until discharge).
    The care relationships it opens are the guard's; this row says why they exist."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    establishment = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=EncounterKind.choices)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True)
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    # For an admission: when the patient was admitted.
    started_at = models.DateTimeField()
    discharged_at = models.DateTimeField(null=True, blank=True)
    reason = SealedTextField(owner_field="patient_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["patient", "started_at"], name="clinical_enc_patient")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="admission") | models.Q(unit__isnull=False),
                name="clinical_admission_has_unit",
            ),
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(kind="admission", discharged_at__isnull=True),
                name="clinical_one_current_admission",
            ),
        ]

    @property
    def is_current_admission(self) -> bool:
        return self.kind == EncounterKind.ADMISSION and self.discharged_at is None


class Note(models.Model):
    """A clinical note. Never edited: a correction is an addendum, a note of its own that
    points to the note it corrects and is shown with it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The author's care team for sensitive categories (see sensitivity.may_see).
    author_unit_id = models.BigIntegerField(null=True)
    written_at = models.DateTimeField()
    text = SealedTextField(owner_field="patient_id")
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="addenda"
    )

    class Meta:
        indexes = [models.Index(fields=["patient", "written_at"], name="clinical_note_patient")]

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise NoteIsFinal(self.pk)
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class NoteIsFinal(Exception):
    """A written note is never changed: write an addendum."""


class Medication(models.Model):
    """The medications a prescription can name: a short list shipped with Carnet
    (data/medications.json), by DCI (international non-proprietary name) and a brand."""

    dci = models.CharField("DCI", max_length=120)
    brand = models.CharField(_("brand"), max_length=80, blank=True)
    strength = models.CharField(_("strength"), max_length=60)
    form = models.CharField(_("form"), max_length=80)
    # Prescribing it tells a sensitive category by itself (antiretrovirals, opioid substitution).
    sensitive = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["dci", "strength"]
        constraints = [
            models.UniqueConstraint(
                fields=["dci", "strength", "form"], name="clinical_medication_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.dci} {self.strength} {self.form}"


class Prescription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    prescriber = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    establishment = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, null=True, blank=True, related_name="prescriptions"
    )
    created_at = models.DateTimeField()
    notes = SealedTextField(owner_field="patient_id")
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    author_unit_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["patient", "created_at"], name="clinical_rx_patient"),
        ]


class PrescriptionLine(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="lines")
    # The owner of the sealed dosage (a copy of the prescription's patient).
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()
    medication = models.ForeignKey(Medication, on_delete=models.PROTECT, related_name="+")
    dosage = SealedTextField(owner_field="patient_id")
    duration_days = models.PositiveSmallIntegerField()
    renewals = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["prescription", "position"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(duration_days__gte=1, duration_days__lte=365),
                name="clinical_rx_duration",
            ),
            models.CheckConstraint(
                condition=models.Q(renewals__lte=12), name="clinical_rx_renewals"
            ),
        ]


class DocumentKind(models.TextChoices):
    """What the content is, as sniffed from its first bytes (never the name or the browser's
    word for it)."""

    PDF = "application/pdf", "PDF"
    PNG = "image/png", "PNG"
    JPEG = "image/jpeg", "JPEG"


class Document(models.Model):
    """An uploaded PDF or image, sealed with the patient's data key and bound to this row
    (so a sealed content cannot be moved to another document). No hash of the content is
    kept: in clear it would let whoever holds the database confirm a guessed document."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="documents")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()
    title = SealedTextField(owner_field="patient_id")
    kind = models.CharField(max_length=32, choices=DocumentKind.choices)
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    author_unit_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "uploaded_at"], name="clinical_doc_patient")]

    @property
    def is_image(self) -> bool:
        return self.kind in (DocumentKind.PNG, DocumentKind.JPEG)

    @property
    def place(self) -> str:
        # Bound to the row: a sealed content copied onto another document does not open.
        return f"clinical.document.content:{self.pk}"

    def reseal_for_owner(self, *, old_owner: str, new_owner: str) -> dict[str, bytes]:
        """The content sealed for another patient (a merge moves the document to the
        surviving record, whose key must open it); both owners are in the opening scope."""
        plain = open_bytes(old_owner, self.place, bytes(self.content))
        return {"content": seal_bytes(new_owner, self.place, plain)}
