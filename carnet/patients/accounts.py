"""Patient portal accounts: the one-time code the establishment gives a patient, the sign-up
that links an account to that patient's record, and the portal's own record.

A record can only be reached with its code and its birth date, both right, once: there is
nothing to search and nothing to enumerate. Attempts are throttled per address and overall,
and a code is burnt after a few wrong birth dates. The sign-in name is an e-mail address,
kept only as a keyed digest (a stolen database holds no patient's e-mail).
"""

from __future__ import annotations

import datetime
import secrets
import uuid
from dataclasses import dataclass

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, hand_over, match_candidates, record_refusal, system_job
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import SYSTEM_ROLE, Capability, Role
from carnet.guard.relationships import relate
from carnet.staff.models import User
from carnet.vault.blind import exact_index

from .cards import display_name
from .models import LinkAttempt, LinkCode, Patient, PortalAccount
from .selectors import guarded_patient, subject_of, with_relations, writable_patient

# Crockford's base32: no I, L, O or U, so a code read aloud or typed from a letter survives.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12  # 60 bits: guessing is hopeless even before the throttle
CODE_DAYS = 60  # a letter takes days to arrive and to be acted on
FAILURES_PER_CODE = 5  # wrong birth dates before the code is burnt
FAILURES_PER_ADDRESS_HOUR = 5
FAILURES_OVERALL_HOUR = 200  # past this, sign-up pauses for everyone (a distributed attack)
SIGN_IN_PREFIX = "p:"


class LinkRefused(ValidationError):
    """Wrong or spent code, or wrong birth date: one answer for all, so it tells nothing."""


class LinkThrottled(ValidationError):
    pass


def sign_in_name(email: str) -> str:
    """The account's username: a keyed digest of the normalised e-mail address."""
    return SIGN_IN_PREFIX + exact_index("portal.email", email.strip().lower())


def _normalise_code(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch.isalnum())
    return cleaned.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def _digest(code: str) -> str:
    return salted_hmac("carnet.portal.link-code", code, algorithm="sha256").hexdigest()


def format_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime.datetime
    patient_name: str
    birth_date: datetime.date | None


