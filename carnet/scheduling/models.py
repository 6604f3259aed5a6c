"""Agendas, their opening hours, absences and consultation types; appointments and their
history. Times are stored in UTC; opening hours are wall-clock times of the establishment's
time zone (Europe/Paris by default), so slots follow daylight-saving changes."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from carnet.organisations.models import Establishment, Room, Unit
from carnet.patients.models import Patient
from carnet.staff.models import Practitioner
from carnet.vault.fields import SealedTextField


class AgendaKind(models.TextChoices):
    PRACTITIONER = "practitioner", _("Practitioner")
    RESOURCE = "resource", _("Resource (room, machine, sampling desk)")


class Agenda(models.Model):
    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="agendas"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=AgendaKind.choices)
    name = models.CharField(_("name"), max_length=200)
    practitioner = models.ForeignKey(
        Practitioner, on_delete=models.PROTECT, null=True, blank=True, related_name="agendas"
    )
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, null=True, blank=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["establishment", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="practitioner") | models.Q(practitioner__isnull=False),
                name="agenda_practitioner_has_one",
            )
        ]

    def __str__(self) -> str:
        return self.name


class OpeningHours(models.Model):
    agenda = models.ForeignKey(Agenda, on_delete=models.CASCADE, related_name="opening_hours")
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday")
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["agenda", "weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes")), name="hours_open_before_close"
            ),
            models.CheckConstraint(condition=models.Q(weekday__lte=6), name="hours_weekday_range"),
        ]


class Absence(models.Model):
    """Holidays, leave, a machine under maintenance: no slot in [starts_at, ends_at)."""

    agenda = models.ForeignKey(Agenda, on_delete=models.CASCADE, related_name="absences")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__lt=models.F("ends_at")), name="absence_has_length"
            )
        ]


class ConsultationType(models.Model):
    agenda = models.ForeignKey(Agenda, on_delete=models.CASCADE, related_name="consultation_types")
    motive = models.CharField(_("motive"), max_length=200)
    minutes = models.PositiveSmallIntegerField(_("duration (minutes)"))
    online = models.BooleanField(_("bookable online"), default=False)
    horizon_days = models.PositiveSmallIntegerField(_("booking horizon (days)"), default=60)
    notice_hours = models.PositiveSmallIntegerField(_("minimum notice (hours)"), default=0)
    # Online, a patient may cancel or move up to this long before the appointment; closer to
    # it, only the desk can (the slot could no longer be given to someone else).
    cancel_notice_hours = models.PositiveSmallIntegerField(
        _("online cancellation notice (hours)"), default=24
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(minutes__gte=5), name="consultation_at_least_5_minutes"
            )
        ]

    def __str__(self) -> str:
        return f"{self.motive} ({self.minutes} min)"


class AppointmentState(models.TextChoices):
    BOOKED = "booked", _("Booked")
    CONFIRMED = "confirmed", _("Confirmed")
    ARRIVED = "arrived", _("Arrived")
    IN_CONSULTATION = "in_consultation", _("In consultation")
    DONE = "done", _("Done")
    NO_SHOW = "no_show", _("Did not come")
    CANCELLED_BY_PATIENT = "cancelled_patient", _("Cancelled by the patient")
    CANCELLED_BY_ESTABLISHMENT = "cancelled_establishment", _("Cancelled by the establishment")


class CancellationReason(models.TextChoices):
    """Why an appointment was called off, as a code (counted, never free text about the
    patient); the desk may add words to the event, and the patient's own words stay sealed."""

    PATIENT_REQUEST = "patient_request", _("The patient asked")
    PATIENT_UNWELL = "patient_unwell", _("The patient is unwell or in hospital")
    PRACTITIONER_ABSENT = "practitioner_absent", _("The practitioner is absent")
    MOVED = "moved", _("Moved to another time")
    BOOKED_IN_ERROR = "booked_in_error", _("Booked in error")
    DEATH = "death", _("The patient died")
    OTHER = "other", _("Other reason")


# States in which the appointment holds its time in the agenda.
HOLDING = (
    AppointmentState.BOOKED,
    AppointmentState.CONFIRMED,
    AppointmentState.ARRIVED,
    AppointmentState.IN_CONSULTATION,
    AppointmentState.DONE,
    AppointmentState.NO_SHOW,
)


