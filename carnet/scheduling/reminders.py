"""Day-before reminders and the desk's confirmations of appointments, by e-mail and SMS.

A message says when and where, and links to the patient portal: never the practitioner, the
specialty, the motive, the unit or anything clinical (a psychiatrist's name alone tells a
diagnosis). Contacts are opened only through the guard, and a day-before reminder is claimed
(committed) before it is sent, so it goes out at most once per appointment and channel."""

from __future__ import annotations

import contextlib
import datetime
import smtplib
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, admit, require, system_job
from carnet.guard.canaries import is_canary
from carnet.guard.policy import Capability
from carnet.patients.models import Patient
from carnet.patients.selectors import guarded_patient, subject_of
from carnet.vault import keys as vault_keys

from .messaging import SmsMessage, get_sms_backend
from .models import (
    Appointment,
    AppointmentState,
    MessageChannel,
    MessageKind,
    MessageOutcome,
    Reminder,
)

ACTION = "scheduling.reminders"
# Appointments per system job: one transaction and one audit entry each.
BATCH = 500
# Only these are still to come; a cancelled appointment gets no reminder.
REMINDED = (AppointmentState.BOOKED, AppointmentState.CONFIRMED)


@dataclass(frozen=True)
class Texts:
    subject: str
    email: str
    sms: str


def message_texts(appointment: Appointment, kind: str) -> Texts:
    """What the patient reads, in the installation's language: the date and time in its time
    zone, the establishment's name, address and city, the portal's address. Nothing else of
    the appointment reaches the templates."""
    zone = timezone.get_default_timezone()
    establishment = appointment.agenda.establishment
    local = timezone.localtime(appointment.starts_at, zone)
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "reminder": kind == MessageKind.REMINDER,
            "date": formats.date_format(local, "l j F Y"),
            "time": formats.time_format(local, "H:i"),
            "place": ", ".join(
                part.strip()
                for part in (establishment.name, establishment.address, establishment.city)
                if part.strip()
            ),
            "portal_url": settings.CARNET_PORTAL_URL,
        }
        subject = render_to_string("scheduling/message_subject.txt", context)
        email = render_to_string("scheduling/message_email.txt", context)
        sms = render_to_string("scheduling/message_sms.txt", context)
    return Texts(" ".join(subject.split()), email.strip() + "\n", " ".join(sms.split()))


@dataclass(frozen=True)
class _Outgoing:
    reminder_id: int
    channel: str
    address: str
    texts: Texts


def _contacts(patient: Patient) -> dict[str, str]:
    """The channels a patient can be reached on (the patient was handed over by the guard)."""
    found = {
        MessageChannel.EMAIL: (patient.email or "").strip(),
        MessageChannel.SMS: (patient.phone or "").strip(),
    }
    return {channel: address for channel, address in found.items() if address}


def _claim(
    appointment: Appointment, channel: str, kind: str, requested_by: int | None = None
) -> Reminder | None:
    """The row saying this message is being sent, or None when another run already holds it
    (PostgreSQL makes a concurrent insert wait for the other's commit, then refuses it)."""
    try:
        with transaction.atomic():
            return Reminder.objects.create(
                appointment=appointment, channel=channel, kind=kind, requested_by_id=requested_by
            )
    except IntegrityError:
        return None


def _failure(error: Exception) -> str:
    """The kind of failure, never its text: an SMTP refusal quotes the address."""
    code = getattr(error, "smtp_code", None)
    return f"{type(error).__name__} {code}" if code else type(error).__name__


def _deliver(outgoing: list[_Outgoing]) -> list[tuple[_Outgoing, bool]]:
    """Sends each message and records its outcome; one failure does not stop the others."""
    if not outgoing:
        return []
    connection = mail.get_connection()
    # One SMTP session for the batch; if it cannot open, each message says why below.
    with contextlib.suppress(OSError, smtplib.SMTPException):
        connection.open()
    sms = get_sms_backend()
    results = []
    try:
        for item in outgoing:
            error = ""
            try:
                if item.channel == MessageChannel.EMAIL:
                    accepted = mail.EmailMessage(
                        item.texts.subject,
                        item.texts.email,
                        settings.DEFAULT_FROM_EMAIL,
                        [item.address],
                        connection=connection,
                    ).send()
                else:
                    accepted = sms.send_messages([SmsMessage(item.address, item.texts.sms)])
                if not accepted:
                    error = "not accepted by the backend"
            except Exception as failure:  # recorded on the row; the others still go out
                error = _failure(failure)
            Reminder.objects.filter(pk=item.reminder_id).update(
                outcome=MessageOutcome.FAILED if error else MessageOutcome.SENT,
                sent_at=None if error else timezone.now(),
                error=error[:200],
            )
            results.append((item, not error))
    finally:
        connection.close()
    return results


@dataclass
class ReminderReport:
    """Counts of one run. In a dry run, `sent` counts what would have been sent."""

    day: datetime.date
    dry_run: bool = False
    appointments: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    without_contact: int = 0
    # Claimed meanwhile by another run of the job.
    taken: int = 0


