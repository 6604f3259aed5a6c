"""The guard counts what leaks, not what is harmless, and still stops what leaks: a search that
finds nobody costs only against a wide enumeration bar; a patient one registers is one's own
to care for; a patient found and then booked (admitted, ordered for) within minutes is
explained by that act, within an hourly and daily bound that fake bookings cannot launder
past; the clinic's desk finds the group's patient and books her without a second record."""

import datetime

import pytest
from django.urls import reverse

from carnet.guard.models import CareRelationship, Exposure, RelationshipKind
from carnet.guard.policy import ENUMERATION_BAR, EXPLAINED_AT_MOST, Role, default_budget
from carnet.organisations.models import Establishment
from carnet.patients.models import ExternalIdentifier, Patient
from carnet.scheduling.models import Appointment
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import (
    IDENTITY,
    EstablishmentFactory,
    UserFactory,
    agenda_with_hours,
    make_patient,
    practitioner_for,
)

pytestmark = pytest.mark.django_db


def _day(n):
    return datetime.date(1940, 1, 1) + datetime.timedelta(days=97 * n)


def _next_weekday(hour):
    from django.utils import timezone

    day = timezone.localdate() + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def desk(establishment):
    user = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    return user, signed_in_client(user)


def test_searches_that_find_nobody_never_ask_to_step_up_and_stop_at_the_bar(desk):
    user, client = desk
    bar = ENUMERATION_BAR["hour"]
    for attempt in range(bar):
        response = client.post(
            reverse("web:patient_search"),
            {"surname": f"INCONNU{attempt:03d}", "birth_date": "1971-02-03"},
        )
        assert response.status_code == 200, attempt
    assert User.objects.get(pk=user.pk).is_active
    response = client.post(
        reverse("web:patient_search"), {"surname": "ENCOREUN", "birth_date": "1971-02-03"}
    )
    assert response.status_code == 403
    assert not User.objects.get(pk=user.pk).is_active


def test_a_patient_one_registers_is_not_an_exposure(desk, establishment):
    user, client = desk
    data = {k: v for k, v in IDENTITY.items() if v is not None}
    created = client.post(reverse("web:patient_create"), {**data, "birth_surname": "NOUVELLE"})
    assert created.status_code == 302
    patient = Patient.objects.get()
    for _ in range(3):
        assert client.get(reverse("web:patient_detail", args=[patient.pk])).status_code == 200
    assert not Exposure.objects.filter(user=user).exists()
    assert CareRelationship.objects.filter(
        user=user, patient_id=patient.pk, kind=RelationshipKind.CREATED
    ).exists()


def _find_and_book(client, consultation, patient_id, surname, day, start):
    client.post(reverse("web:patient_search"), {"surname": surname[:4], "birth_date": day})
    return client.post(
        reverse("web:desk_book"),
        {
            "type": consultation.pk,
            "agenda": consultation.agenda_id,
            "start": start.isoformat(),
            "patient": patient_id,
        },
    )


def test_a_patient_found_then_booked_is_explained_by_the_booking(desk, establishment):
    user, client = desk
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor), minutes=15)
    patient = make_patient(establishment, birth_surname="APPELANTE", birth_date=_day(1))
    booked = _find_and_book(client, consultation, patient, "APPELANTE", _day(1), _next_weekday(9))
    assert booked.status_code == 302
    looks = Exposure.objects.filter(user=user, patient_id=patient)
    assert looks.exists()
    assert all(look.explained_by.startswith("appointment:") for look in looks)
    assert CareRelationship.objects.filter(
        user=user, patient_id=patient, kind=RelationshipKind.FOLLOW_UP
    ).exists()
    # Opening her again is care, not an exposure.
    client.get(reverse("web:patient_detail", args=[patient]))
    assert Exposure.objects.filter(user=user, explained_by="").count() == 0


