"""The identity as a plain Django app would keep it: every field in clear, no blind index."""

from django.db import models

from carnet.organisations.models import Establishment
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
