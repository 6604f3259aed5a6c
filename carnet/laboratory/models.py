"""The laboratory's tables: the test catalogue (LOINC), orders and their tests, specimens,
results. In clear: ids, codes, times, who did what, and the order's state (the worklist
filters on them). A result's value, its reference range as it stood for this patient, its
comment and the order's clinical information are sealed with the patient's data key: a
stolen database tells that a test was done for a pseudonymous id, never its outcome."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from carnet.organisations.models import Establishment
from carnet.patients.models import Patient
from carnet.vault.fields import SealedTextField

BLOOD_GROUP_LOINC = "882-1"


def _in_french() -> bool:
    return (translation.get_language() or "").startswith("fr")


class Section(models.TextChoices):
    HAEMATOLOGY = "haematology", _("Haematology")
    HAEMOSTASIS = "haemostasis", _("Haemostasis")
    BIOCHEMISTRY = "biochemistry", _("Biochemistry")
    ENDOCRINOLOGY = "endocrinology", _("Endocrinology")
    SEROLOGY = "serology", _("Serology")
    IMMUNOHAEMATOLOGY = "immunohaematology", _("Immunohaematology")


class SpecimenKind(models.TextChoices):
    """The tube a test needs: one specimen per kind is collected for an order."""

    BLOOD_EDTA = "blood_edta", _("Whole blood, EDTA (purple)")
    PLASMA_CITRATE = "plasma_citrate", _("Citrated plasma (light blue)")
    PLASMA_HEPARIN = "plasma_heparin", _("Lithium heparin plasma (green)")
    PLASMA_FLUORIDE = "plasma_fluoride", _("Fluoride plasma (grey)")
    SERUM = "serum", _("Serum, dry tube (red)")


class ResultType(models.TextChoices):
    NUMERIC = "numeric", _("Numeric")
    CODED = "coded", _("Coded")


class LabTest(models.Model):
    """One test of the catalogue (carnet/laboratory/data/lab_tests.json), identified by its
    LOINC code. Reference ranges are the adult ones, by sex where they differ."""

    loinc = models.CharField("LOINC", max_length=16, unique=True)
    code = models.CharField(_("code"), max_length=16, unique=True)
    name_fr = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    section = models.CharField(max_length=32, choices=Section.choices)
    specimen = models.CharField(max_length=32, choices=SpecimenKind.choices)
    result_type = models.CharField(max_length=16, choices=ResultType.choices)
    unit = models.CharField(max_length=32, blank=True)
    decimals = models.PositiveSmallIntegerField(default=0)
    low = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    high = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    low_female = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    high_female = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    low_male = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    high_male = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    critical_low = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    critical_high = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    # Outside these a value is refused at entry, or kept only when typed twice with a comment
    # (carnet/laboratory/data/lab_limits.json, with where they come from).
    plausible_low = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    plausible_high = models.DecimalField(max_digits=12, decimal_places=4, null=True)
    # A computed test (see formulas.py): never typed, worked out from the tests it needs.
    computed = models.CharField(max_length=32, blank=True)
    # Coded results: [{"code", "fr", "en", "normal": true | false | null}].
    answers = models.JSONField(default=list)
    # A category of carnet.clinical (serology, sexual_health...): masked outside the team.
    sensitive_category = models.CharField(max_length=32, blank=True)
    rank = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return f"{self.name} ({self.loinc})"

    @property
    def name(self) -> str:
        return self.name_fr if _in_french() else self.name_en

    def range_for(self, sex: str) -> tuple[Decimal | None, Decimal | None]:
        """The reference range for a patient of this sex (F, M, or undetermined)."""
        if sex == "F" and (self.low_female is not None or self.high_female is not None):
            return self.low_female, self.high_female
        if sex == "M" and (self.low_male is not None or self.high_male is not None):
            return self.low_male, self.high_male
        if self.low is not None or self.high is not None:
            return self.low, self.high
        # Undetermined sex with ranges by sex only: the widest, so that nothing is flagged
        # on a guess about the patient.
        lows = [v for v in (self.low_female, self.low_male) if v is not None]
        highs = [v for v in (self.high_female, self.high_male) if v is not None]
        return (min(lows) if lows else None), (max(highs) if highs else None)

    @property
    def answer_choices(self) -> list[tuple[str, str]]:
        key = "fr" if _in_french() else "en"
        return [(answer["code"], answer[key]) for answer in self.answers]

    def answer_label(self, code: str) -> str:
        key = "fr" if _in_french() else "en"
        for answer in self.answers:
            if answer["code"] == code:
                return answer[key]
        return code


class OrderStatus(models.TextChoices):
    TO_COLLECT = "to_collect", _("To collect")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")


class Priority(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")


class LabOrder(models.Model):
    """Tests a practitioner asked of a laboratory for one patient. The accession number
    (numéro de dossier) is the laboratory's: printed on every tube, searched at the bench."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    laboratory = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    ordered_from = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    # The ordering practitioner's unit: with them, the care team that sees sensitive results.
    ordering_unit_id = models.BigIntegerField(null=True)
    ordered_at = models.DateTimeField()
    priority = models.CharField(max_length=16, choices=Priority.choices, default="routine")
    clinical_information = SealedTextField(owner_field="patient_id")
    accession = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default="to_collect")
    done_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["laboratory", "accession"], name="lab_order_accession_unique"
            )
        ]
        indexes = [
            models.Index(fields=["laboratory", "status", "ordered_at"], name="lab_order_worklist"),
            models.Index(fields=["patient", "ordered_at"], name="lab_order_patient"),
        ]


