"""Answers that say whether a person exists cost what a search costs, and the budget has a
month and a year: a secretary who edits a decoy record into each guess and reads the
look-alike warning, or who tries a NIR on a new record, is counted and stopped; a scraper who
takes two patients a day for a year is stopped within the month, one every few days within
the year, at a few dozen patients."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from stdnum.fr import nir as stdnum_nir

from carnet.guard.http import STEP_UP_SESSION_KEY
from carnet.guard.models import Exposure
from carnet.guard.policy import Role, default_budget
from carnet.patients.models import Patient
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import IDENTITY, UserFactory, make_patient

pytestmark = pytest.mark.django_db


def _determined(client, now=None):
    session = client.session
    now = now or datetime.datetime.now(tz=datetime.UTC)
    session[STEP_UP_SESSION_KEY] = now.timestamp() + 3600
    session.save()


def _form(**values):
    data = {k: v for k, v in IDENTITY.items() if v is not None}
    data.update(values)
    return data


def test_guessing_through_the_look_alike_warning_is_counted_and_stopped(establishment):
    targets = [
        make_patient(
            establishment,
            birth_surname=f"CIBLE{chr(65 + n)}",
            first_names="Jeanne",
            birth_date=datetime.date(1950, 1, 1) + datetime.timedelta(days=400 * n),
        )
        for n in range(25)
    ]
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    client = signed_in_client(secretary)
    _determined(client)
    client.post(reverse("web:patient_create"), _form(birth_surname="LEURRE"))
    decoy = Patient.objects.exclude(id__in=targets).get()
    confirmed = 0
    for n in range(len(targets)):
        if not User.objects.get(pk=secretary.pk).is_active:
            break
        _determined(client)
        guess = _form(
            birth_surname=f"CIBLE{chr(65 + n)}",
            first_names="Jeanne",
            birth_date=(datetime.date(1950, 1, 1) + datetime.timedelta(days=400 * n)).isoformat(),
            version=Patient.objects.get(pk=decoy.pk).version,
        )
        client.post(reverse("web:patient_edit", args=[decoy.pk]), guess)
        page = client.get(reverse("web:patient_detail", args=[decoy.pk]))
        if "looks like this one" in page.content.decode():
            confirmed += 1
    hard = default_budget(Role.SECRETARY)["hour"][1]
    assert not User.objects.get(pk=secretary.pk).is_active
    assert confirmed <= hard
    counted = Exposure.objects.filter(user=secretary, patient_id__in=targets).count()
    assert counted >= confirmed > 0


def test_a_nir_tried_on_a_new_record_is_counted(establishment):
    nir = "2800575112001" + stdnum_nir.calc_check_digits("2800575112001")
    known = make_patient(
        establishment, birth_surname="CONNUE", nir=nir, birthplace_code="75112", status="qualified"
    )
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    client = signed_in_client(secretary)
    refused = client.post(
        reverse("web:patient_create"),
        _form(birth_surname="AUTRE", nir=nir, birthplace_code="75112"),
    )
    assert refused.status_code == 400 and "already recorded" in refused.content.decode()
    assert Exposure.objects.filter(user=secretary, patient_id=known).exists()


@pytest.mark.parametrize(("every_days", "stopped_by"), [(0.5, "month"), (4, "year")])
def test_a_slow_scraper_is_stopped_within_a_year(establishment, every_days, stopped_by):
    patients = [
        make_patient(
            establishment,
            birth_surname=f"LENT{n:03d}",
            birth_date=datetime.date(1960, 1, 1) + datetime.timedelta(days=n),
        )
        for n in range(120)
    ]
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    start = datetime.datetime.now(tz=datetime.UTC)
    shown = 0
    for n, patient in enumerate(patients):
        moment = start + datetime.timedelta(days=every_days * n)
        if moment > start + datetime.timedelta(days=365):
            break
        with time_machine.travel(moment, tick=False):
            if not User.objects.get(pk=secretary.pk).is_active:
                break
            # Signed in again each time (sessions end when idle), step-up passed.
            client = signed_in_client(User.objects.get(pk=secretary.pk))
            _determined(client, moment)
            response = client.get(reverse("web:patient_detail", args=[patient]))
            if response.status_code == 200:
                shown += 1
    limit = default_budget(Role.SECRETARY)[stopped_by][1]
    assert not User.objects.get(pk=secretary.pk).is_active
    assert shown <= limit
    assert shown <= 40
