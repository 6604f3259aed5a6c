"""Add to calendar: an appointment as an iCalendar file, when and where only unless the
patient ticks the practitioner or the motive; another patient's appointment gives nothing."""

import datetime

import pytest
import time_machine
from django.test import Client
from icalendar import Calendar

from carnet.guard.policy import Role

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for
from .test_portal import NOW, PARIS, _book_as_desk, portal_client

WHEN = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=PARIS)


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


@pytest.fixture
def telling(online):
    """A consultation whose motive and agenda tell a diagnosis."""
    online.motive = "Suivi oncologique"
    online.save(update_fields=["motive"])
    online.agenda.name = "Dr Lefèvre, oncologue"
    online.agenda.save(update_fields=["name"])
    return online


def _event(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert response["Content-Disposition"].startswith("attachment;")
    (event,) = Calendar.from_ical(response.content).walk("VEVENT")
    return event


@pytest.mark.django_db
def test_the_calendar_file_says_when_and_where_and_nothing_of_health(
    establishment, patient, telling, frozen_now
):
    online = telling
    appointment = _book_as_desk(establishment, online, patient, WHEN)
    client = portal_client(establishment, patient)
    event = _event(client.get(f"/portal/appointments/{appointment.pk}/calendar.ics"))
    assert event.decoded("dtstart") == WHEN
    assert event.decoded("dtend") == appointment.ends_at
    assert establishment.name in str(event["location"])
    assert str(event["status"]) == "CONFIRMED" and str(event["class"]) == "PRIVATE"
    text = client.get(f"/portal/appointments/{appointment.pk}/calendar.ics").content.decode()
    assert online.motive not in text and online.agenda.name not in text
    assert "DURAND" not in text


@pytest.mark.django_db
def test_the_patient_may_add_the_practitioner_and_the_motive(
    establishment, patient, telling, frozen_now
):
    online = telling
    appointment = _book_as_desk(establishment, online, patient, WHEN)
    client = portal_client(establishment, patient)
    url = f"/portal/appointments/{appointment.pk}/calendar.ics"
    event = _event(client.get(url + "?with=practitioner&with=motive&with=birth_date"))
    description = str(event["description"])
    assert online.motive in description and online.agenda.name in description
    only_who = str(_event(client.get(url + "?with=practitioner"))["description"])
    assert online.agenda.name in only_who and online.motive not in only_who
    page = client.get(f"/portal/appointments/{appointment.pk}/").content.decode()
    assert "calendar.ics" in page


@pytest.mark.django_db
def test_another_patients_appointment_gives_no_calendar_file(
    establishment, patient, online, frozen_now
):
    victim = make_patient(establishment, birth_surname="SECRETNOM", first_names="Victime")
    theirs = _book_as_desk(establishment, online, victim, WHEN)
    attacker = portal_client(establishment, patient)
    response = attacker.get(f"/portal/appointments/{theirs.pk}/calendar.ics")
    assert response.status_code == 404 and b"BEGIN:VCALENDAR" not in response.content
    anonymous = Client().get(f"/portal/appointments/{theirs.pk}/calendar.ics")
    assert anonymous.status_code == 302 and "/portal/login/" in anonymous["Location"]