def test_fake_bookings_launder_no_more_than_the_bound(desk, establishment):
    """Booking every patient one looks at explains at most the hourly bound; past it, each
    look counts again, and the hard limit stops the account."""
    user, client = desk
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(
        establishment,
        practitioner_for(doctor),
        minutes=5,
        hours={d: [(datetime.time(8), datetime.time(18))] for d in range(7)},
    )
    bound = EXPLAINED_AT_MOST["hour"]
    hard = default_budget(Role.SECRETARY)["hour"][1]
    start = _next_weekday(8)
    booked = 0
    session = client.session
    from carnet.guard.http import STEP_UP_SESSION_KEY

    session[STEP_UP_SESSION_KEY] = datetime.datetime.now(tz=datetime.UTC).timestamp() + 3600
    session.save()
    for n in range(bound + hard + 5):
        if not User.objects.get(pk=user.pk).is_active:
            break
        patient = make_patient(establishment, birth_surname=f"LAVE{n:03d}", birth_date=_day(n))
        response = _find_and_book(
            client,
            consultation,
            patient,
            f"LAVE{n:03d}",
            _day(n),
            start + datetime.timedelta(minutes=5 * n),
        )
        if response.status_code == 302:
            booked += 1
    assert not User.objects.get(pk=user.pk).is_active
    explained = Exposure.objects.filter(user=user).exclude(explained_by="")
    assert explained.values("patient_id").distinct().count() == bound
    assert Appointment.objects.filter(created_by=user).count() <= bound + hard
    assert booked >= bound


def test_the_clinics_desk_finds_and_books_the_groups_patient_without_a_duplicate(establishment):
    clinic = EstablishmentFactory(group=establishment.group, name="Clinique du groupe")
    stranger_group = EstablishmentFactory(name="Autre groupe")
    patient = make_patient(establishment, birth_surname="HOSPITALIERE", birth_date=_day(3))
    make_patient(stranger_group, birth_surname="HOSPITALIEREX", birth_date=_day(3))
    secretary = UserFactory(role=Role.SECRETARY, establishments=[clinic])
    client = signed_in_client(secretary)
    found = client.post(
        reverse("web:patient_search"), {"surname": "HOSP", "birth_date": _day(3)}
    ).content.decode()
    assert "HOSPITALIERE<" in found and "HOSPITALIEREX" not in found
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[clinic])
    consultation = agenda_with_hours(clinic, practitioner_for(doctor))
    booked = _find_and_book(
        client, consultation, patient, "HOSPITALIERE", _day(3), _next_weekday(9)
    )
    assert booked.status_code == 302
    assert Appointment.objects.filter(patient_id=patient, agenda__establishment=clinic).exists()
    assert Patient.objects.count() == 2
    assert set(
        ExternalIdentifier.objects.filter(patient_id=patient).values_list(
            "establishment_id", flat=True
        )
    ) == {establishment.pk, clinic.pk}
    assert Establishment.objects.count() == 3


def test_the_desk_answers_about_an_appointment_weeks_ahead_without_counting(desk, establishment):
    """A caller asks about her appointment in two months: found and opened by the desk, it is
    the desk's work (bounded like a booking), not an exposure."""
    from django.utils import timezone

    from carnet.guard.relationships import relate_desk_many

    user, client = desk
    patient = make_patient(establishment, birth_surname="ATTENTE", birth_date=_day(7))
    later = timezone.now() + datetime.timedelta(days=60)
    relate_desk_many([(patient, establishment.pk, later, later)], source="appointment:test")
    found = client.post(
        reverse("web:patient_search"), {"surname": "ATTE", "birth_date": _day(7)}
    ).content.decode()
    assert "ATTENTE" in found
    assert client.get(reverse("web:patient_detail", args=[patient])).status_code == 200
    assert not Exposure.objects.filter(user=user, explained_by="").exists()
    assert Exposure.objects.filter(user=user, explained_by="upcoming").exists()
