"""The patient's access history in a real browser: grouped by day and person, the patient's
own acts apart; "I do not recognise this" on the desk's line raises an alert that the
security officer reads on the console. Selectors use names, classes and URLs, never visible
text (the pages are French by default)."""

import pytest
from django.conf import settings
from playwright.sync_api import expect

from carnet.audit.models import AuditEntry
from carnet.guard.models import Alert, AlertKind
from carnet.guard.policy import Role

from ..conftest import signed_in_client
from ..factories import EstablishmentFactory, UserFactory, make_patient
from ..test_portal import portal_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _with_session(page, base, client):
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        ]
    )


def test_the_patient_reads_the_history_and_reports_a_line_the_officer_sees_it(
    live_server, page, other_page, shoot
):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    patient_id = make_patient(establishment, birth_surname="GIRAUD", first_names="Élise")
    make_patient(establishment, birth_surname="SECRETNOM", first_names="Autre")
    secretary = UserFactory(
        role=Role.SECRETARY, establishments=[establishment], first_name="Sophie", last_name="Morel"
    )
    desk = signed_in_client(secretary)
    for _ in range(2):
        assert desk.get(f"/patients/{patient_id}/").status_code == 200
    patient_client = portal_client(establishment, patient_id, email="elise@example.fr")
    patient_client.get("/portal/")
    base = live_server.url

    _with_session(page, base, patient_client)
    page.goto(f"{base}/portal/history/")
    expect(page.locator(".history-day").first).to_be_visible()
    person = page.locator(".history-person", has_text="Morel")
    expect(person).to_have_count(1)
    expect(person.locator(".history-line")).to_have_count(2)
    # The patient's own acts are apart, folded.
    expect(page.locator("details.history-own")).to_be_visible()
    assert "SECRETNOM" not in page.content()
    shoot("portal-history-01-grouped")

    entry = AuditEntry.objects.filter(actor_id=secretary.pk, action="patients.view").first()
    line = page.locator(f".history-line[data-entry='{entry.id}']")
    line.locator("button.report-button").click()
    page.wait_for_url(f"{base}/portal/history/")
    expect(page.locator(".notice.success")).to_be_visible()
    expect(page.locator(f".history-line[data-entry='{entry.id}'] .badge.reported")).to_be_visible()
    page.click("details.history-own summary")
    expect(page.locator("details.history-own .history-line").first).to_be_visible()
    shoot("portal-history-02-reported")
    alert = Alert.objects.get(kind=AlertKind.PATIENT_REPORT)
    assert alert.account_id == secretary.pk

    officer = UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment])
    _with_session(other_page, base, signed_in_client(officer))
    other_page.goto(f"{base}/security/")
    row = other_page.locator("tr.alert-row.patient_report")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(secretary.username)
    expect(row).to_contain_text(f"{entry.id}")
    assert "GIRAUD" not in other_page.content()
    shoot("portal-history-03-console", on=other_page)
