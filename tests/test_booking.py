"""Booking: only free slots, never two appointments at once in one agenda — on PostgreSQL 50
concurrent clients race for one slot and exactly one wins — the state machine with its
history, and the care relationship an appointment opens for the practitioner."""

import datetime
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.models import CareRelationship
from carnet.guard.policy import Role
from carnet.scheduling.models import Appointment, AppointmentState
from carnet.scheduling.services import SlotTaken, book_appointment, change_state, move_appointment

from .factories import UserFactory, agenda_with_hours, make_patient, practitioner_for

PARIS = ZoneInfo("Europe/Paris")
SLOT = datetime.datetime(2026, 12, 7, 9, 30, tzinfo=PARIS)
NOW = datetime.datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)


def _desk(establishment, request_id="booking"):
    return Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
        request_id=request_id,
    )


def _book(establishment, consultation, patient, starts_at=SLOT, request_id="booking"):
    actor = _desk(establishment, request_id)
    with transaction.atomic(), boundary(actor, "scheduling.book"):
        return book_appointment(
            actor=actor,
            consultation_type_id=consultation.pk,
            patient_id=patient,
            starts_at=starts_at,
        )


@pytest.fixture
def consultation(establishment):
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    return agenda_with_hours(establishment, practitioner_for(doctor))


@pytest.fixture
def frozen_now():
    import time_machine

    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
def test_a_booking_holds_the_slot_and_opens_the_practitioner(
    establishment, consultation, frozen_now
):
    patient = make_patient(establishment)
    appointment = _book(establishment, consultation, patient)
    assert appointment.state == AppointmentState.BOOKED
    assert appointment.ends_at - appointment.starts_at == datetime.timedelta(minutes=30)
    relation = CareRelationship.objects.get(patient_id=patient, user__isnull=False)
    assert relation.user_id == consultation.agenda.practitioner.user_id
    assert relation.kind == "appointment"
    with pytest.raises(SlotTaken):
        _book(establishment, consultation, make_patient(establishment, birth_surname="AUTRE"))
    # Off the agenda's grid (09:45 is no slot start), and outside opening hours.
    with pytest.raises(ValidationError):
        _book(establishment, consultation, patient, starts_at=SLOT + datetime.timedelta(minutes=15))
    with pytest.raises(ValidationError):
        _book(establishment, consultation, patient, starts_at=SLOT.replace(hour=13))


@pytest.mark.django_db
def test_states_move_along_the_machine_and_cancelling_frees_the_slot(
    establishment, consultation, frozen_now
):
    patient = make_patient(establishment)
    appointment = _book(establishment, consultation, patient)
    actor = _desk(establishment, "change")
    with transaction.atomic(), boundary(actor, "scheduling.change"):
        with pytest.raises(ValidationError):
            change_state(actor=actor, appointment_id=appointment.pk, to_state=AppointmentState.DONE)
        with pytest.raises(ValidationError):
            change_state(
                actor=actor,
                appointment_id=appointment.pk,
                to_state=AppointmentState.CANCELLED_BY_PATIENT,
            )
        change_state(
            actor=actor,
            appointment_id=appointment.pk,
            to_state=AppointmentState.CANCELLED_BY_PATIENT,
            reason="Empêchement",
        )
    history = list(
        Appointment.objects.get(pk=appointment.pk).history.values_list("to_state", flat=True)
    )
    assert history == ["booked", "cancelled_patient"]
    assert (
        not CareRelationship.objects.filter(patient_id=patient, ends_at__isnull=True)
        .exclude(ends_at__lt=datetime.datetime.now(tz=datetime.UTC))
        .filter(kind="appointment", ends_at__gt=NOW)
        .exists()
    )
    # The slot is free again.
    _book(
        establishment,
        consultation,
        make_patient(establishment, birth_surname="SUIVANT"),
        request_id="again",
    )


