"""A step-up keeps the user's place: a search or a booking posted past the soft limit comes back
as the confirmation, carrying what was posted, and is posted again once confirmed; the
caller's details are not typed twice. Nothing of the patients leaves before the confirmation."""

import datetime

import pytest
from django.urls import reverse

from carnet.guard.policy import Role, default_budget

from .conftest import signed_in_client
from .factories import UserFactory, make_patient, totp_code

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"}


def _patients(establishment, count):
    return [
        make_patient(
            establishment,
            birth_surname=f"CHERCHE{chr(65 + n)}",
            birth_date=datetime.date(1950, 1, 1) + datetime.timedelta(days=n),
        )
        for n in range(count)
    ]


def test_a_search_past_the_soft_limit_is_confirmed_then_replayed(establishment):
    soft = default_budget(Role.SECRETARY)["hour"][0]
    _patients(establishment, soft + 1)
    user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    client = signed_in_client(user)
    for n in range(soft):
        day = (datetime.date(1950, 1, 1) + datetime.timedelta(days=n)).isoformat()
        client.post(reverse("web:patient_search"), {"surname": "CHER", "birth_date": day})
    last_day = (datetime.date(1950, 1, 1) + datetime.timedelta(days=soft)).isoformat()
    asked = client.post(
        reverse("web:patient_search"), {"surname": "CHER", "birth_date": last_day}, **HTMX
    )
    body = asked.content.decode()
    # The confirmation, in place, with the criteria kept, and no patient.
    assert asked.status_code == 200 and 'name="token"' in body and "<html" not in body
    assert 'name="replay__surname" value="CHER"' in body
    assert f"CHERCHE{chr(65 + soft)}" not in body
    confirmed = client.post(
        reverse("web:step_up"),
        {
            "reason": "Appels du matin",
            "token": totp_code(user),
            "next": reverse("web:patient_search"),
            "target": "results",
            "replay__surname": "CHER",
            "replay__birth_date": last_day,
        },
        **HTMX,
    )
    replay = confirmed.content.decode()
    assert 'hx-trigger="load"' in replay and 'name="birth_date" value="' + last_day in replay
    # The replay itself: the same search, now answered.
    again = client.post(
        reverse("web:patient_search"), {"surname": "CHER", "birth_date": last_day}, **HTMX
    )
    assert f"CHERCHE{chr(65 + soft)}" in again.content.decode()


def test_a_wrong_code_keeps_what_was_posted(establishment):
    user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    client = signed_in_client(user)
    wrong = "000000" if totp_code(user) != "000000" else "111111"
    page = client.post(
        reverse("web:step_up"),
        {
            "reason": "Appels",
            "token": wrong,
            "next": reverse("web:patient_search"),
            "replay__surname": "CHER",
        },
    ).content.decode()
    assert 'name="replay__surname" value="CHER"' in page
    assert "field-error" in page


def test_next_never_leaves_the_site(establishment):
    user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    client = signed_in_client(user)
    response = client.post(
        reverse("web:step_up"),
        {"reason": "x", "token": totp_code(user), "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
