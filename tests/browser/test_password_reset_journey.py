"""A patient who forgot the password, in a real browser: from the sign-in page, asks for a
link, follows the one in the message, chooses a new password and signs in with it."""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from carnet.portal import reset

from ..factories import EstablishmentFactory, make_patient
from ..test_portal import portal_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "elise.giraud@example.fr"
NEW_PASSWORD = "un autre mot de passe bien long"


def test_a_patient_chooses_a_new_password_from_the_link_sent(live_server, page, shoot):
    establishment = EstablishmentFactory(name="Hôpital Saint-Luc")
    patient_id = make_patient(establishment, birth_surname="GIRAUD", first_names="Élise")
    portal_client(establishment, patient_id, email=EMAIL)
    base = live_server.url
    mail.outbox.clear()

    page.goto(f"{base}/portal/login/")
    page.click("a[href='/portal/password-reset/']")
    page.fill("input[name=email]", EMAIL)
    shoot("portal-reset-01-ask")
    page.click("form:has(input[name=email]) button[type=submit]")
    page.wait_for_url(f"{base}/portal/password-reset/sent/")
    expect(page.locator(".reset-sent")).to_be_visible()
    shoot("portal-reset-02-sent")

    reset.wait_for_messages()
    (message,) = mail.outbox
    path = re.search(r"/portal/password-reset/[\w-]+/", message.body).group(0)
    page.goto(f"{base}{path}")
    page.wait_for_url(f"{base}/portal/password-reset/new/")
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    shoot("portal-reset-03-new")
    page.click("form:has(input[name=new_password1]) button[type=submit]")
    page.wait_for_url(f"{base}/portal/login/")

    page.fill("input[name=username]", EMAIL)
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click("form:has(input[name=username]) button[type=submit]")
    page.wait_for_url(f"{base}/portal/")
    expect(page.locator("h1")).to_contain_text("GIRAUD")

    # The link was spent: following it again says so.
    page.goto(f"{base}{path}")
    expect(page.locator("a[href='/portal/password-reset/']")).to_be_visible()
    shoot("portal-reset-04-spent")