@pytest.mark.django_db
def test_moving_books_the_new_slot_or_changes_nothing(establishment, consultation, frozen_now):
    first = _book(establishment, consultation, make_patient(establishment))
    other = _book(
        establishment,
        consultation,
        make_patient(establishment, birth_surname="B"),
        starts_at=SLOT.replace(hour=10),
        request_id="b",
    )
    actor = _desk(establishment, "move")
    with pytest.raises(SlotTaken), transaction.atomic(), boundary(actor, "scheduling.move"):
        move_appointment(
            actor=actor, appointment_id=first.pk, starts_at=other.starts_at, reason="Retard"
        )
    assert Appointment.objects.get(pk=first.pk).state == AppointmentState.BOOKED
    with transaction.atomic(), boundary(actor, "scheduling.move"):
        moved = move_appointment(
            actor=actor, appointment_id=first.pk, starts_at=SLOT.replace(hour=11), reason="Retard"
        )
    assert Appointment.objects.get(pk=first.pk).state == AppointmentState.CANCELLED_BY_ESTABLISHMENT
    assert moved.starts_at == SLOT.replace(hour=11)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_clients_race_for_one_slot_and_exactly_one_wins(
    establishment, consultation
):
    import time_machine

    clients = 50 if connection.vendor == "postgresql" else 12
    patients = [
        make_patient(establishment, birth_surname=f"COURSE{chr(65 + n // 26)}{chr(65 + n % 26)}")
        for n in range(clients)
    ]
    start = threading.Barrier(clients)
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        try:
            start.wait(timeout=30)
            _book(establishment, consultation, patients[index], request_id=f"race-{index}")
            result = "booked"
        except SlotTaken:
            result = "taken"
        except Exception as error:  # noqa: BLE001 - reported below
            result = f"error: {type(error).__name__}: {error}"
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    with time_machine.travel(NOW, tick=True):
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert sorted(set(outcomes)) == ["booked", "taken"], outcomes
    assert outcomes.count("booked") == 1 and outcomes.count("taken") == clients - 1
    assert Appointment.objects.filter(holds_slot=True).count() == 1


@pytest.mark.django_db
def test_the_database_itself_refuses_overlapping_appointments(establishment, consultation):
    from django.db import IntegrityError

    from carnet.patients.models import Patient

    patient = Patient.objects.get(pk=make_patient(establishment))
    common = {"agenda": consultation.agenda, "consultation_type": consultation, "patient": patient}
    Appointment.objects.create(
        starts_at=SLOT, ends_at=SLOT + datetime.timedelta(minutes=30), **common
    )
    # Same start: refused everywhere; an overlap with another start: refused by PostgreSQL's
    # exclusion constraint (SQLite relies on the immediate transaction of book_appointment).
    clashes = [SLOT]
    if connection.vendor == "postgresql":
        clashes.append(SLOT + datetime.timedelta(minutes=10))
    for start in clashes:
        with pytest.raises(IntegrityError), transaction.atomic():
            Appointment.objects.create(
                starts_at=start, ends_at=start + datetime.timedelta(minutes=30), **common
            )
    # A cancelled appointment no longer holds its time.
    Appointment.objects.update(holds_slot=False, state=AppointmentState.CANCELLED_BY_PATIENT)
    Appointment.objects.create(
        starts_at=SLOT, ends_at=SLOT + datetime.timedelta(minutes=30), **common
    )


@pytest.mark.django_db
def test_the_desk_sees_the_week_of_its_establishments_appointments_without_budget(
    establishment, other_establishment, consultation, frozen_now
):
    from django.urls import reverse

    from carnet.guard.models import Exposure

    from .conftest import signed_in_client

    soon = make_patient(establishment, birth_surname="BIENTOT")
    later = make_patient(establishment, birth_surname="PLUSTARD")
    _book(establishment, consultation, soon, starts_at=SLOT - datetime.timedelta(days=3))  # Friday
    _book(
        establishment,
        consultation,
        later,
        starts_at=SLOT + datetime.timedelta(days=21),
        request_id="later",
    )
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    client = signed_in_client(secretary)
    near = client.get(reverse("web:patient_detail", args=[soon]))
    assert near.status_code == 200 and near.context["opened_by"] == "appointment"
    far = client.get(reverse("web:patient_detail", args=[later]))
    # An appointment weeks ahead is the desk's work too ("upcoming"): recorded as an explained
    # look, within the explained bound, not counted against the budget.
    assert far.status_code == 200 and far.context["opened_by"] == "upcoming"
    looks = list(Exposure.objects.filter(user=secretary).values_list("patient_id", "explained_by"))
    assert [patient for patient, _ in looks] == [__import__("uuid").UUID(later)]
    assert all(by for _, by in looks)
    # Another establishment's desk gets nothing from these appointments.
    elsewhere = UserFactory(role=Role.SECRETARY, establishments=[other_establishment])
    assert (
        signed_in_client(elsewhere).get(reverse("web:patient_detail", args=[soon])).status_code
        == 404
    )
