"""A secretary's first day, in a real browser: first sign-in with TOTP enrolment, search a
patient, open the identity page, edit it, see a field error (and nothing saved); and a wrong
second-factor code that does not let anyone in.

Selectors use names, ids and URLs, never visible text: the pages are French by default and
their translations change, the form fields do not."""

import base64
import datetime
import re
import time
import uuid

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from carnet.guard.policy import Role
from carnet.staff import enrolment

from ..factories import EstablishmentFactory, UserFactory, make_patient, totp_device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Un-mot-de-passe-assez-long"
BIRTH_DATE = datetime.date(1980, 5, 17)


def _secretary(establishment):
    user = UserFactory(
        username="c.martin",
        first_name="Camille",
        last_name="Martin",
        role=Role.SECRETARY,
        establishments=[establishment],
    )
    user.set_password(PASSWORD)
    user.save()
    # Made by the installation's operator: the second factor is enrolled at first sign-in.
    enrolment.issue_at_sign_in(user)
    return user


def _code(key: bytes, *, at: float | None = None) -> str:
    totp = TOTP(key)
    if at is not None:
        totp.time = at
    return f"{totp.token():06d}"


def _current_code(secret: str) -> str:
    """The code an authenticator app shows now, from the secret as the page prints it."""
    return _code(base64.b32decode(secret.replace(" ", "")))


def _wait_for_htmx(page) -> None:
    expect(page.locator(".htmx-request")).to_have_count(0)


def _sign_in_with_password(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=username]) button[type=submit]")


def test_first_sign_in_search_open_edit_and_field_error(page, live_server, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    user = _secretary(establishment)
    patient_id = make_patient(establishment)
    # Another match for the same criteria, and a namesake born another day who must not appear.
    make_patient(establishment, birth_surname="DURANDEAU", first_names="Jeanne", sex="F")
    make_patient(establishment, first_names="Paul", sex="M", birth_date=datetime.date(1975, 1, 2))
    base = live_server.url

    # Password, then the enrolment page with its QR code and secret.
    page.goto(f"{base}/login/")
    shoot("01-login")
    _sign_in_with_password(page, base, user.username)
    page.wait_for_url(f"{base}/login/enrol/")
    assert page.locator(".qr svg").is_visible()
    secret = page.inner_text("#totp-secret").strip()
    assert re.fullmatch(r"[A-Z2-7 ]+", secret)
    shoot("02-enrol")
    page.fill("input[name=token]", _current_code(secret))
    page.click("form:has(input[name=token]) button[type=submit]")

    # The dashboard, signed in with both factors.
    page.wait_for_url(f"{base}/")
    assert page.locator("nav.sidenav a[href='/patients/']").is_visible()
    assert user.get_full_name() in page.inner_text("header")
    shoot("03-dashboard")

    # Search by surname prefix and birth date; htmx swaps the results in place.
    page.click("nav.sidenav a[href='/patients/']")
    page.wait_for_url(f"{base}/patients/")
    page.fill("input[name=surname]", "dur")
    page.fill("input[name=birth_date]", BIRTH_DATE.isoformat())
    page.click("form.search-form button[type=submit]")
    rows = page.locator("#results table tbody tr")
    expect(rows).to_have_count(2)
    _wait_for_htmx(page)  # typing may have started a search of its own
    assert "Paul" not in page.inner_text("#results")
    # The criteria stay out of the address bar (history, proxies, access logs).
    assert page.url == f"{base}/patients/"
    shoot("04-search-results")

    # Open the identity page from its row.
    page.click(f"#results a[href='/patients/{patient_id}/']")
    page.wait_for_url(f"{base}/patients/{patient_id}/")
    assert "DURAND" in page.inner_text("h1")
    assert "Marie Louise" in page.inner_text("main")
    assert "69002 Lyon" in page.inner_text("main")
    shoot("05-identity")

    # Edit it: a new city is saved and shown.
    page.click(f"a[href='/patients/{patient_id}/edit/']")
    page.wait_for_url(f"{base}/patients/{patient_id}/edit/")
    assert page.input_value("input[name=city]") == "Lyon"
    shoot("06-edit-form")
    # A date input only takes ISO dates: a French "17/05/1980" would show (and send) nothing.
    assert page.input_value("input[name=birth_date]") == BIRTH_DATE.isoformat()
    page.fill("input[name=city]", "Villeurbanne")
    page.fill("input[name=postal_code]", "69100")
    page.click("form:has(input[name=city]) button[type=submit]")
    page.wait_for_url(f"{base}/patients/{patient_id}/")
    assert page.locator(".messages .notice").is_visible()
    assert "69100 Villeurbanne" in page.inner_text("main")
    shoot("07-identity-saved")

    # Edit again with a bad postal code: the error sits next to the field, nothing is saved.
    page.click(f"a[href='/patients/{patient_id}/edit/']")
    page.wait_for_url(f"{base}/patients/{patient_id}/edit/")
    page.fill("input[name=postal_code]", "691")
    page.fill("input[name=city]", "Lyon 9e")
    page.click("form:has(input[name=city]) button[type=submit]")
    error = page.locator(".field:has(input[name=postal_code]) .field-error")
    error.wait_for()
    assert error.is_visible()
    assert page.locator(".field:has(input[name=city]) .field-error").count() == 0
    assert page.locator(".form-errors").is_visible()
    # What was typed is kept, so the secretary corrects only the wrong field.
    assert page.input_value("input[name=postal_code]") == "691"
    assert page.input_value("input[name=city]") == "Lyon 9e"
    shoot("08-edit-field-error")

    page.goto(f"{base}/patients/{patient_id}/")
    main = page.inner_text("main")
    assert "69100 Villeurbanne" in main and "Lyon 9e" not in main

    # An identity that does not exist (or is not open to her): a plain page, a way back.
    response = page.goto(f"{base}/patients/{uuid.uuid4()}/")
    assert response is not None and response.status == 404
    assert page.locator("main a[href='/']").is_visible()
    shoot("09-not-found")


def test_a_wrong_second_factor_code_does_not_let_the_user_in(page, live_server, shoot):
    establishment = EstablishmentFactory()
    user = _secretary(establishment)
    device = totp_device(user)
    base = live_server.url

    _sign_in_with_password(page, base, user.username)
    page.wait_for_url(f"{base}/login/verify/")
    shoot("10-verify")

    # A code that is none of those the device accepts now (its tolerance is one step each way).
    now = time.time()
    accepted = {_code(device.bin_key, at=now + d * device.step) for d in (-2, -1, 0, 1, 2)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)
    page.fill("input[name=token]", wrong)
    page.click("form:has(input[name=token]) button[type=submit]")

    error = page.locator(".field:has(input[name=token]) .field-error")
    error.wait_for()
    assert error.is_visible()
    assert page.url.startswith(f"{base}/login/verify/")
    assert page.locator("nav.sidenav").count() == 0
    shoot("11-verify-wrong-code")

    # The staff pages still send the half-signed-in user back to sign in.
    page.goto(f"{base}/patients/")
    assert page.locator("input[name=surname]").count() == 0
    assert page.locator("input[name=token], input[name=username]").count() == 1

    # Someone without their phone can still sign out and leave no half-open session.
    page.click("header form[action='/logout/'] button[type=submit]")
    page.wait_for_url(f"{base}/login/")
    page.goto(f"{base}/login/verify/")
    page.wait_for_url(f"{base}/login/")
