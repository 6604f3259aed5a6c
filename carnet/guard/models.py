"""What the guard keeps: care relationships, break-the-glass openings, exposure counts and
budgets, containments and alerts, and the sessions it can revoke. Ids only: no patient
identity is ever stored here."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RelationshipKind(models.TextChoices):
    TREATING_DOCTOR = "treating_doctor", _("Treating doctor")
    APPOINTMENT = "appointment", _("Appointment")
    ENCOUNTER = "encounter", _("Encounter")
    ADMISSION = "admission", _("Admitted in the unit")
    LAB_ORDER = "lab_order", _("Laboratory order")
    SHARE = "share", _("Explicit share")
    SELF = "self", _("The patient")
    BREAK_GLASS = "break_glass", _("Break the glass")
    # A patient the account created itself, for a few days.
    CREATED = "created", _("Created by the account")
    # A patient found outside any relationship, then booked, admitted, ordered for... by the
    # same account within minutes: the act explains the look (bounded, see policy).
    FOLLOW_UP = "follow_up", _("Follow-up of one's own booking, admission or order")
    # The desk answering about an appointment booked here, weeks ahead (before its window):
    # not stored, decided at each request, bounded like a follow-up.
    UPCOMING = "upcoming", _("Appointment to come in the establishment")


OUTSIDE = "outside"


class CareRelationship(models.Model):
    """A reason in the data to open a patient to a user (or to every member of a unit).
    Domains write these as appointments, encounters and admissions happen."""

    patient_id = models.UUIDField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+"
    )
    unit_id = models.BigIntegerField(null=True)
    # For the desk: every secretary of the establishment, around an appointment there.
    establishment_id = models.BigIntegerField(null=True)
    kind = models.CharField(max_length=32, choices=RelationshipKind.choices)
    source = models.CharField(max_length=64, blank=True, help_text="e.g. appointment:123")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "patient_id"], name="guard_rel_user_patient"),
            models.Index(fields=["unit_id", "patient_id"], name="guard_rel_unit_patient"),
            models.Index(fields=["patient_id", "kind"], name="guard_rel_patient_kind"),
            models.Index(fields=["establishment_id", "patient_id"], name="guard_rel_establishment"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False)
                | models.Q(unit_id__isnull=False)
                | models.Q(establishment_id__isnull=False),
                name="guard_rel_has_someone",
            )
        ]


class BreakGlassReason(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency care")
    CONTINUITY = "continuity", _("Continuity of care (colleague absent)")
    PATIENT_REQUEST = "patient_request", _("At the patient's request")
    OTHER = "other", _("Other (explain)")


class BreakGlass(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    patient_id = models.UUIDField()
    reason = models.CharField(max_length=32, choices=BreakGlassReason.choices)
    explanation = models.TextField()
    opened_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    request_id = models.CharField(max_length=64)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True)
    review_note = models.TextField(blank=True)
    review_verdict = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "patient_id", "expires_at"], name="guard_bg_user_patient"),
            models.Index(fields=["reviewed_at"], name="guard_bg_reviewed"),
        ]


class Exposure(models.Model):
    """One patient whose identifying data left in a response outside any care relationship
    (or one search that found nobody, `patient_id` empty): what budgets count."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    patient_id = models.UUIDField(null=True)
    at = models.DateTimeField()
    request_id = models.CharField(max_length=64)
    # The act of care that explained it minutes later (a booking, an admission...): then it
    # no longer counts, and the patient is in a follow-up relationship with the account.
    explained_by = models.CharField(max_length=64, blank=True, default="")
    explained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "at"], name="guard_exposure_user_at"),
            models.Index(fields=["user", "explained_at"], name="guard_exposure_explained"),
        ]