class AccessionCounter(models.Model):
    """The last accession number of a laboratory in a year, taken under a row lock."""

    laboratory = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["laboratory", "year"], name="lab_accession_year")
        ]


class LabOrderItem(models.Model):
    order = models.ForeignKey(LabOrder, on_delete=models.CASCADE, related_name="items")
    test = models.ForeignKey(LabTest, on_delete=models.PROTECT, related_name="+")
    # A test the laboratory added to the prescriber's order (reflex or add-on, where the
    # ordering establishment allows it): by which of its accounts, when.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    added_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["test__rank"]
        constraints = [
            models.UniqueConstraint(fields=["order", "test"], name="lab_item_once_per_order")
        ]


class Specimen(models.Model):
    """One tube of an order, labelled with its barcode (accession number and tube)."""

    order = models.ForeignKey(LabOrder, on_delete=models.CASCADE, related_name="specimens")
    kind = models.CharField(max_length=32, choices=SpecimenKind.choices)
    barcode = models.CharField(max_length=24)
    collected_at = models.DateTimeField()
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["barcode"]
        constraints = [
            models.UniqueConstraint(fields=["order", "kind"], name="lab_specimen_one_per_kind")
        ]


class LabResult(models.Model):
    """The result of one test of an order: entered by one technician, validated by another
    (never the same account, enforced here as well as in the service)."""

    item = models.OneToOneField(LabOrderItem, on_delete=models.CASCADE, related_name="result")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    value = SealedTextField(owner_field="patient_id")
    # The reference as it stood for this patient when entered (JSON), for the flags.
    reference = SealedTextField(owner_field="patient_id")
    comment = SealedTextField(owner_field="patient_id")
    unit = models.CharField(max_length=32, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField()
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    validated_at = models.DateTimeField(null=True)
    # Validated upstream by the laboratory's own system (LabSystem.results_prevalidated): no
    # account of Carnet validated it, and the result says so.
    validated_by_system = models.BooleanField(default=False)
    # Worked out by the laboratory's formula from other results, never typed.
    computed = models.BooleanField(default=False)
    # Outside the test's plausibility limits, kept because it was typed twice with a comment.
    implausible_confirmed = models.BooleanField(default=False)
    # A validator sent it back to the bench: it waits for a new entry, not for validation.
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    returned_at = models.DateTimeField(null=True)
    return_reason = SealedTextField(owner_field="patient_id")
    # Corrected after validation: the earlier versions are kept in LabResultVersion.
    version = models.PositiveSmallIntegerField(default=1)
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    corrected_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(validated_by__isnull=True)
                | ~models.Q(validated_by=models.F("entered_by")),
                name="lab_result_four_eyes",
            ),
            models.CheckConstraint(
                condition=models.Q(validated_by__isnull=True, validated_at__isnull=True)
                | models.Q(validated_by__isnull=False, validated_at__isnull=False)
                | models.Q(
                    validated_by__isnull=True,
                    validated_at__isnull=False,
                    validated_by_system=True,
                ),
                name="lab_result_validation_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "validated_at"], name="lab_result_patient"),
        ]


class ResultAcknowledgement(models.Model):
    """A clinician saying "I have read this validated result": it leaves their list of results
    to review. Only who and when, in clear; the result itself stays sealed where it is."""

    result = models.ForeignKey(LabResult, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["result", "user"], name="lab_result_read_once")
        ]
        indexes = [models.Index(fields=["user", "at"], name="lab_ack_user")]


