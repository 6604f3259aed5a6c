"""No identifying value is written in clear anywhere: plant identities, run every way staff
search for them (the search page, the dashboard's box, the desk's booking panel, a new identity
with a NIR already recorded, the look-alike warning), then read the raw database, a backup,
the log output, the audit entries and every address the browser was sent to: none of the
values is there."""

import datetime
import logging
import random
import string
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from stdnum.fr import nir as stdnum_nir

from carnet.audit.models import AuditEntry
from carnet.guard.http import STEP_UP_SESSION_KEY
from carnet.guard.policy import Role

from .conftest import signed_in_client
from .factories import IDENTITY, UserFactory, agenda_with_hours, make_patient, practitioner_for
from .test_raw_database import _forms, _raw_dump

PLANTED = 6


def _people(rng):
    people = []
    for index in range(PLANTED):
        surname = "".join(rng.choices(string.ascii_uppercase, k=10))
        day = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randint(0, 25000))
        body = f"{1 + index % 2}{day.year % 100:02d}{day.month:02d}75{rng.randint(100, 999)}{rng.randint(1, 999):03d}"
        people.append(
            {
                **IDENTITY,
                "status": "qualified",
                "birth_surname": surname,
                "first_names": "".join(rng.choices(string.ascii_uppercase, k=8)).title(),
                "birth_date": day,
                "nir": body + stdnum_nir.calc_check_digits(body),
                "phone": f"+336{rng.randint(10_000_000, 99_999_999)}",
                "email": f"{surname.lower()}@example.fr",
                "address_line": f"{rng.randint(1, 99)} rue {surname.title()}",
            }
        )
    return people


def _values(person) -> list[str]:
    day = person["birth_date"]
    return [
        person["birth_surname"],
        person["first_names"],
        person["nir"],
        person["phone"],
        person["email"],
        person["address_line"],
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
    ]


@pytest.fixture
def stepped_up():
    def lift(client):
        session = client.session
        session[STEP_UP_SESSION_KEY] = datetime.datetime.now(tz=datetime.UTC).timestamp() + 3600
        session.save()
        return client

    return lift


@pytest.mark.django_db(transaction=True)
def test_no_search_leaves_an_identifying_value_in_clear(
    establishment, stepped_up, caplog, tmp_path, capsys
):
    caplog.set_level(logging.DEBUG)
    people = _people(random.Random(11))
    for person in people:
        make_patient(establishment, **person)
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    desk = stepped_up(signed_in_client(secretary))
    doctor = UserFactory(role=Role.PRACTITIONER, establishments=[establishment])
    consultation = agenda_with_hours(establishment, practitioner_for(doctor))
    start = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0) + datetime.timedelta(
        days=1
    )
    addresses = []

    def visit(response):
        addresses.append(response.get("Location", ""))
        addresses.append(response.wsgi_request.get_full_path())
        return response

    for person in people:
        criteria = {"surname": person["birth_surname"][:4], "birth_date": person["birth_date"]}
        found = visit(desk.post(reverse("web:patient_search"), criteria))
        assert person["birth_surname"] in found.content.decode()  # the search did find them
        visit(desk.post(reverse("web:patient_search"), {"nir": person["nir"]}))
        visit(
            desk.post(
                reverse("web:desk_book"),
                {
                    "find": "1",
                    "type": consultation.pk,
                    "agenda": consultation.agenda_id,
                    "start": start.isoformat(),
                    **criteria,
                },
            )
        )
        # A second identity with the same NIR is refused, which says someone has it.
        visit(
            desk.post(
                reverse("web:patient_create"),
                {**{k: v for k, v in IDENTITY.items() if v is not None}, "nir": person["nir"]},
            )
        )
    # The commands that read the audit log print what they found, and nothing identifying.
    call_command("incident", "report", "--account", secretary.username, "--from", "2000-01-01")
    call_command("audit", "verify", "--no-progress")
    backup, keys = tmp_path / "backup", tmp_path / "keys"
    call_command("backup", "--to", str(backup), "--keys-to", str(keys), "--no-progress")
    printed = capsys.readouterr()

    places = {
        "raw database": _raw_dump(),
        "backup": b"".join(p.read_bytes() for p in backup.rglob("*") if p.is_file()),
        "log output": caplog.text.encode(),
        "command output": (printed.out + printed.err).encode(),
        "audit entries": "\n".join(
            " ".join(map(str, row))
            for row in AuditEntry.objects.values_list("action", "reason", "patients", "actor")
        ).encode(),
        "addresses": "\n".join(addresses).encode(),
    }
    assert len(places["backup"]) > 10_000, "the backup read is empty"
    leaks = [
        (where, value)
        for person in people
        for value in _values(person)
        for where, data in places.items()
        if any(form in data for form in _forms(value))
    ]
    assert leaks == []
    assert Path(backup).exists()
