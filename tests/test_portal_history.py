"""The patient's access history, grouped so a patient reads it (by day, by person, their own
acts apart), and "I do not recognise this": an alert on the security officer's console. Only a
line of one's own history can be reported, once; another patient's lines give nothing."""

import re

import pytest
from django.core import mail
from django.db import transaction

from carnet.audit.chain import Record, append
from carnet.audit.models import AuditEntry, AuditSubject
from carnet.guard.models import AccessReport, Alert, AlertKind
from carnet.guard.policy import Role
from carnet.guard.reports import REPORTS_PER_DAY

from .factories import make_patient
from .test_portal import portal_client


def _entry_ids(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-entry="(\d+)"', body)]


def _desk_opens(staff, patient_id):
    user, desk = staff(Role.SECRETARY)
    assert desk.get(f"/patients/{patient_id}/").status_code == 200
    return user


@pytest.mark.django_db
def test_the_history_groups_by_day_and_person_with_the_patients_own_acts_apart(
    establishment, patient, staff
):
    secretary = _desk_opens(staff, patient)
    client = portal_client(establishment, patient)
    client.get("/portal/")
    body = client.get("/portal/history/").content.decode()
    assert "history-day" in body and "history-person" in body
    others, own = body.split('class="card history-own"')
    assert secretary.last_name in others and "Opened your identity" in others
    # The patient's own sign-up and visits are apart, with no report button.
    assert "Your patient space" in own and "I do not recognise this" not in own
    assert len(_entry_ids(others)) >= 1


@pytest.mark.django_db
def test_a_line_not_recognised_alerts_the_security_officer_on_the_console(
    establishment, patient, staff, django_capture_on_commit_callbacks
):
    secretary = _desk_opens(staff, patient)
    client = portal_client(establishment, patient)
    entry_id = AuditEntry.objects.get(actor_id=secretary.pk, action="patients.view").id
    assert entry_id in _entry_ids(client.get("/portal/history/").content.decode())
    officer, console = staff(Role.SECURITY_OFFICER)
    officer.email = "rssi@example.fr"
    officer.save(update_fields=["email"])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/portal/history/{entry_id}/report/", follow=True)
    assert "security officer is alerted" in response.content.decode()
    alert = Alert.objects.get(kind=AlertKind.PATIENT_REPORT)
    assert alert.account_id == secretary.pk and str(alert.patient_id) == patient
    assert f"audit entry {entry_id}" in alert.detail
    # Ids only in the alert and the e-mail: no patient name.
    assert "DURAND" not in alert.detail
    assert len(mail.outbox) == 1 and "DURAND" not in mail.outbox[0].body
    # The line now says it is reported; a second report raises nothing more.
    assert "Reported to the security officer" in client.get("/portal/history/").content.decode()
    client.post(f"/portal/history/{entry_id}/report/")
    assert Alert.objects.filter(kind=AlertKind.PATIENT_REPORT).count() == 1
    # The security officer sees it on the console page.
    page = console.get("/security/").content.decode()
    assert "Access not recognised by the patient" in page and secretary.username in page
    # The report itself is in the audit log, naming the patient's record.
    report = AuditEntry.objects.filter(action="portal.history_report", outcome="allowed").first()
    assert AuditSubject.objects.filter(entry_id=report.id, patient_id=patient).exists()


@pytest.mark.django_db
def test_a_patient_cannot_see_or_report_another_patients_lines(establishment, patient, staff):
    victim = make_patient(establishment, birth_surname="SECRETNOM", first_names="Victime")
    secretary = _desk_opens(staff, victim)
    victim_client = portal_client(establishment, victim, email="victim@example.fr")
    victim_lines = _entry_ids(victim_client.get("/portal/history/").content.decode())
    assert victim_lines
    attacker = portal_client(establishment, patient)
    body = attacker.get("/portal/history/").content.decode()
    assert secretary.last_name not in body and "SECRETNOM" not in body
    assert not set(victim_lines) & set(_entry_ids(body))
    for entry_id in victim_lines:
        response = attacker.post(f"/portal/history/{entry_id}/report/")
        assert response.status_code == 404
    # An entry that exists but names nobody, and one that does not exist, answer the same.
    no_patient = AuditEntry.objects.exclude(id__in=AuditSubject.objects.values("entry_id")).first()
    assert attacker.post(f"/portal/history/{no_patient.id}/report/").status_code == 404
    assert attacker.post("/portal/history/999999999/report/").status_code == 404
    assert not Alert.objects.filter(kind=AlertKind.PATIENT_REPORT).exists()
    assert not AccessReport.objects.exists()


@pytest.mark.django_db
def test_a_patient_does_not_report_their_own_acts_nor_by_get(establishment, patient):
    client = portal_client(establishment, patient)
    client.get("/portal/")
    own = AuditEntry.objects.filter(action="portal.home", outcome="allowed").latest("id")
    assert client.post(f"/portal/history/{own.id}/report/").status_code == 404
    assert client.get(f"/portal/history/{own.id}/report/").status_code == 405
    assert not Alert.objects.filter(kind=AlertKind.PATIENT_REPORT).exists()


@pytest.mark.django_db
def test_reports_are_limited_per_day(establishment, patient, staff):
    for _ in range(REPORTS_PER_DAY + 1):
        _desk_opens(staff, patient)
    client = portal_client(establishment, patient)
    body = client.get("/portal/history/").content.decode()
    others = body.split('class="card history-own"')[0]
    entries = _entry_ids(others)
    assert len(entries) > REPORTS_PER_DAY
    for entry_id in entries[:REPORTS_PER_DAY]:
        client.post(f"/portal/history/{entry_id}/report/")
    response = client.post(f"/portal/history/{entries[REPORTS_PER_DAY]}/report/", follow=True)
    assert "reported many lines today" in response.content.decode()
    assert Alert.objects.filter(kind=AlertKind.PATIENT_REPORT).count() == REPORTS_PER_DAY


@pytest.mark.django_db
def test_an_officer_whose_own_access_is_reported_cannot_close_the_alert(
    establishment, patient, staff
):
    officer, officer_client = staff(Role.SECURITY_OFFICER)
    # An access by the officer's own account, as the audit log records any access.
    with transaction.atomic():
        append(
            Record(
                actor_id=officer.pk,
                actor=officer.username,
                role=Role.SECURITY_OFFICER,
                action="patients.view",
                outcome="allowed",
                request_id="test",
                patients={patient: "outside"},
            )
        )
    entry = AuditEntry.objects.get(actor_id=officer.pk, action="patients.view")
    client = portal_client(establishment, patient)
    assert entry.id in _entry_ids(client.get("/portal/history/").content.decode())
    client.post(f"/portal/history/{entry.id}/report/")
    alert = Alert.objects.get(kind=AlertKind.PATIENT_REPORT)
    assert alert.account_id == officer.pk
    officer_client.post(f"/security/alerts/{alert.id}/acknowledge/")
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    _, other_officer = staff(Role.SECURITY_OFFICER)
    other_officer.post(f"/security/alerts/{alert.id}/acknowledge/")
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None
    assert "Access not recognised" not in other_officer.get("/security/").content.decode()
