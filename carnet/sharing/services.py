"""Sending chosen parts of a record to a practitioner outside the group, and their opening.

The link goes by e-mail and says nothing of the patient; the code that opens it is given to
the sender, to pass by a second channel (telephone, SMS). A share opens only its items, until
it expires or is revoked; every opening is an audit entry on the patient (relationship
"share"), so it shows in the patient's own access history. Wrong codes burn the link.
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import override

from carnet.guard.actors import Actor
from carnet.guard.boundary import (
    Refused,
    boundary,
    hand_over,
    ledger_for,
    opened_through,
    record_refusal,
)
from carnet.guard.models import OUTSIDE, RelationshipKind
from carnet.guard.policy import Capability
from carnet.organisations.identifiers import validate_rpps
from carnet.patients.cards import display_name
from carnet.patients.models import Patient
from carnet.patients.selectors import guarded_patient, subject_of, with_relations

from .models import OutsideShare, OutsideShareItem, ShareKind

DEFAULT_DAYS = 7
MAX_DAYS = 30
CODE_DIGITS = 8
CODE_FAILURES = 5  # wrong codes before the link stops working
OPEN_MINUTES = 30  # how long a right code keeps the link open in that browser
OUTSIDE_ROLE = "outside_practitioner"


# --- What can be shared: the summary here, the clinical items registered by their domain ---


@dataclass(frozen=True)
class ShareableItem:
    """One item as the sender chooses it and the recipient sees it."""

    kind: str
    ref: str
    title: str
    at: datetime.datetime | None = None
    text: str = ""
    content_type: str = ""
    load: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def is_file(self) -> bool:
        return self.load is not None


# kind -> (list the patient's items, describe one item); both run where the patient is open.
_KINDS: dict[str, tuple[Callable[[str], list[ShareableItem]], Callable[[str, str], object]]] = {}


def register_kind(
    kind: str,
    *,
    available: Callable[[str], list[ShareableItem]],
    describe: Callable[[str, str], ShareableItem | None],
) -> None:
    """A domain offers its items for sharing (clinical: notes, prescriptions, documents)."""
    _KINDS[kind] = (available, describe)


def available_items(*, actor: Actor, patient_id: str) -> list[ShareableItem]:
    guarded_patient(actor, Capability.SHARE_OUTSIDE, patient_id)
    items = [ShareableItem(ShareKind.SUMMARY, "", str(ShareKind.SUMMARY.label))]
    for available, _describe in _KINDS.values():
        items.extend(available(patient_id))
    return items


def _describe(patient: Patient, kind: str, ref: str) -> ShareableItem | None:
    if kind == ShareKind.SUMMARY:
        return _summary(patient)
    entry = _KINDS.get(kind)
    return entry[1](str(patient.pk), ref) if entry else None  # type: ignore[return-value]


def _summary(patient: Patient) -> ShareableItem:
    from carnet.scheduling.models import HOLDING, Appointment

    coming = Appointment.objects.filter(
        patient=patient, state__in=HOLDING, starts_at__gte=timezone.now()
    ).select_related("agenda__establishment")[:10]
    lines = [
        display_name(patient),
        _("Born on %(date)s") % {"date": patient.birth_date.strftime("%d/%m/%Y")}
        if patient.birth_date
        else "",
        _("Treating doctor: %(name)s") % {"name": patient.treating_doctor}
        if patient.treating_doctor
        else "",
    ]
    for appointment in coming:
        when = timezone.localtime(appointment.starts_at).strftime("%d/%m/%Y %H:%M")
        lines.append(
            _("Appointment %(when)s, %(place)s")
            % {"when": when, "place": appointment.agenda.establishment.name}
        )
    return ShareableItem(
        ShareKind.SUMMARY, "", str(ShareKind.SUMMARY.label), text="\n".join(filter(None, lines))
    )


# --- Sending and revoking (staff) ---------------------------------------------------------


@dataclass(frozen=True)
class SentShare:
    share_id: str
    link_token: str
    code: str
    expires_at: datetime.datetime


def _digest(purpose: str, value: str) -> str:
    return salted_hmac(f"carnet.sharing.{purpose}", value, algorithm="sha256").hexdigest()


def share_outside(
    *,
    actor: Actor,
    patient_id: object,
    rpps: str,
    email: str,
    items: list[tuple[str, str]],
    days: int,
    reason: str,
    link_for: Callable[[str], str],
) -> SentShare:
    """Sends the chosen items of a patient in the actor's care to an outside practitioner."""
    patient = guarded_patient(actor, Capability.SHARE_OUTSIDE, patient_id)
    if opened_through(actor, str(patient.pk)) in (OUTSIDE, RelationshipKind.BREAK_GLASS):
        raise Refused("only a patient in one's care can be sent outside", not_found=False)
    errors: dict[str, str] = {}
    try:
        validate_rpps(rpps.strip())
    except ValidationError as error:
        errors["rpps"] = " ".join(error.messages)
    try:
        validate_email(email.strip())
    except ValidationError:
        errors["email"] = _("Enter a valid e-mail address.")
    if not 1 <= days <= MAX_DAYS:
        errors["days"] = _("Between 1 and %(max)d days.") % {"max": MAX_DAYS}
    if len(reason.strip()) < 5:
        errors["reason"] = _("Say why you send this (at least a few words).")
    chosen = [(k, r) for k, r in items if _describe(patient, k, r) is not None]
    if not chosen or len(chosen) != len(items):
        errors["items"] = _("Choose what to send, among this patient's items.")
    if errors:
        raise ValidationError(errors)
    token = secrets.token_urlsafe(32)
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    expires_at = timezone.now() + datetime.timedelta(days=days)
    share = OutsideShare.objects.create(
        patient=patient,
        created_by_id=actor.user_id,
        recipient_rpps=rpps.strip(),
        recipient_email=email.strip(),
        reason=reason.strip(),
        token_digest=_digest("token", token),
        code_digest=_digest("code", code),
        expires_at=expires_at,
    )
    OutsideShareItem.objects.bulk_create(
        OutsideShareItem(share=share, kind=k, ref=r) for k, r in chosen
    )
    ledger_for(actor).reason = f"sent outside to RPPS {share.recipient_rpps}"
    link = link_for(token)
    transaction.on_commit(lambda: _mail_link(email.strip(), link, expires_at))
    return SentShare(str(share.pk), token, code, expires_at)