class Appointment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agenda = models.ForeignKey(Agenda, on_delete=models.PROTECT, related_name="appointments")
    consultation_type = models.ForeignKey(ConsultationType, on_delete=models.PROTECT)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=32, choices=AppointmentState.choices, default="booked")
    # True while the appointment holds its time; the no-overlap rule applies to these only.
    holds_slot = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    # The desk's note ("comes with her daughter, interpreter needed") and the reason for the
    # visit can both carry health information: sealed with the patient's key, like the chart.
    comment = SealedTextField(owner_field="patient_id")
    visit_reason = SealedTextField(owner_field="patient_id")
    # A first visit to this agenda, a follow-up, or not said (None).
    first_visit = models.BooleanField(_("first visit"), null=True, blank=True)
    cancellation_reason = models.CharField(
        _("cancellation reason"), max_length=32, choices=CancellationReason.choices, blank=True
    )
    # Not booked ahead: a patient who came without an appointment, added to the day and queue.
    walk_in = models.BooleanField(_("walk-in"), default=False)

    class Meta:
        indexes = [
            models.Index(fields=["agenda", "starts_at"], name="appointment_agenda_start"),
            models.Index(fields=["patient", "starts_at"], name="appointment_patient_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__lt=models.F("ends_at")), name="appointment_has_length"
            ),
            # SQLite's half of the guarantee; PostgreSQL adds an exclusion constraint over the
            # time range (see migrations), and booking runs in an immediate transaction.
            models.UniqueConstraint(
                fields=["agenda", "starts_at"],
                condition=models.Q(holds_slot=True),
                name="appointment_one_per_start",
            ),
        ]


class AppointmentEvent(models.Model):
    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["at"]


class WaitingRoom(models.Model):
    """A waiting room of an establishment; placed in a unit, it has that unit's queue: its
    tickets are called to that unit's rooms only, and its agendas check in there."""

    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="waiting_rooms"
    )
    name = models.CharField(_("name"), max_length=200)
    unit = models.ForeignKey(
        Unit,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="waiting_rooms",
        verbose_name=_("unit"),
    )

    def __str__(self) -> str:
        return self.name


class QueueCounter(models.Model):
    """Today's last ticket number of a waiting room (numbers start again each day)."""

    waiting_room = models.ForeignKey(WaitingRoom, on_delete=models.CASCADE)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["waiting_room", "day"], name="queue_counter_per_day")
        ]


class TicketState(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    CALLED = "called", _("Called")


class Ticket(models.Model):
    waiting_room = models.ForeignKey(WaitingRoom, on_delete=models.PROTECT, related_name="tickets")
    day = models.DateField()
    number = models.PositiveIntegerField()
    appointment = models.OneToOneField(Appointment, on_delete=models.PROTECT, related_name="ticket")
    state = models.CharField(max_length=16, choices=TicketState.choices, default="waiting")
    issued_at = models.DateTimeField(auto_now_add=True)
    called_at = models.DateTimeField(null=True)
    room = models.ForeignKey(Room, on_delete=models.PROTECT, null=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["waiting_room", "day", "number"], name="ticket_number_per_day"
            )
        ]
        indexes = [
            models.Index(fields=["waiting_room", "issued_at"], name="ticket_room_issued"),
        ]


class ScreenDevice(models.Model):
    """A waiting-room screen. Its token is stored only as a SHA-256 digest; revoking it ends
    the screen's access at its next poll."""

    waiting_room = models.ForeignKey(WaitingRoom, on_delete=models.CASCADE, related_name="screens")
    name = models.CharField(max_length=200)
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True)
    revoked_at = models.DateTimeField(null=True)


class MessageChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class MessageKind(models.TextChoices):
    REMINDER = "reminder", _("Day-before reminder")
    CONFIRMATION = "confirmation", _("Confirmation")


class MessageOutcome(models.TextChoices):
    CLAIMED = "claimed", _("Claimed, not sent yet")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Reminder(models.Model):
    """One message about an appointment on one channel. A day-before reminder is claimed (this
    row committed) before it is sent, so a second or concurrent run finds it taken and it goes
    out at most once. Neither the text nor the address is kept: they are sealed elsewhere."""

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="reminders")
    channel = models.CharField(max_length=8, choices=MessageChannel.choices)
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    claimed_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True)
    outcome = models.CharField(
        max_length=16, choices=MessageOutcome.choices, default=MessageOutcome.CLAIMED
    )
    # The kind of failure only (an SMTP error can quote the address).
    error = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["appointment", "channel"],
                condition=models.Q(kind="reminder"),
                name="reminder_once_per_channel",
            )
        ]
