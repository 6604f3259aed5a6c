"""The identity, the clinical record and the laboratory as a plain Django app would keep
them: every field in clear, no blind index, no sealing."""

from django.conf import settings
from django.db import models

from carnet.clinical.models import DocumentKind, Medication
from carnet.laboratory.models import AlertKind, LabTest, OrderStatus
from carnet.organisations.models import Establishment, Room, Unit
from carnet.staff.models import Practitioner


class PlainPatient(models.Model):
    id = models.UUIDField(primary_key=True)
    status = models.CharField(max_length=16)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    treating_doctor = models.ForeignKey(
        Practitioner, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    birth_surname = models.CharField(max_length=200)
    first_names = models.CharField(max_length=200)
    used_surname = models.CharField(max_length=200, blank=True)
    used_first_name = models.CharField(max_length=200, blank=True)
    sex = models.CharField(max_length=1)
    birth_date = models.DateField()
    birthplace_code = models.CharField(max_length=8, blank=True)
    nir = models.CharField(max_length=15, blank=True)
    address_line = models.CharField(max_length=300, blank=True)
    postal_code = models.CharField(max_length=10, blank=True)
    city = models.CharField(max_length=200, blank=True)
    country = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    email = models.CharField(max_length=254, blank=True)


class PlainIdentifier(models.Model):
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="identifiers")
    establishment = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8)
    value = models.CharField(max_length=32)


# ---- the clinical record and the laboratory, as a plain app would keep them ----------------
# The same tables as carnet.clinical and carnet.laboratory (same keys, same indexes, the same
# default orderings), every written value in an ordinary column: no sealing, no data key.


class PlainEncounter(models.Model):
    id = models.UUIDField(primary_key=True)
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="+")
    establishment = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16)
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, related_name="+")
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, related_name="+")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    started_at = models.DateTimeField()
    discharged_at = models.DateTimeField(null=True)
    reason = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["patient", "started_at"], name="plain_enc_patient")]


class PlainNote(models.Model):
    id = models.UUIDField(primary_key=True)
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(PlainEncounter, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_unit_id = models.BigIntegerField(null=True)
    written_at = models.DateTimeField()
    text = models.TextField()
    category = models.CharField(max_length=32, blank=True)
    corrects = models.ForeignKey("self", on_delete=models.CASCADE, null=True, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["patient", "written_at"], name="plain_note_patient")]


class PlainPrescription(models.Model):
    """Empty in the benchmark (the charts have no prescription), read like Carnet's."""

    id = models.UUIDField(primary_key=True)
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="+")
    prescriber = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    notes = models.TextField(blank=True)
    category = models.CharField(max_length=32, blank=True)
    author_unit_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "created_at"], name="plain_rx_patient")]


class PlainPrescriptionLine(models.Model):
    prescription = models.ForeignKey(
        PlainPrescription, on_delete=models.CASCADE, related_name="lines"
    )
    position = models.PositiveSmallIntegerField()
    medication = models.ForeignKey(Medication, on_delete=models.PROTECT, related_name="+")
    dosage = models.TextField()
    duration_days = models.PositiveSmallIntegerField()
    renewals = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["prescription", "position"]


class PlainDocument(models.Model):
    id = models.UUIDField(primary_key=True)
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="+")
    encounter = models.ForeignKey(PlainEncounter, on_delete=models.CASCADE, related_name="+")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=DocumentKind.choices)
    size = models.PositiveIntegerField()
    content = models.BinaryField()
    category = models.CharField(max_length=32, blank=True)
    author_unit_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "uploaded_at"], name="plain_doc_patient")]

    @property
    def is_image(self) -> bool:
        return self.kind in (DocumentKind.PNG, DocumentKind.JPEG)


class PlainLabOrder(models.Model):
    id = models.UUIDField(primary_key=True)
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="+")
    laboratory = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    ordered_from = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="+")
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    ordering_unit_id = models.BigIntegerField(null=True)
    ordered_at = models.DateTimeField()
    priority = models.CharField(max_length=16)
    clinical_information = models.TextField(blank=True)
    accession = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=OrderStatus.choices)
    done_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "ordered_at"], name="plain_lab_order_patient")]


class PlainLabItem(models.Model):
    order = models.ForeignKey(PlainLabOrder, on_delete=models.CASCADE, related_name="items")
    test = models.ForeignKey(LabTest, on_delete=models.PROTECT, related_name="+")
    # A test the laboratory added to the order (reflex), as the product keeps it.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    added_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["test__rank"]


class PlainSpecimen(models.Model):
    order = models.ForeignKey(PlainLabOrder, on_delete=models.CASCADE, related_name="specimens")
    kind = models.CharField(max_length=32)
    barcode = models.CharField(max_length=24)
    collected_at = models.DateTimeField()
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["barcode"]


class PlainLabResult(models.Model):
    item = models.OneToOneField(PlainLabItem, on_delete=models.CASCADE, related_name="result")
    patient = models.ForeignKey(PlainPatient, on_delete=models.CASCADE, related_name="+")
    value = models.TextField()
    reference = models.TextField()
    comment = models.TextField(null=True)
    unit = models.CharField(max_length=32, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    entered_at = models.DateTimeField()
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    validated_at = models.DateTimeField(null=True)
    return_reason = models.TextField(null=True)
    computed = models.BooleanField(default=False)
    implausible_confirmed = models.BooleanField(default=False)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    corrected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    corrected_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["patient", "validated_at"], name="plain_lab_result_patient")
        ]


class PlainResultVersion(models.Model):
    result = models.ForeignKey(PlainLabResult, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveSmallIntegerField()
    value = models.TextField()
    replaced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    replaced_at = models.DateTimeField()
    reason = models.TextField()

    class Meta:
        ordering = ["version"]


class PlainResultAlert(models.Model):
    result = models.ForeignKey(PlainLabResult, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True)
