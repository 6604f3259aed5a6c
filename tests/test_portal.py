"""The patient portal: sign-up with the establishment's one-time code and the birth date
(throttled, burnt, single use, nothing to enumerate), sign-in apart from the staff's, online
booking within each consultation type's rules, and the patient's own access history. Every
portal route is scoped to the signed-in patient: another patient's ids give nothing."""

import datetime
import re
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client

from carnet.audit.models import AuditEntry, AuditSubject
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.http import ROUTE_ATTRIBUTE
from carnet.guard.policy import Role
from carnet.patients import accounts
from carnet.patients.models import LinkCode, PortalAccount
from carnet.scheduling.models import Appointment, AppointmentState
from carnet.scheduling.services import book_appointment
from carnet.staff.models import User

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for, totp_device
from .routes import all_routes, concrete

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)  # a Monday
BIRTH = datetime.date(1980, 5, 17)
PASSWORD = "une phrase de passe assez longue"


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def online(establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    practitioner_for(doctor)
    return agenda_with_hours(
        establishment, doctor.practitioner, online=True, notice_hours=2, cancel_notice_hours=24
    )


def _secretary(establishment):
    user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
        approved=True,
    )


def issue_code(establishment, patient_id) -> str:
    actor = _secretary(establishment)
    with transaction.atomic(), boundary(actor, "portal.issue_code"):
        return accounts.issue_link_code(actor=actor, patient_id=patient_id).code