def _due(day: datetime.date) -> QuerySet[Appointment]:
    """Appointments of that local day still to come and not reminded yet."""
    zone = timezone.get_default_timezone()
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min), zone)
    end = timezone.make_aware(
        datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min), zone
    )
    return Appointment.objects.filter(
        starts_at__gte=start, starts_at__lt=end, state__in=REMINDED
    ).exclude(reminders__kind=MessageKind.REMINDER)


def reminders_due(*, day: datetime.date) -> int:
    """How many appointments of that day are still to be reminded (no patient data)."""
    return _due(day).count()


def _prepare(
    actor: Actor, day: datetime.date, ids: list[uuid.UUID], report: ReminderReport
) -> list[_Outgoing]:
    """One system job: opens the patients of these appointments (only them), claims a row per
    channel and returns the messages to send once the claims are committed."""
    outgoing: list[_Outgoing] = []
    with system_job(actor, ACTION) as ledger:
        require(actor, Capability.SEND_REMINDERS)
        ledger.reason = f"day-before reminders for {day.isoformat()}"
        if report.dry_run:
            ledger.reason += " (dry run)"
        appointments = list(
            _due(day)
            .filter(pk__in=ids)
            .select_related("agenda__establishment")
            .order_by("starts_at", "pk")
        )
        patients = {
            str(p.id): p
            for p in Patient.objects.filter(
                id__in={a.patient_id for a in appointments}
            ).prefetch_related("identifiers")
        }
        # A canary is no one: there is nobody to remind, and opening it would contain the job.
        # It is counted with the patients without contact, so counts do not tell it apart.
        subjects = [subject_of(p) for p in patients.values()]
        real = [s for s in subjects if not is_canary(s.patient_id, s.mark)]
        handed = {s.patient_id for s in admit(actor, Capability.SEND_REMINDERS, real)}
        vault_keys.preload(handed)
        for appointment in appointments:
            report.appointments += 1
            patient_id = str(appointment.patient_id)
            contacts = _contacts(patients[patient_id]) if patient_id in handed else {}
            if not contacts:
                report.without_contact += 1
                continue
            texts = message_texts(appointment, MessageKind.REMINDER)
            for channel, address in contacts.items():
                if report.dry_run:
                    report.sent[channel] += 1
                    continue
                claimed = _claim(appointment, channel, MessageKind.REMINDER)
                if claimed is None:
                    report.taken += 1
                    continue
                outgoing.append(_Outgoing(claimed.pk, channel, address, texts))
    return outgoing


def send_day_before_reminders(
    *,
    actor: Actor,
    day: datetime.date,
    dry_run: bool = False,
    batch_size: int = BATCH,
    progress: Callable[[int], object] | None = None,
) -> ReminderReport:
    """Reminds every booked or confirmed appointment of `day` (local date), once per channel
    the patient has. The actor is a system actor: one audited system job per batch."""
    report = ReminderReport(day=day, dry_run=dry_run)
    ids = list(_due(day).order_by("starts_at", "pk").values_list("pk", flat=True))
    for first in range(0, len(ids), batch_size):
        chunk = ids[first : first + batch_size]
        outgoing = _prepare(actor, day, chunk, report)
        # Sent after the claims are committed: a crash from here on loses a reminder, it
        # never sends one twice.
        for item, ok in _deliver(outgoing):
            (report.sent if ok else report.failed)[item.channel] += 1
        if progress is not None:
            progress(len(chunk))
    return report


@dataclass(frozen=True)
class ConfirmationSent:
    """The channels the confirmation went out on, and those whose backend failed."""

    sent: tuple[str, ...]
    failed: tuple[str, ...]


def _appointment(appointment_id: object) -> Appointment | None:
    try:
        key = uuid.UUID(str(appointment_id))
    except ValueError:
        return None
    return Appointment.objects.select_related("agenda__establishment").filter(pk=key).first()


def send_confirmation(*, actor: Actor, appointment_id: object) -> ConfirmationSent:
    """The desk sends the patient the confirmation of one appointment of its establishments,
    on every channel the patient has. Runs in the caller's guarded boundary."""
    require(actor, Capability.BOOK_APPOINTMENT)
    appointment = _appointment(appointment_id)
    if appointment is None or appointment.agenda.establishment_id not in actor.establishment_ids:
        # "Not yours" answers exactly like "does not exist".
        raise Refused("no such appointment in the actor's establishments")
    if appointment.state not in REMINDED or appointment.starts_at <= timezone.now():
        raise ValidationError(
            _("Only a booked or confirmed appointment still to come can be confirmed.")
        )
    patient = guarded_patient(actor, Capability.BOOK_APPOINTMENT, appointment.patient_id)
    contacts = _contacts(patient)
    if not contacts:
        raise ValidationError(
            _("This patient has no e-mail address nor phone number: print the confirmation.")
        )
    texts = message_texts(appointment, MessageKind.CONFIRMATION)
    outgoing = []
    for channel, address in contacts.items():
        claimed = _claim(appointment, channel, MessageKind.CONFIRMATION, actor.user_id)
        assert claimed is not None  # confirmations may be sent again: nothing to conflict
        outgoing.append(_Outgoing(claimed.pk, channel, address, texts))
    results = _deliver(outgoing)
    return ConfirmationSent(
        sent=tuple(item.channel for item, ok in results if ok),
        failed=tuple(item.channel for item, ok in results if not ok),
    )
