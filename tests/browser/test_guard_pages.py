"""The guard's pages in a real browser: a practitioner breaks the glass on a patient of another
establishment (refused first without an explanation), the security officer reviews the opening
from the console, and a secretary who opens a canary record is locked out on the spot.

Selectors use names, ids and URLs, never visible text: the pages are French by default and
their translations change, the form fields do not."""

import re

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.guard.models import AccessChange, Alert, AlertKind, BreakGlass, Containment
from carnet.guard.policy import Role
from carnet.staff.models import User

from ..conftest import signed_in_client
from ..factories import (
    EstablishmentFactory,
    make_patient,
    totp_device,
)
from .signing import PASSWORD, device_code, sign_in, sign_in_enrolling, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_practitioner_breaks_the_glass_after_a_refusal(page, other_page, live_server, shoot):
    """A patient known only at another establishment of the group: "not found", the offer to
    break the glass, and, beyond one's own establishments, the opening waits for the security
    officer, who approves it with her second factor."""
    home = EstablishmentFactory(name="Hôpital Saint-Luc")
    elsewhere = EstablishmentFactory(name="Clinique des Tilleuls")
    doctor = staff_account("dr.lefevre", Role.PRACTITIONER, home)
    device = totp_device(doctor)
    patient_id = make_patient(elsewhere, birth_surname="LOINTAIN", first_names="Odile")
    base = live_server.url
    detail_url = f"{base}/patients/{patient_id}/"
    break_glass_path = reverse("web:break_glass", args=[patient_id])

    sign_in(page, base, doctor, device)

    # Known only to another establishment: "not found", with the way to break the glass.
    response = page.goto(detail_url)
    assert response is not None and response.status == 404
    assert "LOINTAIN" not in page.content()
    offer = page.locator(f"main a[href='{break_glass_path}']")
    assert offer.is_visible()
    assert page.locator("main a[href='/']").is_visible()
    shoot("guard-01-not-found-break-glass-offer")

    offer.click()
    page.wait_for_url(f"{base}{break_glass_path}")
    assert page.locator("select[name=reason]").is_visible()
    assert "LOINTAIN" not in page.content()
    shoot("guard-02-break-glass-form")

    # No explanation: the error sits next to the field, and nothing is opened.
    page.select_option("select[name=reason]", "emergency")
    page.fill("input[name=token]", device_code(device, steps_ahead=1))
    page.click("form:has(select[name=reason]) button[type=submit]")
    error = page.locator(".field:has(textarea[name=explanation]) .field-error")
    error.wait_for()
    assert error.is_visible()
    assert page.url == f"{base}{break_glass_path}"
    assert page.input_value("select[name=reason]") == "emergency"
    assert not BreakGlass.objects.exists()
    shoot("guard-03-break-glass-field-error")

    # A reason, an explanation and a fresh code: beyond his establishments, a request.
    page.fill("textarea[name=explanation]", "Arrêt cardiaque aux urgences, patiente inconsciente")
    page.fill("input[name=token]", device_code(device, steps_ahead=1))
    page.click("form:has(select[name=reason]) button[type=submit]")
    page.wait_for_url(f"{base}/")
    assert page.locator(".messages .notice").is_visible()
    assert not BreakGlass.objects.exists()
    shoot("guard-04-break-glass-asked")
    assert page.goto(detail_url).status == 404

    # The security officer approves it, at another desk.
    officer = staff_account("rssi.garnier", Role.SECURITY_OFFICER, home)
    officer_device = totp_device(officer)
    sign_in(other_page, base, officer, officer_device)
    change = AccessChange.objects.get(account=doctor)
    other_page.goto(f"{base}/security/changes/{change.pk}/")
    assert patient_id in other_page.inner_text("main")
    assert "LOINTAIN" not in other_page.content()
    shoot("guard-04b-break-glass-to-approve", on=other_page)
    TOTPDevice.objects.filter(user=officer).update(last_t=-1)
    other_page.fill("input[name=token]", device_code(officer_device))
    other_page.click("button[name=decision][value=approve]")
    other_page.wait_for_url(f"{base}/security/")

    # Now the record opens to him, for a few hours.
    page.goto(detail_url)
    assert "LOINTAIN" in page.inner_text("h1")
    assert "Odile" in page.inner_text("main")
    shoot("guard-04c-identity-after-break-glass")

    opening = BreakGlass.objects.get()
    assert opening.user_id == doctor.pk and str(opening.patient_id) == patient_id
    assert Alert.objects.filter(kind=AlertKind.BREAK_GLASS, account=doctor).count() == 1


