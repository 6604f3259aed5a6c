"""A stolen database is useless: plant known identities, then read the raw database (the
SQLite file and its write-ahead log, or pg_dump's output) and find none of them."""

import datetime
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest
from django.db import connection
from stdnum.fr import nir as stdnum_nir

from carnet.guard.actors import Actor, system_actor
from carnet.guard.boundary import boundary, system_job
from carnet.guard.policy import Role
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.patients.services import import_identities

from .factories import IDENTITY

PLANTED = 200


def _planted(rng: random.Random) -> list[dict]:
    records = []
    for index in range(PLANTED):
        surname = "".join(rng.choices(string.ascii_uppercase, k=9))
        day = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randint(0, 20000))
        body = f"{1 + index % 2}{day.year % 100:02d}{day.month:02d}69{rng.randint(100, 999)}{rng.randint(1, 999):03d}"
        records.append(
            {
                **IDENTITY,
                "status": "qualified",
                "sex": "M" if index % 2 == 0 else "F",
                "birth_surname": surname,
                "birth_date": day,
                "nir": body + stdnum_nir.calc_check_digits(body),
                "phone": f"+336{rng.randint(10_000_000, 99_999_999)}",
                "email": f"{surname.lower()}@example.fr",
            }
        )
    return records


def _raw_dump() -> bytes:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(FULL)")
        path = Path(settings["NAME"])
        return b"".join(
            p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
        )
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to attack the PostgreSQL database")
    command = [pg_dump, "--no-owner", "-d", settings["NAME"], "-h", settings["HOST"] or "127.0.0.1"]
    if settings["USER"]:
        command += ["-U", settings["USER"]]
    if settings["PORT"]:
        command += ["-p", str(settings["PORT"])]
    return subprocess.run(command, check=True, capture_output=True).stdout


def _forms(value: str) -> list[bytes]:
    """The ways a value could sit in a dump: as typed, and as a NIR is often written."""
    forms = {value, value.lower(), value.replace("+33", "0")}
    if value.isalnum() and len(value) == 15:
        forms.add(stdnum_nir.format(value))
    return [f.encode() for f in forms] + [f.encode("utf-16-le") for f in forms]


@pytest.mark.django_db(transaction=True)
def test_planted_identities_are_nowhere_in_the_raw_database(establishment):
    records = _planted(random.Random(7))
    actor = system_actor("tests")
    with system_job(actor, "tests.import"):
        import_identities(
            actor=actor,
            records=({**r, "establishment_ids": [establishment.pk]} for r in records),
        )

    # Control: the values are really there, and open through the guard.
    desk = Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )
    with boundary(desk, "tests.search"):
        found = search_identities(actor=desk, query=SearchQuery(nir=records[0]["nir"]))
    assert [row.birth_surname for row in found.rows] == [records[0]["birth_surname"]]

    dump = _raw_dump()
    assert establishment.name.encode() in dump, "the dump read is not this database"
    leaks = [
        (field, record[field])
        for record in records
        for field in ("birth_surname", "nir", "phone", "email")
        if any(form in dump for form in _forms(record[field]))
    ]
    assert leaks == []
