"""The guard's promises against a stolen account: exposure budgets (step-up, then
containment inside the request), canaries, locked accounts losing every session, the slow
scraper caught by the weekly window, and search misses counted."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.http import STEP_UP_SESSION_KEY
from carnet.guard.models import Alert, AlertKind, Containment, Exposure
from carnet.guard.policy import ENUMERATION_BAR, Role, default_budget
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import UserFactory, make_patient

pytestmark = pytest.mark.django_db
DAY = datetime.date(1970, 1, 1)
API = Client()


def _patients(establishment, count, **values):
    return [
        make_patient(
            establishment, birth_surname=f"SCRAPE{chr(65 + n // 26)}{chr(65 + n % 26)}", **values
        )
        for n in range(count)
    ]


def _stepped_up(client):
    session = client.session
    session[STEP_UP_SESSION_KEY] = (
        datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(hours=1)
    ).timestamp()
    session.save()


def _walk(client, patients):
    """Opens patients one by one; returns (names shown, last response)."""
    shown, response = 0, None
    for patient in patients:
        response = client.get(reverse("web:patient_detail", args=[patient]))
        if response.status_code != 200:
            break
        shown += 1
    return shown, response


def test_past_the_soft_limit_the_user_must_step_up(staff, establishment):
    user, client = staff(Role.SECRETARY)
    soft, hard = default_budget(Role.SECRETARY)["hour"]
    patients = _patients(establishment, soft + 1)
    shown, response = _walk(client, patients)
    assert shown == soft
    assert response.status_code == 302 and reverse("web:step_up") in response["Location"]
    assert "SCRAPE" not in response.content.decode()
    assert User.objects.get(pk=user.pk).is_active


def test_past_the_hard_limit_the_account_is_contained_inside_the_request(
    staff, establishment, django_capture_on_commit_callbacks
):
    officer = UserFactory(
        role=Role.SECURITY_OFFICER, email="rssi@example.fr", establishments=[establishment]
    )
    user, client = staff(Role.SECRETARY)
    other_session = signed_in_client(user)
    _stepped_up(client)
    soft, hard = default_budget(Role.SECRETARY)["hour"]
    patients = _patients(establishment, hard + 5)
    with django_capture_on_commit_callbacks(execute=True):
        shown, response = _walk(client, patients)
    assert shown == hard
    # The request that crossed the line carried no patient, and said why.
    assert response.status_code == 403
    assert "SCRAPE" not in response.content.decode()
    assert (
        "locked" in response.content.decode().lower()
        or "verrouill" in response.content.decode().lower()
    )
    assert not User.objects.get(pk=user.pk).is_active
    containment = Containment.objects.get(user=user)
    assert containment.patients_before == hard
    assert Alert.objects.filter(kind=AlertKind.CONTAINMENT, account=user).exists()
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.outcome == "contained"
    assert [m.to for m in mail.outbox] == [[officer.email]]
    assert "SCRAPE" not in mail.outbox[0].body
    # Every session of the account is gone.
    for session in (client, other_session):
        again = session.get(reverse("web:patient_detail", args=[patients[0]]))
        assert again.status_code == 302 and reverse("web:login") in again["Location"]
    distinct = Exposure.objects.filter(user=user).values("patient_id").distinct().count()
    assert distinct == hard


def test_a_canary_is_containment_at_first_touch(staff, establishment):
    user, client = staff(Role.PRACTITIONER)
    canary = make_patient(establishment, birth_surname="CANARI", birth_date=DAY, canary=True)
    response = client.get(reverse("web:patient_detail", args=[canary]))
    assert response.status_code == 403 and "CANARI" not in response.content.decode()
    assert not User.objects.get(pk=user.pk).is_active
    alert = Alert.objects.get(account=user)
    assert alert.kind == AlertKind.CANARY and str(alert.patient_id) == canary


def test_a_canary_in_search_results_is_containment(staff, establishment):
    user, client = staff(Role.SECRETARY)
    make_patient(establishment, birth_surname="CANARDIER", birth_date=DAY)
    make_patient(establishment, birth_surname="CANARI", birth_date=DAY, canary=True)
    response = client.post(
        reverse("web:patient_search"), {"surname": "CAN", "birth_date": DAY.isoformat()}
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "CANARDIER" not in body and "CANARI" not in body
    assert not User.objects.get(pk=user.pk).is_active


def test_canaries_cannot_be_told_apart_in_the_database(establishment):
    from carnet.patients.models import Patient

    real = make_patient(establishment)
    canary = make_patient(establishment, canary=True)
    rows = {str(p.id): p for p in Patient.objects.all()}
    assert len(bytes(rows[real].mark)) == len(bytes(rows[canary].mark)) == 16
    field_names = {f.name for f in Patient._meta.get_fields()}
    assert not {"canary", "is_canary"} & field_names


def test_a_treating_doctor_opens_their_patient_without_spending_budget(
    establishment, other_establishment
):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[other_establishment])
    from carnet.staff.models import Practitioner

    from .factories import practitioner_for

    practitioner = practitioner_for(doctor)
    patient = make_patient(
        establishment, treating_doctor=Practitioner.objects.get(pk=practitioner.pk)
    )
    client = signed_in_client(doctor)
    response = client.get(reverse("web:patient_detail", args=[patient]))
    assert response.status_code == 200
    entry = AuditEntry.objects.get(request_id=response["X-Request-ID"])
    assert entry.patients == f"{patient}:treating_doctor"
    assert not Exposure.objects.filter(user=doctor).exists()


def test_a_slow_scraper_is_caught_by_the_weekly_window(staff, establishment):
    user, _ = staff(Role.PRACTITIONER)
    budget = default_budget(Role.PRACTITIONER)
    patients = _patients(establishment, budget["week"][1] + 10)
    start = datetime.datetime(2026, 11, 2, 8, 0, tzinfo=datetime.UTC)
    shown = 0
    for index, patient in enumerate(patients):
        # Three patients a working day, well under the hourly and daily limits.
        moment = start + datetime.timedelta(days=index // 3, hours=index % 3)
        with time_machine.travel(moment, tick=False):
            # A fresh sign-in each day: idle sessions end, the budget does not.
            client = signed_in_client(user)
            session = client.session
            session[STEP_UP_SESSION_KEY] = moment.timestamp() + 3600
            session.save()
            response = client.get(reverse("web:patient_detail", args=[patient]))
        if response.status_code != 200:
            break
        shown += 1
    assert shown == budget["week"][1]
    assert response.status_code == 403
    assert "week" in Containment.objects.get(user=user).reason


def test_searches_that_find_nobody_are_counted(staff, establishment):
    """Guessing names and birth dates by the dozen is stopped at the enumeration bar (wide:
    a real desk misses often; see bench/workday), inside the request that crosses it."""
    user, client = staff(Role.SECRETARY)
    _stepped_up(client)
    for attempt in range(ENUMERATION_BAR["hour"] + 10):
        response = client.post(
            reverse("web:patient_search"),
            {"surname": f"NOBODY{attempt}", "birth_date": DAY.isoformat()},
        )
        if response.status_code != 200:
            break
    assert response.status_code == 403
    assert "found nobody" in Containment.objects.get(user=user).reason
    assert attempt == ENUMERATION_BAR["hour"]


def test_the_administrator_sees_no_patient_at_all(staff, establishment):
    user, client = staff(Role.ADMINISTRATOR)
    patients = _patients(establishment, 3)
    for patient in patients:
        assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 403
    assert (
        client.post(
            reverse("web:patient_search"), {"surname": "SCR", "birth_date": "2000-01-01"}
        ).status_code
        == 403
    )
    assert not Exposure.objects.filter(user=user).exists()
    shown = AuditEntry.objects.filter(actor_id=user.pk, outcome="allowed").exclude(patients="")
    assert not shown.exists()


def test_a_locked_user_signing_in_again_is_told_whom_to_contact(establishment):
    user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    User.objects.filter(pk=user.pk).update(is_active=False)
    client = signed_in_client(user)
    response = client.post(
        reverse("web:login"), {"username": user.username, "password": "correct-horse-battery"}
    )
    assert "security officer" in response.content.decode()
    wrong = client.post(
        reverse("web:login"), {"username": user.username, "password": "wrong-password-here"}
    )
    assert "security officer" not in wrong.content.decode()


def test_only_a_care_relationship_can_be_shared(establishment):
    from .factories import practitioner_for

    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    practitioner = practitioner_for(doctor)
    colleague = UserFactory(role=Role.NURSE, establishments=[establishment])
    patient = make_patient(establishment, treating_doctor=practitioner, birth_surname="PARTAGE")
    stranger = make_patient(establishment, birth_surname="INCONNU")
    client = signed_in_client(doctor)
    page = client.get(reverse("web:patient_detail", args=[patient]))
    assert page.context["opened_by"] == "treating_doctor" and page.context["shareable"]
    client.post(
        reverse("web:patient_share", args=[patient]),
        {"colleague": colleague.pk, "days": 3, "reason": "Avis infirmier"},
    )
    nurse = signed_in_client(colleague)
    opened = nurse.get(reverse("web:patient_detail", args=[patient]))
    assert opened.status_code == 200 and opened.context["opened_by"] == "share"
    assert not Exposure.objects.filter(user=colleague).exists()
    # A patient seen outside any relationship cannot be passed on to escape the budget.
    refused = client.post(
        reverse("web:patient_share", args=[stranger]),
        {"colleague": colleague.pk, "days": 3, "reason": "Blanchiment"},
    )
    assert refused.status_code == 403
    assert (
        nurse.get(reverse("web:patient_detail", args=[stranger])).context["opened_by"] == "outside"
    )


def test_a_contained_account_is_refused_at_its_next_request_with_every_cache_warm(establishment):
    """The account works from two browsers and an app's token, long enough that every cache of
    the process is warm (keyring, blind indexes, canary marks, audit key, primed data keys);
    one canary touched in one browser, and the very next request of each way in is refused,
    with nothing of the patient in it."""
    from carnet.guard import relationships

    from .fhir_clients import smart

    user = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    first, second = signed_in_client(user), signed_in_client(user)
    token = smart.user_token(first, smart.app(), "user/*.cruds")
    patients = [make_patient(establishment, birth_surname=f"CHAUD{c}") for c in "ABC"]
    relationships.relate_many([(p, user.pk, "appointment") for p in patients], source="test")
    canary = make_patient(establishment, birth_surname="CANARI", birth_date=DAY, canary=True)
    for _ in range(3):
        for n, patient in enumerate(patients):
            for browser in (first, second):
                page = browser.get(reverse("web:patient_detail", args=[patient]))
                assert f"CHAUD{'ABC'[n]}" in page.content.decode()
            read = API.get(f"/fhir/Patient/{patient}", **smart.bearer(token))
            assert read.status_code == 200 and f"CHAUD{'ABC'[n]}" in read.content.decode()

    touched = first.get(reverse("web:patient_detail", args=[canary]))
    assert touched.status_code == 403

    for browser in (first, second):
        page = browser.get(reverse("web:patient_detail", args=[patients[0]]))
        assert page.status_code in (302, 403) and "CHAUDA" not in page.content.decode()
    read = API.get(f"/fhir/Patient/{patients[0]}", **smart.bearer(token))
    assert read.status_code == 401 and "CHAUDA" not in read.content.decode()
    assert not User.objects.get(pk=user.pk).is_active