def test_the_security_officer_reviews_a_break_glass_opening(page, live_server, shoot):
    home = EstablishmentFactory(name="Hôpital Saint-Luc")
    elsewhere = EstablishmentFactory(name="Clinique des Tilleuls")
    doctor = staff_account("dr.lefevre", Role.PRACTITIONER, home)
    officer = staff_account("rssi.garnier", Role.SECURITY_OFFICER, home)
    # Known at his establishment, but not in his care: its chart opens only by breaking the
    # glass, at once (within one's establishments no approval waits).
    patient_id = make_patient(home, birth_surname="LOINTAIN")
    assert elsewhere.pk != home.pk
    base = live_server.url

    # The doctor's opening, through the same page (outside the browser).
    doctor_client = signed_in_client(doctor)
    opened = doctor_client.post(
        reverse("web:break_glass", args=[patient_id]),
        {
            "reason": "emergency",
            "explanation": "Arrêt cardiaque aux urgences",
            "token": device_code(doctor.totpdevice_set.get()),
        },
    )
    assert opened.status_code == 302
    opening = BreakGlass.objects.get()
    alert = Alert.objects.get(kind=AlertKind.BREAK_GLASS)

    # The officer's first sign-in: password, then enrolment of the second factor.
    sign_in_enrolling(page, base, officer)

    page.click("nav.sidenav a[href='/security/']")
    page.wait_for_url(f"{base}/security/")
    acknowledge = f"form[action='/security/alerts/{alert.pk}/acknowledge/']"
    review = f"form[action='/security/break-glass/{opening.pk}/review/']"
    assert page.locator(acknowledge).is_visible()
    assert page.locator(review).is_visible()
    main = page.inner_text("main")
    assert doctor.username in main and "Arrêt cardiaque aux urgences" in main
    assert "LOINTAIN" not in page.content()  # ids only, never an identity
    shoot("guard-05-console-to-review")

    page.fill(f"{review} input[name=note]", "Urgence vitale confirmée par le service")
    page.click(f"{review} button[name=verdict][value=justified]")
    page.wait_for_url(f"{base}/security/")
    assert page.locator(".messages .notice").is_visible()
    assert page.locator(review).count() == 0
    assert page.locator(acknowledge).is_visible()  # reviewing is not acknowledging the alert
    shoot("guard-06-console-reviewed")

    opening.refresh_from_db()
    assert opening.review_verdict == "justified" and opening.reviewed_by_id == officer.pk
    assert opening.review_note == "Urgence vitale confirmée par le service"


def test_a_secretary_who_opens_a_canary_is_locked_out(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    secretary = staff_account("c.martin", Role.SECRETARY, establishment)
    device = totp_device(secretary)
    canary_id = make_patient(
        establishment, canary=True, birth_surname="BERTHIER", first_names="Lucienne"
    )
    base = live_server.url

    sign_in(page, base, secretary, device)

    response = page.goto(f"{base}/patients/{canary_id}/")
    assert response is not None and response.status == 403
    assert page.locator("main .contained[role=alert]").is_visible()
    content = page.content()
    assert "BERTHIER" not in content and "Lucienne" not in content
    shoot("guard-07-account-locked")

    # The account is locked, every session ended: a reload asks to sign in again.
    page.reload()
    page.wait_for_url(re.compile(re.escape(f"{base}/login/") + r"(\?.*)?$"))
    assert page.locator("input[name=username]").is_visible()
    assert page.locator("nav.sidenav").count() == 0
    shoot("guard-08-after-lock-sign-in")

    assert not User.objects.get(pk=secretary.pk).is_active
    assert Containment.objects.filter(user=secretary, released_at__isnull=True).exists()
    assert Alert.objects.filter(kind=AlertKind.CANARY, account=secretary).exists()

    # Signing in again does not get past the lock.
    page.fill("input[name=username]", secretary.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=username]) button[type=submit]")
    expect(page.locator("input[name=username]")).to_be_visible()
    assert page.locator("nav.sidenav").count() == 0
