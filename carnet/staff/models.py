"""Accounts (one custom user model for staff and, later, patients), practitioners with their
RPPS, and memberships in establishments and units."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.guard.policy import Role
from carnet.organisations.identifiers import validate_rpps
from carnet.organisations.models import Establishment, Unit


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    # Set when a security officer approved the account: until then it opens no patient
    # outside its care relationships (four eyes on every access-granting change).
    access_approved = models.BooleanField(_("access approved"), default=False)

    class Meta:
        indexes = [models.Index(fields=["role"], name="staff_user_role")]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username


class Practitioner(models.Model):
    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="practitioner")
    rpps = models.CharField("RPPS", max_length=11, unique=True, validators=[validate_rpps])
    specialty = models.CharField(_("specialty"), max_length=100)

    class Meta:
        ordering = ["user__last_name"]

    def __str__(self) -> str:
        return f"Dr {self.user.display_name} ({self.specialty})"


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="memberships"
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="memberships"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "establishment", "unit"], name="membership_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.establishment}"


class EnrolmentPurpose(models.TextChoices):
    ACCOUNT = "account", _("Password and second factor of a new account")
    SECOND_FACTOR = "second_factor", _("New second factor")


class Enrolment(models.Model):
    """A one-time way for an account's owner to set its password and second factor: a link
    e-mailed to the account's address once a security officer approved the account (or the
    reset), or, for accounts the installation's operator made, the first sign-in. Whoever
    created the account never learns either secret. The token is kept only as a digest."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolments")
    purpose = models.CharField(max_length=16, choices=EnrolmentPurpose.choices)
    # Empty for an enrolment at first sign-in (operator's accounts): no link exists.
    digest = models.CharField(max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    password_set_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["user", "used_at"], name="staff_enrolment_open")]
