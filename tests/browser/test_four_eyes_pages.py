"""Asking for more, in a real browser: a secretary past her hourly exposure budget confirms with
her second factor and a reason (step-up); an administrator's new account waits for a security
officer at another desk, who approves with her second factor, and its owner sets her password
and second factor through the link she receives; a bulk export asked by a secretary, approved by the officer, produced
once, downloaded encrypted and opened with the key shown once.

Selectors use names, ids and URLs, never visible text: the pages are French by default and
their translations change, the form fields do not."""

import csv
import datetime
import io
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.audit.models import AuditEntry
from carnet.guard.budgets import exposed_in
from carnet.guard.exports import open_file
from carnet.guard.models import (
    AccessChange,
    ChangeKind,
    ChangeStatus,
    ExportRequest,
    ExportStatus,
)
from carnet.guard.policy import Role, default_budget
from carnet.staff.models import User

from ..factories import EstablishmentFactory, make_patient, totp_device
from .signing import code_from_secret, device_code, sign_in, sign_in_enrolling, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _forget_used_code(user: User) -> None:
    """django-otp takes each time step's code once: the code that signed the user in a moment
    ago would be refused as a replay. Rather than wait up to 30 s for the next one, forget
    which step was last used, so the code the phone shows now is accepted."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1)


def _status_badge(page, user_id: int):
    """The status badge in the account list's row of this account."""
    return page.locator(f"main table.results tbody tr:has(a[href='/accounts/{user_id}/']) .badge")