def issue_link_code(*, actor: Actor, patient_id: object) -> IssuedCode:
    """A new sign-up code for a patient of the actor's care or establishment (the guard
    decides); earlier unused codes of that patient stop working. Shown once, never stored."""
    # No code for a deceased or merged record: it would open a closed patient space again.
    patient = writable_patient(actor, Capability.ISSUE_PORTAL_CODE, patient_id)
    if PortalAccount.objects.filter(patient=patient, closed_at__isnull=True).exists():
        raise ValidationError(_("This patient already has a portal account."))
    now = timezone.now()
    LinkCode.objects.filter(patient=patient, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = now + datetime.timedelta(days=CODE_DAYS)
    LinkCode.objects.create(
        patient=patient, digest=_digest(code), issued_by_id=actor.user_id, expires_at=expires_at
    )
    return IssuedCode(format_code(code), expires_at, display_name(patient), patient.birth_date)


def portal_status(*, actor: Actor, patient_id: object) -> str:
    """ "account", "code" (one waiting to be used) or "" for a patient the guard hands over."""
    patient = guarded_patient(actor, Capability.VIEW_IDENTITY, patient_id)
    if PortalAccount.objects.filter(patient=patient, closed_at__isnull=True).exists():
        return "account"
    waiting = LinkCode.objects.filter(
        patient=patient,
        used_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    )
    return "code" if waiting.exists() else ""


@dataclass(frozen=True)
class SignUp:
    code: str
    birth_date: datetime.date
    email: str
    password: str


def _check_throttle(client_ip: str | None) -> None:
    since = timezone.now() - datetime.timedelta(hours=1)
    failed = LinkAttempt.objects.filter(at__gte=since, succeeded=False)
    if client_ip and failed.filter(client_ip=client_ip).count() >= FAILURES_PER_ADDRESS_HOUR:
        raise LinkThrottled(
            _("Too many attempts from this connection. Try again in an hour, or ask the desk.")
        )
    if failed.count() >= FAILURES_OVERALL_HOUR:
        raise LinkThrottled(
            _("Sign-up is paused for a while. Try again later, or ask the desk to help you.")
        )


def _validate_credentials(form: SignUp) -> None:
    try:
        validate_email(form.email)
    except ValidationError:
        raise ValidationError({"email": _("Enter a valid e-mail address.")}) from None
    try:
        password_validation.validate_password(form.password)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None


def _sign_up_actor(client_ip: str | None, request_id: str) -> Actor:
    return Actor(
        user_id=None,
        username="portal:sign-up",
        role=SYSTEM_ROLE,
        request_id=request_id or uuid.uuid4().hex,
        client_ip=client_ip,
        verified=True,
    )


def sign_up(form: SignUp, *, client_ip: str | None, request_id: str = "") -> User:
    """Creates the patient's account and links it to their record, or refuses; every attempt
    is counted, a refused one is recorded in the audit log."""
    _validate_credentials(form)
    _check_throttle(client_ip)
    actor = _sign_up_actor(client_ip, request_id)
    digest = _digest(_normalise_code(form.code))
    user = None
    with system_job(actor, "portal.sign_up") as ledger:
        code = (
            LinkCode.objects.select_for_update()
            .filter(
                digest=digest,
                used_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=timezone.now(),
                failures__lt=FAILURES_PER_CODE,
            )
            .first()
        )
        patient = (
            with_relations(Patient.objects.filter(pk=code.patient_id)).first() if code else None
        )
        if patient is not None:
            subject = subject_of(patient)
            if match_candidates([subject], lambda _s: patient.birth_date == form.birth_date):
                user = _create_account(form, patient, code)
                hand_over(ledger, subject, RelationshipKind.SELF)
                ledger.reason = "portal account linked with a one-time code"
    if user is None:
        _count_failure(digest, client_ip)
        record_refusal(
            actor, "portal.sign_up", Refused("wrong, spent or expired code, or birth date")
        )
        raise LinkRefused(
            _(
                "This code and birth date do not match a record waiting for an account. "
                "Check the letter (the code is valid 60 days, once), or ask the desk for a new one."
            )
        )
    LinkAttempt.objects.create(client_ip=client_ip, succeeded=True)
    return user


def _create_account(form: SignUp, patient: Patient, code: LinkCode) -> User:
    username = sign_in_name(form.email)
    if PortalAccount.objects.filter(patient=patient, closed_at__isnull=True).exists():
        raise ValidationError(_("This record already has a portal account."))
    if User.objects.filter(username=username).exists():
        # Said only to someone who holds a valid code and the birth date that goes with it.
        raise ValidationError({"email": _("An account already uses this e-mail address.")})
    # The desk's code and the birth date are the approval: the account opens its own record
    # (the guard admits nothing else for a patient) and nothing more.
    user = User.objects.create_user(
        username=username, password=form.password, role=Role.PATIENT, access_approved=True
    )
    PortalAccount.objects.create(user=user, patient=patient)
    relate(patient_id=patient.id, kind=RelationshipKind.SELF, user_id=user.pk, source="portal")
    code.used_at = timezone.now()
    code.save(update_fields=["used_at"])
    return user


def _count_failure(digest: str, client_ip: str | None) -> None:
    with transaction.atomic():
        LinkAttempt.objects.create(client_ip=client_ip, succeeded=False)
        LinkCode.objects.filter(digest=digest, used_at__isnull=True).update(
            failures=F("failures") + 1
        )
        LinkCode.objects.filter(
            digest=digest, failures__gte=FAILURES_PER_CODE, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())


def account_exists(email: str) -> bool:
    return User.objects.filter(username=sign_in_name(email)).exists()


def open_account(*, actor: Actor, patient_id: object, email: str, password: str) -> User:
    """For system jobs (the demo, moving accounts from an older portal): a code issued and
    used at once, through the same sign-up as a patient's."""
    issued = issue_link_code(actor=actor, patient_id=patient_id)
    form = SignUp(issued.code, issued.birth_date, email, password)  # type: ignore[arg-type]
    return sign_up(form, client_ip=None, request_id=actor.request_id)


def own_patient_id(actor: Actor) -> str:
    """The record of a portal account (refused for anyone else, or a closed account)."""
    patient_id = (
        PortalAccount.objects.filter(user_id=actor.user_id, closed_at__isnull=True)
        .values_list("patient_id", flat=True)
        .first()
    )
    if actor.role != Role.PATIENT or patient_id is None:
        raise Refused("no open portal account", not_found=False)
    return str(patient_id)


def own_patient(actor: Actor) -> Patient:
    """The portal account's own record, handed over by the guard (its "self" relationship)."""
    return guarded_patient(actor, Capability.USE_PORTAL, own_patient_id(actor))