class LabResultVersion(models.Model):
    """A validated value as it was before a correction replaced it: never deleted, shown
    struck through beside the value that replaced it, with who corrected it, when and why."""

    result = models.ForeignKey(LabResult, on_delete=models.CASCADE, related_name="versions")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveSmallIntegerField()
    value = SealedTextField(owner_field="patient_id")
    reference = SealedTextField(owner_field="patient_id")
    comment = SealedTextField(owner_field="patient_id")
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField()
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    validated_at = models.DateTimeField()
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    replaced_at = models.DateTimeField()
    reason = SealedTextField(owner_field="patient_id")

    class Meta:
        ordering = ["version"]
        constraints = [
            models.UniqueConstraint(fields=["result", "version"], name="lab_result_version_once")
        ]


class AlertKind(models.TextChoices):
    CRITICAL = "critical", _("Critical value")
    CORRECTED = "corrected", _("Corrected result")


class CriticalAlert(models.Model):
    """What the laboratory must know the prescriber saw: a validated critical value, or a
    validated result corrected. Shown to the prescriber in the app until acknowledged; the
    acknowledgement (who, when) is kept. Holds ids only: the value stays on the result."""

    result = models.ForeignKey(LabResult, on_delete=models.CASCADE, related_name="alerts")
    order = models.ForeignKey(LabOrder, on_delete=models.CASCADE, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    flag = models.CharField(max_length=4, blank=True)
    created_at = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["prescriber", "acknowledged_at"], name="lab_alert_prescriber"),
        ]


class InboundStatus(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    QUARANTINED = "quarantined", _("In quarantine")
    SET_ASIDE = "set_aside", _("Set aside")


class InboundMessage(models.Model):
    """A message a laboratory system sent (HL7 v2 ORU^R01), kept whatever became of it: its
    results entered (still to be validated), or in quarantine for the technicians (no such
    order, a patient who is not the order's, a malformed message): never dropped, never
    guessed. The raw message is sealed with a data key of its own (it names the patient);
    in clear only the sender, the control id, the outcome and its reason."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    laboratory = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField()
    sender = models.CharField(max_length=64, blank=True)
    control_id = models.CharField(max_length=64, blank=True)
    message_type = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=InboundStatus.choices)
    ack_code = models.CharField(max_length=2)
    reason = models.CharField(max_length=300, blank=True)
    order = models.ForeignKey(LabOrder, on_delete=models.PROTECT, null=True, related_name="+")
    raw = SealedTextField()
    # What the interface read of it (numbers, IPPs, observations; JSON), to try it again.
    content = SealedTextField()
    # A technician resolved the quarantine: entered once the order was ready, or set aside.
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True)
    resolution_note = SealedTextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["laboratory", "sender", "control_id"],
                condition=~models.Q(control_id=""),
                name="lab_inbound_control_id_once",
            )
        ]
        indexes = [models.Index(fields=["laboratory", "status"], name="lab_inbound_status")]


class LabSystem(models.Model):
    """The laboratory information system (LIS) a laboratory's orders go to over HL7 v2 MLLP,
    and what the laboratory says of the results it sends back. Set by the operator
    (`carnet hl7 connect`); a laboratory without one gets its orders on Carnet's worklist only."""

    laboratory = models.OneToOneField(
        Establishment, on_delete=models.PROTECT, related_name="lab_system"
    )
    # MSH-5, the receiving application (the LIS's name as it expects it).
    application = models.CharField(max_length=64)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    active = models.BooleanField(default=True)
    # The analysers' values come validated by the LIS's own biologist: the results it sends
    # are validated on arrival (recorded as such), not put on a technician's validation tab.
    results_prevalidated = models.BooleanField(default=False)


class OutboundStatus(models.TextChoices):
    PENDING = "pending", _("To send")
    ACCEPTED = "accepted", _("Accepted by the laboratory system")
    REFUSED = "refused", _("Refused by the laboratory system")


class OutboundOrder(models.Model):
    """An order to send to the laboratory's system (HL7 v2 OML^O21): queued with the order,
    sent by `carnet hl7 send` as the laboratory's service account, kept with the answer. The
    message itself is composed at sending time and never stored (it names the patient); the
    system's reason for a refusal is sealed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(LabOrder, on_delete=models.PROTECT, related_name="sent")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    laboratory = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    control_id = models.CharField(max_length=20, unique=True)
    created_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True)
    # The last try that did not get an answer (connection refused, timed out): in clear, it
    # is about the network, never the patient.
    last_error = models.CharField(max_length=200, blank=True)
    ack_code = models.CharField(max_length=2, blank=True)
    answered_at = models.DateTimeField(null=True)
    reason = SealedTextField(owner_field="patient_id")

    class Meta:
        indexes = [models.Index(fields=["laboratory", "status"], name="lab_outbound_status")]
