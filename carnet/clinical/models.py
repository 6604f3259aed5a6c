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


class DischargeDestination(models.TextChoices):
    HOME = "home", _("Home")
    TRANSFER = "transfer", _("Transfer to another establishment")
    OTHER_UNIT = "other_unit", _("Another unit")
    DEATH = "death", _("Death")
    OTHER = "other", _("Other")


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
    # The discharge as an act: when it was recorded (the undo window runs from then), by
    # whom, and where the patient went.
    discharge_recorded_at = models.DateTimeField(null=True, blank=True)
    discharged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    discharge_destination = models.CharField(
        max_length=16, choices=DischargeDestination.choices, blank=True
    )
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
    # The warnings shown before signing and the prescriber's reason for going on (sealed: they
    # name the patient's allergies and treatments).
    overridden = SealedTextField(owner_field="patient_id")

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
    # The dose per intake ("1 comprimé"); frequency and route complete it (all required for
    # a new line; lines written before they existed show their dosage alone).
    dosage = SealedTextField(owner_field="patient_id")
    frequency = SealedTextField(owner_field="patient_id")
    route = models.CharField(max_length=16, blank=True)
    duration_days = models.PositiveSmallIntegerField()
    renewals = models.PositiveSmallIntegerField(default=0)
    # In relation to the patient's long-term condition (ALD, 100 % cover): the prescription is
    # then printed on the bizone layout, these lines in the upper zone.
    ald = models.BooleanField(default=False)

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


class Route(models.TextChoices):
    """How a medication is given (voie d'administration)."""

    ORAL = "oral", _("Oral")
    SUBLINGUAL = "sublingual", _("Sublingual")
    INHALED = "inhaled", _("Inhaled")
    SUBCUTANEOUS = "subcutaneous", _("Subcutaneous")
    INTRAMUSCULAR = "intramuscular", _("Intramuscular")
    INTRAVENOUS = "intravenous", _("Intravenous")
    TRANSDERMAL = "transdermal", _("Transdermal")
    RECTAL = "rectal", _("Rectal")
    TOPICAL = "topical", _("Cutaneous")


class AllergyKind(models.TextChoices):
    ALLERGY = "allergy", _("Allergy")
    INTOLERANCE = "intolerance", _("Intolerance")
    # Asked and answered: not the same as nothing recorded.
    NONE_KNOWN = "none_known", _("No known allergy")


class Severity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe (anaphylaxis)")


class Certainty(models.TextChoices):
    SUSPECTED = "suspected", _("Suspected")
    CONFIRMED = "confirmed", _("Confirmed")


class Allergy(models.Model):
    """An allergy or intolerance, or "no known allergy" recorded as such. The substance, its
    code in the formulary (a substance's ATC or a class) and the reaction are sealed; the
    kind, severity and certainty say nothing without them."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=AllergyKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    certainty = models.CharField(max_length=16, choices=Certainty.choices, blank=True)
    substance = SealedTextField(owner_field="patient_id")
    substance_code = SealedTextField(owner_field="patient_id")
    reaction = SealedTextField(owner_field="patient_id")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()
    # Ended when refuted, or when an allergy replaces "no known allergy".
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "recorded_at"], name="clinical_allergy_pat")]


class ProblemScope(models.TextChoices):
    PERSONAL = "personal", _("Personal")
    FAMILY = "family", _("Family history")


class ProblemStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RESOLVED = "resolved", _("Resolved")


class Problem(models.Model):
    """A problem or history item (antécédent), coded in CIM-10 (the French ICD-10) when the
    shipped subset has it. Label, code and onset are sealed; the category masks it like a
    note (a CIM-10 code can tell one by itself: F, B20-B24)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16, choices=ProblemScope.choices)
    status = models.CharField(max_length=16, choices=ProblemStatus.choices)
    label = SealedTextField(owner_field="patient_id")
    code = SealedTextField(owner_field="patient_id")
    onset = SealedTextField(owner_field="patient_id")
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    author_unit_id = models.BigIntegerField(null=True)
    recorded_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "recorded_at"], name="clinical_problem_pat")]


class VitalSigns(models.Model):
    """One set of vital signs (constantes) taken at one moment. The measures are sealed
    together, as JSON: a reader of the database sees that they were taken, not what."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(
        Encounter, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    taken_at = models.DateTimeField()
    measures = SealedTextField(owner_field="patient_id")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["patient", "taken_at"], name="clinical_vitals_pat")]


class DischargeUndone(models.Model):
    """A discharge undone within its window by a practitioner, with a reason (sealed: it
    speaks of the patient); the stay is current again and this row keeps what was undone."""

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    discharged_at = models.DateTimeField()
    destination = models.CharField(max_length=16, choices=DischargeDestination.choices)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    undone_at = models.DateTimeField()
    reason = SealedTextField(owner_field="patient_id")


class ReportedMedication(models.Model):
    """A medication the patient says they take (prescribed elsewhere, bought over the
    counter): part of the current medications and of the checks before prescribing. Named
    from the shipped list when it is there (so the checks know it), else written out."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    medication = models.ForeignKey(
        Medication, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    name = SealedTextField(owner_field="patient_id")
    dosage = SealedTextField(owner_field="patient_id")
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    author_unit_id = models.BigIntegerField(null=True)
    recorded_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "recorded_at"], name="clinical_reported_pat")]


class LetterIsSigned(Exception):
    """A signed discharge letter is never changed: a correction is a new version."""


class DischargeLetter(models.Model):
    """The lettre de liaison of a stay: drafted from the stay by a practitioner, edited, then
    signed (given to the patient, sent to the treating doctor). Every section is sealed; a
    signed letter is never edited, a correction is a new version that replaces it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(Encounter, on_delete=models.PROTECT, related_name="letters")
    establishment = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_unit_id = models.BigIntegerField(null=True)
    version = models.PositiveSmallIntegerField(default=1)
    replaces = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="replaced_by"
    )
    category = models.CharField(max_length=32, choices=SensitiveCategory.choices, blank=True)
    drafted_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    signed_at = models.DateTimeField(null=True, blank=True)
    signed_by = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The treating doctor it was sent to when signed (a practitioner in Carnet), if any.
    sent_to = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = SealedTextField(owner_field="patient_id")
    course = SealedTextField(owner_field="patient_id")
    results = SealedTextField(owner_field="patient_id")
    allergies = SealedTextField(owner_field="patient_id")
    treatment = SealedTextField(owner_field="patient_id")
    follow_up = SealedTextField(owner_field="patient_id")

    class Meta:
        indexes = [models.Index(fields=["patient", "drafted_at"], name="clinical_letter_patient")]
        constraints = [
            # One draft at a time for a stay.
            models.UniqueConstraint(
                fields=["encounter"],
                condition=models.Q(signed_at__isnull=True),
                name="clinical_letter_one_draft",
            ),
            models.UniqueConstraint(
                fields=["encounter", "version"], name="clinical_letter_version_once"
            ),
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True) | models.Q(signed_by__isnull=False),
                name="clinical_letter_signed_by_someone",
            ),
        ]

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding and self.signed_at is not None:
            stored = DischargeLetter.objects.filter(pk=self.pk).values_list("signed_at", flat=True)
            if stored.first() is not None:
                raise LetterIsSigned(self.pk)
        super().save(*args, **kwargs)  # type: ignore[arg-type]