def sign_up(client, code, *, birth=BIRTH, email="marie@example.fr", ip="203.0.113.7"):
    return client.post(
        "/portal/sign-up/",
        {
            "code": code,
            "birth_date": birth.isoformat(),
            "email": email,
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
        REMOTE_ADDR=ip,
    )


def portal_client(establishment, patient_id, email="marie@example.fr") -> Client:
    client = Client()
    response = sign_up(client, issue_code(establishment, patient_id), email=email)
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


def _book_as_desk(establishment, consultation, patient_id, starts_at):
    actor = _secretary(establishment)
    with transaction.atomic(), boundary(actor, "desk.book"):
        return book_appointment(
            actor=actor,
            consultation_type_id=consultation.pk,
            patient_id=patient_id,
            starts_at=starts_at,
        )


# --- Sign-up with a code ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_code_and_the_birth_date_link_an_account_to_the_record(establishment, patient):
    client = Client()
    code = issue_code(establishment, patient)
    assert re.fullmatch(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", code)
    response = sign_up(client, code.lower().replace("-", " "))
    assert response.status_code == 302 and response["Location"] == "/portal/"
    home = client.get("/portal/")
    assert "DURAND" in home.content.decode()
    account = PortalAccount.objects.get()
    assert str(account.patient_id) == patient and account.user.role == Role.PATIENT
    entry = AuditEntry.objects.filter(action="portal.sign_up", outcome="allowed").get()
    assert AuditSubject.objects.filter(entry_id=entry.id, relationship="self").count() == 1
    # The code worked once.
    assert sign_up(Client(), code, email="other@example.fr").status_code == 200
    assert PortalAccount.objects.count() == 1


@pytest.mark.django_db
def test_wrong_birth_dates_burn_the_code(establishment, patient):
    code = issue_code(establishment, patient)
    for attempt in range(accounts.FAILURES_PER_CODE):
        response = sign_up(
            Client(), code, birth=datetime.date(1990, 1, 1 + attempt), ip=f"198.51.100.{attempt}"
        )
        assert response.status_code == 200
        assert "do not match" in response.content.decode()
    # The right birth date now comes too late: the code is burnt.
    response = sign_up(Client(), code, ip="198.51.100.200")
    assert "do not match" in response.content.decode()
    assert not PortalAccount.objects.exists()
    assert LinkCode.objects.get().revoked_at is not None


@pytest.mark.django_db
def test_guessing_codes_from_one_address_is_throttled(establishment, patient):
    code = issue_code(establishment, patient)
    client = Client()
    for _ in range(accounts.FAILURES_PER_ADDRESS_HOUR):
        guess = "".join(accounts.ALPHABET[i % 32] for i in range(12))
        assert sign_up(client, guess).status_code == 200
    # Even the right code and birth date are refused from that address for the hour.
    response = sign_up(client, code)
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    assert not PortalAccount.objects.exists()
    refused = AuditEntry.objects.filter(action="portal.sign_up", outcome="refused")
    assert refused.count() == accounts.FAILURES_PER_ADDRESS_HOUR


@pytest.mark.django_db
def test_guessing_from_many_addresses_pauses_sign_up(establishment, patient, monkeypatch):
    monkeypatch.setattr(accounts, "FAILURES_OVERALL_HOUR", 6)
    code = issue_code(establishment, patient)
    for n in range(6):
        sign_up(Client(), "ZZZZ-ZZZZ-ZZZZ", ip=f"192.0.2.{n}")
    response = sign_up(Client(), code, ip="192.0.2.99")
    assert response.status_code == 429 and "paused" in response.content.decode()


@pytest.mark.django_db
def test_a_new_code_replaces_the_old_and_codes_expire(establishment, patient):
    first = issue_code(establishment, patient)
    second = issue_code(establishment, patient)
    assert "do not match" in sign_up(Client(), first).content.decode()
    with time_machine.travel(
        datetime.datetime.now(tz=PARIS) + datetime.timedelta(days=accounts.CODE_DAYS + 1)
    ):
        assert "do not match" in sign_up(Client(), second, ip="192.0.2.50").content.decode()
    assert not PortalAccount.objects.exists()


@pytest.mark.django_db
def test_sign_up_checks_the_password_before_the_code(establishment, patient):
    code = issue_code(establishment, patient)
    response = Client().post(
        "/portal/sign-up/",
        {
            "code": code,
            "birth_date": BIRTH.isoformat(),
            "email": "marie@example.fr",
            "password": "short",
            "password_again": "short",
        },
    )
    assert "at least 12 characters" in response.content.decode()
    assert not LinkCode.objects.filter(used_at__isnull=False).exists()
    assert LinkCode.objects.get().failures == 0


@pytest.mark.django_db
def test_no_patient_e_mail_is_kept_in_clear(establishment, patient):
    portal_client(establishment, patient, email="Secret.Mail@Example.FR")
    user = User.objects.get(role=Role.PATIENT)
    assert "example" not in user.username.lower() and not user.email
    with connection.cursor() as cursor:
        cursor.execute("SELECT username, email, first_name, last_name FROM staff_user")
        assert "secret.mail" not in repr(cursor.fetchall()).lower()


# --- Sign-in: the portal's and the staff's are apart -------------------------------------


@pytest.mark.django_db
def test_patients_sign_in_on_the_portal_only_and_staff_never_there(establishment, patient, staff):
    portal_client(establishment, patient)
    client = Client()
    response = client.post("/portal/login/", {"username": "MARIE@example.fr", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    assert client.get("/patients/").status_code in (302, 403)
    staff_user, _ = staff(Role.SECRETARY)
    refused = Client().post(
        "/portal/login/",
        {"username": f"{staff_user.username}@example.fr", "password": "correct-horse-battery"},
    )
    assert refused.status_code == 200
    patient_user = User.objects.get(role=Role.PATIENT)
    on_staff = Client().post("/login/", {"username": patient_user.username, "password": PASSWORD})
    assert on_staff.status_code == 200 and "_auth_user_id" not in on_staff.client.session


@pytest.mark.django_db
def test_a_patient_with_an_authenticator_must_give_its_code(establishment, patient):
    portal_client(establishment, patient)
    totp_device(User.objects.get(role=Role.PATIENT))
    client = Client()
    response = client.post("/portal/login/", {"username": "marie@example.fr", "password": PASSWORD})
    assert response["Location"] == "/portal/login/verify/"
    assert client.get("/portal/").status_code == 302  # not past the second factor yet


@pytest.mark.django_db
def test_staff_sessions_open_no_portal_page(establishment, staff):
    _, client = staff(Role.SECRETARY)
    assert client.get("/portal/").status_code == 403
    assert client.get("/portal/history/").status_code == 403


# --- Online booking --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_patient_books_online_and_sees_no_one_else(establishment, patient, online, frozen_now):
    other = make_patient(establishment, birth_surname="SECRETNOM", first_names="Autre")
    taken = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=PARIS)
    _book_as_desk(establishment, online, other, taken)
    client = portal_client(establishment, patient)
    page = client.get("/portal/book/", {"specialty": "", "establishment": "", "day": "2026-12-01"})
    body = page.content.decode()
    assert "SECRETNOM" not in body and "Autre" not in body
    assert quote(taken.isoformat()) not in body  # the taken time is not offered
    start = datetime.datetime(2026, 12, 1, 9, 30, tzinfo=PARIS)
    assert quote(start.isoformat()) in body
    confirm = client.get("/portal/book/confirm/", {"type": online.pk, "start": start.isoformat()})
    assert confirm.status_code == 200
    booked = client.post("/portal/book/confirm/", {"type": online.pk, "start": start.isoformat()})
    assert booked.status_code == 302
    appointment = Appointment.objects.get(patient_id=patient)
    assert appointment.starts_at == start and appointment.created_by.role == Role.PATIENT
    home = client.get("/portal/").content.decode()
    assert "SECRETNOM" not in home and "Consultation" in home


@pytest.mark.django_db
def test_desk_only_consultations_and_too_many_bookings_are_refused(
    establishment, patient, online, frozen_now
):
    desk_only = agenda_with_hours(establishment, online.agenda.practitioner, online=False)
    client = portal_client(establishment, patient)
    start = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
    client.post("/portal/book/confirm/", {"type": desk_only.pk, "start": start.isoformat()})
    assert not Appointment.objects.exists()
    from carnet.scheduling.online import MAX_FUTURE_ONLINE

    for day in range(MAX_FUTURE_ONLINE + 1):
        start = datetime.datetime(2026, 12, 1 + day, 9, 0, tzinfo=PARIS)
        response = client.post(
            "/portal/book/confirm/", {"type": online.pk, "start": start.isoformat()}, follow=True
        )
    assert "appointments to come" in response.content.decode()
    assert Appointment.objects.count() == MAX_FUTURE_ONLINE


@pytest.mark.django_db
def test_cancel_and_move_within_the_notice_only(establishment, patient, online, frozen_now):
    client = portal_client(establishment, patient)
    soon = datetime.datetime(2026, 11, 30, 11, 0, tzinfo=PARIS)  # three hours from now
    later = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=PARIS)
    near = _book_as_desk(establishment, online, patient, soon)
    far = _book_as_desk(establishment, online, patient, later)
    response = client.post(f"/portal/appointments/{near.pk}/cancel/", follow=True)
    assert "calling the establishment" in response.content.decode()
    near.refresh_from_db()
    assert near.state == AppointmentState.BOOKED
    new_time = datetime.datetime(2026, 12, 4, 10, 0, tzinfo=PARIS)
    moved = client.post(f"/portal/appointments/{far.pk}/move/", {"start": new_time.isoformat()})
    assert moved.status_code == 302
    far.refresh_from_db()
    assert far.state == AppointmentState.CANCELLED_BY_PATIENT
    new = Appointment.objects.get(starts_at=new_time)
    client.post(f"/portal/appointments/{new.pk}/cancel/", {"reason": "Je vais mieux"})
    new.refresh_from_db()
    assert new.state == AppointmentState.CANCELLED_BY_PATIENT and not new.holds_slot


# --- Own access history ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_access_history_names_who_opened_the_record(establishment, patient, staff):
    user, desk = staff(Role.SECRETARY)
    assert desk.get(f"/patients/{patient}/").status_code == 200
    client = portal_client(establishment, patient)
    body = client.get("/portal/history/").content.decode()
    assert user.last_name in body and "Opened your identity" in body


# --- The attack: another patient's ids on every portal route -----------------------------


@pytest.mark.django_db
def test_every_portal_route_with_another_patients_ids_gives_nothing(
    establishment, online, frozen_now
):
    mine = make_patient(establishment)
    theirs = make_patient(
        establishment, birth_surname="SECRETNOM", first_names="Victime", nir="", email="v@x.fr"
    )
    victim_time = datetime.datetime(2026, 12, 2, 9, 0, tzinfo=PARIS)
    victim = _book_as_desk(establishment, online, theirs, victim_time)
    portal_client(establishment, theirs, email="victim@example.fr")
    attacker = portal_client(establishment, mine)
    checked = 0
    for route, pattern in all_routes():
        if (
            not route.startswith("portal/")
            or getattr(pattern.callback, ROUTE_ATTRIBUTE) == "public"
        ):
            continue
        for target in (str(victim.pk), theirs):
            path = concrete(route, uuid=target)
            for method in ("get", "post"):
                data = {"start": victim_time.isoformat(), "reason": "x", "type": online.pk}
                response = getattr(attacker, method)(path, data)
                body = response.content.decode(errors="replace")
                assert "SECRETNOM" not in body and "Victime" not in body, path
                if "<uuid:" in route:
                    assert response.status_code in (403, 404, 405), (path, response.status_code)
                checked += 1
    assert checked > 20
    victim.refresh_from_db()
    assert victim.state == AppointmentState.BOOKED
    assert Appointment.objects.filter(patient_id=theirs).count() == 1


@pytest.mark.django_db
def test_the_desk_gives_a_code_on_a_letter_and_only_the_desk(establishment, patient, staff):
    _, desk = staff(Role.SECRETARY)
    page = desk.get(f"/patients/{patient}/")
    assert "Give a sign-up code" in page.content.decode()
    letter = desk.post(f"/patients/{patient}/portal-code/")
    body = letter.content.decode()
    # Read the code where the letter prints it: elsewhere on the page a patient id (a UUID) can
    # hold three groups of digits that look like a code.
    printed = re.search(r'"letter-code[^"]*">\s*([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\s*<', body)
    code = printed.group(1)
    assert "/portal/sign-up/" in body
    assert LinkCode.objects.get().digest != code and code not in repr(
        LinkCode.objects.values_list()
    )
    assert sign_up(Client(), code).status_code == 302
    assert "has a patient space account" in desk.get(f"/patients/{patient}/").content.decode()
    _, nurse = staff(Role.NURSE)
    assert nurse.post(f"/patients/{patient}/portal-code/").status_code == 403


@pytest.mark.django_db
def test_the_patient_gives_a_visit_reason_and_first_visit_kept_sealed(
    establishment, patient, online, frozen_now
):
    client = portal_client(establishment, patient)
    start = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=PARIS)
    confirm = client.get("/portal/book/confirm/", {"type": online.pk, "start": start.isoformat()})
    assert 'name="visit_reason"' in confirm.content.decode()
    booked = client.post(
        "/portal/book/confirm/",
        {
            "type": online.pk,
            "start": start.isoformat(),
            "visit_reason": "Essoufflement à l'effort",
            "first_visit": "yes",
        },
    )
    assert booked.status_code == 302
    appointment = Appointment.objects.get(patient_id=patient)
    assert appointment.first_visit is True
    raw = Appointment.objects.values_list("visit_reason_sealed", flat=True).get()
    assert raw and b"Essoufflement" not in bytes(raw)
    # Not said: nothing stored, and the booking goes through.
    later = datetime.datetime(2026, 12, 1, 10, 30, tzinfo=PARIS)
    client.post("/portal/book/confirm/", {"type": online.pk, "start": later.isoformat()})
    second = Appointment.objects.get(patient_id=patient, starts_at=later)
    assert second.first_visit is None
    assert Appointment.objects.filter(pk=second.pk, visit_reason_sealed__isnull=True).exists()