def _mail_link(to: str, link: str, expires_at: datetime.datetime) -> None:
    """The link only: no patient's name, no content; the code comes by another way."""
    with override(settings.LANGUAGE_CODE):
        until = timezone.localtime(expires_at).strftime("%d/%m/%Y %H:%M")
        send_mail(
            _("A colleague sent you part of a patient's record"),
            _(
                "Hello,\n\nA practitioner sent you part of a patient's record through Carnet.\n"
                "Open it here: %(link)s\n\nYou will be asked for a code: the sender gives it "
                "to you by telephone or SMS, never by e-mail. The link works until %(until)s.\n"
            )
            % {"link": link, "until": until},
            None,
            [to],
        )


def revoke_share(*, actor: Actor, share_id: object) -> None:
    share = OutsideShare.objects.filter(pk=_uuid(share_id)).first()
    guarded_patient(
        actor, Capability.SHARE_OUTSIDE, share.patient_id if share else uuid.UUID(int=0)
    )
    assert share is not None
    OutsideShare.objects.filter(pk=share.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by_id=actor.user_id
    )


@dataclass(frozen=True)
class ShareRow:
    id: str
    recipient_rpps: str
    recipient_email: str
    created_at: datetime.datetime
    created_by: str
    expires_at: datetime.datetime
    revoked_at: datetime.datetime | None
    openings: int
    items: tuple[str, ...]

    @property
    def live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


def shares_of(*, actor: Actor, patient_id: object) -> list[ShareRow]:
    patient = guarded_patient(actor, Capability.SHARE_OUTSIDE, patient_id)
    rows = []
    for share in (
        OutsideShare.objects.filter(patient=patient)
        .select_related("created_by")
        .prefetch_related("items")
    ):
        rows.append(
            ShareRow(
                id=str(share.pk),
                recipient_rpps=share.recipient_rpps,
                recipient_email=share.recipient_email,
                created_at=share.created_at,
                created_by=share.created_by.get_full_name() or share.created_by.username,
                expires_at=share.expires_at,
                revoked_at=share.revoked_at,
                openings=share.openings,
                items=tuple(ShareKind(i.kind).label for i in share.items.all()),
            )
        )
    return rows


def _uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- The recipient's side (no account: the link, then the code) ----------------------------


def live_share(token: str) -> OutsideShare | None:
    if not token or len(token) > 100:
        return None
    return OutsideShare.objects.filter(
        token_digest=_digest("token", token),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
        code_failures__lt=CODE_FAILURES,
    ).first()


def outside_actor(share: OutsideShare, *, client_ip: str | None, request_id: str) -> Actor:
    return Actor(
        user_id=None,
        username=f"outside:{share.recipient_rpps}",
        role=OUTSIDE_ROLE,
        request_id=request_id or uuid.uuid4().hex,
        client_ip=client_ip,
    )


def check_code(share: OutsideShare, code: str, *, client_ip: str | None, request_id: str) -> bool:
    """A right code opens the share; each wrong one counts, the last one burns the link."""
    if constant_time_compare(_digest("code", code.strip()), share.code_digest):
        return True
    OutsideShare.objects.filter(pk=share.pk).update(code_failures=F("code_failures") + 1)
    record_refusal(
        outside_actor(share, client_ip=client_ip, request_id=request_id),
        "sharing.code",
        Refused("wrong code for an outside share", patients=[str(share.patient_id)]),
    )
    return False


@dataclass(frozen=True)
class OpenedShare:
    patient_name: str
    sender: str
    expires_at: datetime.datetime
    items: tuple[tuple[int, ShareableItem], ...]
    content: bytes | None = None


def open_share(
    share: OutsideShare, *, client_ip: str | None, request_id: str, item_id: int | None = None
) -> OpenedShare:
    """The share's items, handed over through the guard and recorded on the patient."""
    actor = outside_actor(share, client_ip=client_ip, request_id=request_id)
    action = "sharing.open" if item_id is None else "sharing.open_item"
    with transaction.atomic(), boundary(actor, action) as ledger:
        patient = with_relations(Patient.objects.filter(pk=share.patient_id)).first()
        if patient is None:
            raise Refused("the shared patient is gone")
        hand_over(ledger, subject_of(patient), RelationshipKind.SHARE)
        ledger.reason = f"outside share {share.pk}"
        chosen = share.items.all() if item_id is None else share.items.filter(pk=item_id)
        items = []
        for item in chosen:
            described = _describe(patient, item.kind, item.ref)
            if described is not None:
                items.append((item.pk, described))
        # A file is read here, while the patient is open, and only when asked for.
        content = items[0][1].load() if item_id is not None and items and items[0][1].load else None
        OutsideShare.objects.filter(pk=share.pk).update(
            openings=F("openings") + 1, last_opened_at=timezone.now()
        )
        sender = share.created_by
        return OpenedShare(
            patient_name=display_name(patient),
            sender=sender.get_full_name() or sender.username,
            expires_at=share.expires_at,
            items=tuple(items),
            content=content,
        )