def test_a_secretary_past_her_soft_limit_confirms_and_goes_on(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account("c.martin", Role.SECRETARY, establishment)
    soft, hard = default_budget(Role.SECRETARY)["hour"]
    assert (soft, hard) == (10, 15)
    patients = [
        make_patient(
            establishment,
            birth_surname=f"PASSANT{chr(65 + n)}",
            first_names="Hélène",
            birth_date=datetime.date(1950, 1, 1) + datetime.timedelta(days=n),
        )
        for n in range(soft + 1)
    ]
    base = live_server.url

    sign_in_enrolling(page, base, secretary)

    # Up to the soft limit, each identity page opens straight away (counted: no care here).
    for n, patient_id in enumerate(patients[:soft]):
        page.goto(f"{base}/patients/{patient_id}/")
        assert page.url == f"{base}/patients/{patient_id}/"
        assert f"PASSANT{chr(65 + n)}" in page.inner_text("h1")
        assert page.locator(".page-head .badge.opened-by.outside").is_visible()

    # One more: the confirmation page, which says where she was going, and no identity.
    last = patients[soft]
    response = page.goto(f"{base}/patients/{last}/")
    assert response is not None and response.ok
    page.wait_for_url(re.compile(re.escape(f"{base}/confirm/") + r"\?next="))
    assert parse_qs(urlsplit(page.url).query)["next"] == [f"/patients/{last}/"]
    assert page.input_value("form:has(textarea[name=reason]) input[name=next]") == (
        f"/patients/{last}/"
    )
    assert f"PASSANT{chr(65 + soft)}" not in page.content()
    assert page.locator("textarea[name=reason]").is_visible()
    assert page.locator("input[name=token]").is_visible()
    shoot("four-eyes-01-step-up")

    # A code without a reason: the error sits next to the field, still nothing shown.
    _forget_used_code(secretary)
    page.fill("input[name=token]", device_code(secretary.totpdevice_set.get()))
    page.click("form:has(textarea[name=reason]) button[type=submit]")
    error = page.locator(".field:has(textarea[name=reason]) .field-error")
    error.wait_for()
    assert error.is_visible()
    assert page.url.startswith(f"{base}/confirm/")
    assert f"PASSANT{chr(65 + soft)}" not in page.content()
    shoot("four-eyes-02-step-up-field-error")

    # A reason and the code her phone shows: back on the identity page she asked for.
    page.fill("textarea[name=reason]", "Relances des rendez-vous de la semaine")
    _forget_used_code(secretary)
    page.fill("input[name=token]", device_code(secretary.totpdevice_set.get()))
    page.click("form:has(textarea[name=reason]) button[type=submit]")
    page.wait_for_url(f"{base}/patients/{last}/")
    assert f"PASSANT{chr(65 + soft)}" in page.inner_text("h1")
    assert "Hélène" in page.inner_text("h1")
    shoot("four-eyes-03-identity-after-step-up")

    # The reason is in the audit log, and all eleven patients are counted against her budget.
    assert AuditEntry.objects.filter(
        actor_id=secretary.pk,
        action="guard.step_up",
        reason="step-up: Relances des rendez-vous de la semaine",
    ).exists()
    assert exposed_in(secretary.pk, since=timezone.now() - datetime.timedelta(hours=1)) == soft + 1
    assert User.objects.get(pk=secretary.pk).is_active


def test_a_new_account_waits_for_the_security_officer(page, other_page, live_server, shoot):
    """The administrator asks (no password: he never knows one), the security officer reads
    who, what and where, and approves with the code of her phone; the new secretary receives
    the one-time link, chooses her password, sets up her second factor, and signs in."""
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    admin = staff_account("a.roux", Role.ADMINISTRATOR, establishment, last_name="Roux")
    officer = staff_account(
        "rssi.garnier", Role.SECURITY_OFFICER, establishment, last_name="Garnier"
    )
    admin_device, officer_device = totp_device(admin), totp_device(officer)
    base = live_server.url

    # The administrator asks for the account through the form.
    sign_in(page, base, admin, admin_device)
    page.click("nav.sidenav a[href='/accounts/']")
    page.wait_for_url(f"{base}/accounts/")
    page.click("main a[href='/accounts/new/']")
    page.wait_for_url(f"{base}/accounts/new/")
    assert page.locator("input[name=password]").count() == 0
    assert page.locator("select[name=role] option[value=security_officer]").count() == 0
    shoot("four-eyes-04-account-form")
    page.fill("input[name=username]", "j.petit")
    page.fill("input[name=first_name]", "Juliette")
    page.fill("input[name=last_name]", "Petit")
    page.fill("input[name=email]", "j.petit@example.fr")
    page.select_option("select[name=role]", Role.SECRETARY)
    page.select_option("select[name=establishment]", str(establishment.pk))
    page.click("form:has(input[name=username]) button[type=submit]")
    page.wait_for_url(f"{base}/accounts/")
    assert page.locator(".messages .notice").is_visible()

    account = User.objects.get(username="j.petit")
    assert account.role == Role.SECRETARY and not account.access_approved
    assert not account.has_usable_password()
    assert list(account.memberships.values_list("establishment_id", flat=True)) == [
        establishment.pk
    ]
    change = AccessChange.objects.get(account=account)
    assert change.kind == ChangeKind.NEW_ACCOUNT and change.status == ChangeStatus.PENDING
    badge = _status_badge(page, account.pk)
    assert badge.count() == 1
    assert "pending" in badge.get_attribute("class").split()
    assert page.locator("main ul.plain-list li .badge.pending").count() == 1
    shoot("four-eyes-05-account-awaiting-approval")

    # The security officer, at another desk, reviews the change and approves it.
    sign_in(other_page, base, officer, officer_device)
    other_page.click("nav.sidenav a[href='/security/']")
    other_page.wait_for_url(f"{base}/security/")
    review = f"a[href='/security/changes/{change.pk}/']"
    assert "j.petit" in other_page.inner_text(f"tr:has({review})")
    shoot("four-eyes-06-console-change-to-approve", on=other_page)
    other_page.click(review)
    other_page.wait_for_url(f"{base}/security/changes/{change.pk}/")
    facts = other_page.inner_text("main")
    assert "j.petit@example.fr" in facts and "Hôpital Saint-Luc" in facts
    shoot("four-eyes-06b-change-details", on=other_page)
    other_page.fill("input[name=note]", "Recrutement confirmé par la DRH")
    _forget_used_code(officer)
    other_page.fill("input[name=token]", device_code(officer_device))
    other_page.click("button[name=decision][value=approve]")
    other_page.wait_for_url(f"{base}/security/")
    assert other_page.locator(".messages .notice.success").is_visible()
    assert other_page.locator(review).count() == 0
    shoot("four-eyes-07-console-change-approved", on=other_page)

    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.decided_by_id == officer.pk
    assert change.note == "Recrutement confirmé par la DRH"
    assert User.objects.get(pk=account.pk).access_approved

    # The administrator reloads the list: approved, the enrolment link is on its way.
    page.reload()
    badge = _status_badge(page, account.pk)
    assert "pending" in badge.get_attribute("class").split()
    assert page.locator("main ul.plain-list").count() == 0
    shoot("four-eyes-08-account-approved")

    # Juliette opens the link from her mailbox: her password, then her second factor.
    (message,) = mail.outbox
    assert message.to == ["j.petit@example.fr"]
    link = re.search(r"(http://\S+/enrol/\?token=\S+)", message.body).group(1)
    newcomer = page.context.browser.new_page()
    newcomer.goto(link.replace(settings.CARNET_SITE_URL.rstrip("/"), base))
    newcomer.wait_for_url(f"{base}/enrol/")
    shoot("four-eyes-08b-enrolment-password", on=newcomer)
    newcomer.fill("input[name=password]", "Bienvenue-au-secretariat-2024")
    newcomer.fill("input[name=again]", "Bienvenue-au-secretariat-2024")
    newcomer.click("form:has(input[name=again]) button[type=submit]")
    secret = newcomer.inner_text("#totp-secret").strip()
    shoot("four-eyes-08c-enrolment-second-factor", on=newcomer)
    newcomer.fill("input[name=token]", code_from_secret(secret))
    newcomer.click("form:has(input[name=token]) button[type=submit]")
    newcomer.wait_for_url(f"{base}/login/")
    newcomer.fill("input[name=username]", "j.petit")
    newcomer.fill("input[name=password]", "Bienvenue-au-secretariat-2024")
    newcomer.click("form:has(input[name=username]) button[type=submit]")
    newcomer.wait_for_url(f"{base}/login/verify/")
    TOTPDevice.objects.filter(user=account).update(last_t=-1)
    newcomer.fill("input[name=token]", code_from_secret(secret))
    newcomer.click("form:has(input[name=token]) button[type=submit]")
    newcomer.wait_for_url(f"{base}/")
    shoot("four-eyes-08d-first-dashboard", on=newcomer)
    # The link is spent.
    again = newcomer.goto(link.replace(settings.CARNET_SITE_URL.rstrip("/"), base))
    assert again is not None and again.status == 410
    newcomer.close()


def test_an_export_asked_approved_produced_and_opened(page, other_page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account("c.martin", Role.SECRETARY, establishment)
    officer = staff_account("rssi.garnier", Role.SECURITY_OFFICER, establishment)
    secretary_device, officer_device = totp_device(secretary), totp_device(officer)
    surnames = ["EXPORTAIN", "EXPORTEAU", "EXPORTIER"]
    patients = [
        make_patient(
            establishment,
            birth_surname=surname,
            birth_date=datetime.date(1961, 3, 1) + datetime.timedelta(days=n),
        )
        for n, surname in enumerate(surnames)
    ]
    # Someone not asked for, who must not be in the file.
    make_patient(establishment, birth_surname="EXPORTOUBLIE")
    base = live_server.url

    # The IPPs, read off each identity page's table of identifiers (one per patient here).
    sign_in(page, base, secretary, secretary_device)
    ipps = []
    for patient_id in patients:
        page.goto(f"{base}/patients/{patient_id}/")
        numbers = page.locator("main section.span-all table.plain tbody td.mono")
        assert numbers.count() == 1
        ipps.append(numbers.inner_text().strip())
    assert len(set(ipps)) == 3 and all(ipps)

    # She asks for the export with a purpose.
    page.click("nav.sidenav a[href='/exports/']")
    page.wait_for_url(f"{base}/exports/")
    page.fill("textarea[name=purpose]", "Courrier de rappel vaccinal")
    page.fill("textarea[name=identifiers]", "\n".join(ipps))
    page.select_option("select[name=fmt]", "csv")
    shoot("four-eyes-09-export-form")
    page.click("form:has(textarea[name=identifiers]) button[type=submit]")
    page.wait_for_url(f"{base}/exports/")
    assert page.locator(".messages .notice").is_visible()
    export = ExportRequest.objects.get()
    assert export.status == ExportStatus.PENDING and export.count == 3
    produce = f"form[action='/exports/{export.pk}/produce/']"
    download = f"a[href='/exports/{export.pk}/file/']"
    assert page.locator("main table.plain tbody tr .badge.pending").count() == 1
    assert page.locator(produce).count() == 0
    shoot("four-eyes-10-export-asked")

    # The security officer approves it in the console.
    sign_in(other_page, base, officer, officer_device)
    other_page.click("nav.sidenav a[href='/security/']")
    other_page.wait_for_url(f"{base}/security/")
    decide = f"form[action='/security/exports/{export.pk}/decide/']"
    assert other_page.locator(decide).is_visible()
    row = other_page.inner_text(f"tr:has({decide})")
    assert "c.martin" in row and "Courrier de rappel vaccinal" in row
    assert not any(surname in other_page.content() for surname in surnames)
    shoot("four-eyes-11-console-export-to-approve", on=other_page)
    _forget_used_code(officer)
    other_page.fill(f"{decide} input[name=token]", device_code(officer_device))
    other_page.click(f"{decide} button[name=decision][value=approve]")
    other_page.wait_for_url(f"{base}/security/")
    assert other_page.locator(".messages .notice").is_visible()
    assert other_page.locator(decide).count() == 0

    # She produces it: the key, shown once.
    page.reload()
    assert page.locator("main table.plain tbody tr .badge.approved").count() == 1
    page.click(f"{produce} button[type=submit]")
    page.wait_for_url(f"{base}/exports/{export.pk}/produce/")
    key = page.inner_text("#export-key").strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}=", key)
    assert not any(surname in page.content() for surname in surnames)
    shoot("four-eyes-12-export-key")

    # The encrypted file, downloaded as the browser would save it.
    with page.expect_download() as started:
        page.click(f"main {download}")
    saved = started.value
    assert saved.suggested_filename == f"carnet-export-{export.pk}.csv.fernet"
    token = Path(saved.path()).read_bytes()
    assert not any(surname.encode() in token for surname in [*surnames, "EXPORTOUBLIE"])

    rows = list(csv.DictReader(io.StringIO(open_file(token, key).decode())))
    assert sorted(row["birth_surname"] for row in rows) == surnames
    assert sorted(row["ipp"] for row in rows) == sorted(ipps)

    # Back on the list: produced, downloadable again, never produced a second time.
    page.goto(f"{base}/exports/")
    assert page.locator("main table.plain tbody tr .badge.produced").count() == 1
    assert page.locator(f"main {download}").is_visible()
    assert page.locator(produce).count() == 0
    shoot("four-eyes-13-export-produced")

    export.refresh_from_db()
    assert export.status == ExportStatus.PRODUCED and export.exported == 3
    assert export.decided_by_id == officer.pk
    assert User.objects.get(pk=secretary.pk).is_active