class BudgetCounter(models.Model):
    """One row per account, locked while a request charges its budget, so that concurrent
    requests on several servers cannot both slip under the limit."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    charged = models.BigIntegerField(default=0)


class Window(models.TextChoices):
    HOUR = "hour", _("hour")
    DAY = "day", _("day")
    WEEK = "week", _("week")
    MONTH = "month", _("month (30 days)")
    YEAR = "year", _("year")


class BudgetRule(models.Model):
    """An establishment's own limits for a role, tighter than the defaults (never looser)."""

    establishment_id = models.BigIntegerField()
    role = models.CharField(max_length=32)
    window = models.CharField(max_length=8, choices=Window.choices)
    soft = models.PositiveIntegerField()
    hard = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["establishment_id", "role", "window"], name="guard_budget_rule_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(soft__lte=models.F("hard")), name="guard_budget_soft_le_hard"
            ),
        ]


class Containment(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    reason = models.TextField()
    request_id = models.CharField(max_length=64)
    patients_before = models.PositiveIntegerField(default=0)
    released_at = models.DateTimeField(null=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    release_reason = models.TextField(blank=True)


class AlertKind(models.TextChoices):
    CONTAINMENT = "containment", _("Account contained")
    CANARY = "canary", _("Canary record touched")
    BREAK_GLASS = "break_glass", _("Break the glass")
    # A patient, on the portal, does not recognise a line of their access history.
    PATIENT_REPORT = "patient_report", _("Access not recognised by the patient")


class Alert(models.Model):
    kind = models.CharField(max_length=32, choices=AlertKind.choices)
    at = models.DateTimeField(db_index=True)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    patient_id = models.UUIDField(null=True)
    detail = models.TextField()
    request_id = models.CharField(max_length=64)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True)


class AccessReport(models.Model):
    """A line of a patient's access history (one audit entry) that the patient says they do
    not recognise: reported once, each report an alert to the security officers."""

    patient_id = models.UUIDField()
    entry_id = models.BigIntegerField()
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField()
    alert = models.ForeignKey(Alert, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient_id", "entry_id"], name="guard_access_report_once"
            )
        ]
        indexes = [models.Index(fields=["reported_by", "at"], name="guard_report_by_at")]


class TrackedSession(models.Model):
    """The sessions of an account, so that containment can end every one of them."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)


class ChangeKind(models.TextChoices):
    NEW_ACCOUNT = "new_account", _("New account")
    ROLE = "role", _("Role change")
    MEMBERSHIP = "membership", _("New membership")
    SECOND_FACTOR_RESET = "second_factor_reset", _("Second-factor reset")
    BUDGET_RAISE = "budget_raise", _("Exposure budget raise")
    BREAK_GLASS_OUTSIDE = "break_glass_outside", _("Break the glass outside one's establishments")


class ChangeStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class AccessChange(models.Model):
    """A change that would grant access, asked by one person and applied only once a security
    officer (never the same person, never the account concerned) approves it."""

    kind = models.CharField(max_length=32, choices=ChangeKind.choices)
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    payload = models.JSONField(default=dict)
    summary = models.CharField(max_length=300)
    # Empty when the installation's operator asked, from the command line.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    requested_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=ChangeStatus.choices, default="pending")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)
    note = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "requested_at"], name="guard_change_status"),
            models.Index(fields=["account", "status"], name="guard_change_account"),
        ]


class AccountBudget(models.Model):
    """A raise of one account's exposure budget, approved by a security officer."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    window = models.CharField(max_length=8, choices=Window.choices)
    soft = models.PositiveIntegerField()
    hard = models.PositiveIntegerField()
    change = models.ForeignKey(AccessChange, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "window"], name="guard_account_budget_unique")
        ]


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    PRODUCED = "produced", _("Produced")
    EXPIRED = "expired", _("Expired")


class ExportRequest(models.Model):
    """A bulk export asked with a purpose, approved by a security officer, produced once as
    a file encrypted with a key shown once to the requester, and gone when it expires."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    establishment_id = models.BigIntegerField()
    purpose = models.TextField()
    identifiers = models.TextField(help_text="IPP numbers, one per line")
    count = models.PositiveIntegerField()
    fmt = models.CharField(max_length=8, default="csv")
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default="pending")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)
    note = models.TextField(blank=True)
    produced_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    sealed_file = models.BinaryField(null=True)
    exported = models.PositiveIntegerField(default=0)
