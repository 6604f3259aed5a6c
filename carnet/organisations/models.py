"""Groups, establishments (FINESS), units (services) and rooms."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from .identifiers import validate_finess


class Group(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)

    def __str__(self) -> str:
        return self.name


class EstablishmentKind(models.TextChoices):
    HOSPITAL = "hospital", _("Hospital")
    CLINIC = "clinic", _("Clinic")
    LABORATORY = "laboratory", _("Laboratory")


class Establishment(models.Model):
    group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="establishments")
    name = models.CharField(_("name"), max_length=200)
    finess = models.CharField("FINESS", max_length=9, unique=True, validators=[validate_finess])
    kind = models.CharField(_("kind"), max_length=16, choices=EstablishmentKind.choices)
    address = models.CharField(_("address"), max_length=300, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    # Next IPP (patient identifier) number; allocated under a row lock.
    ipp_counter = models.BigIntegerField(default=0)
    # The group's laboratories may add tests to this establishment's orders (reflex and
    # add-on tests the biologist decides, sent by the laboratory's system).
    laboratory_add_ons = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    establishment = models.ForeignKey(Establishment, on_delete=models.PROTECT, related_name="units")
    name = models.CharField(_("name"), max_length=200)
    code = models.CharField(_("code"), max_length=16)

    class Meta:
        ordering = ["establishment", "name"]
        constraints = [
            models.UniqueConstraint(fields=["establishment", "code"], name="unit_code_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.establishment})"


class Room(models.Model):
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="rooms")
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["unit", "name"]
        constraints = [models.UniqueConstraint(fields=["unit", "name"], name="room_name_unique")]

    def __str__(self) -> str:
        return self.name
