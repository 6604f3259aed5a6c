import pytest
import time_machine
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from carnet.audit import chain, triggers
from carnet.guard.policy import Role

from . import clock
from .factories import (
    EstablishmentFactory,
    UserFactory,
    make_patient,
    practitioner_for,
    totp_device,
)

MOMENT = clock.chosen()


def pytest_report_header(config):
    if MOMENT is None:
        return f"clock: real ({clock.ENVIRONMENT} unset)"
    return f"clock: every test starts at {MOMENT.isoformat()} ({clock.ENVIRONMENT})"


def pytest_terminal_summary(terminalreporter):
    """How many browser tests ran (a green run where none ran would prove little)."""
    ran = [
        report
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call" and report.nodeid.startswith("tests/browser/")
    ]
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if report.nodeid.startswith("tests/browser/")
    ]
    terminalreporter.write_line(
        f"browser tests (Chromium): {len(ran)} passed, {len(skipped)} skipped"
    )


@pytest.fixture(autouse=True)
def _clock(request):
    """Under `CARNET_TEST_CLOCK`, each test starts at the chosen moment and the clock runs on
    from there, before any other fixture builds its data. A test marked
    `@pytest.mark.working_hours(hour, minute)` starts instead on the next day at that local
    time (a journey through a working day's pages), whatever the hour the suite runs at."""
    marker = request.node.get_closest_marker("working_hours")
    moment = MOMENT
    if marker is not None:
        moment = clock.next_day_at(moment or clock.now(), *marker.args)
    if moment is None:
        yield None
        return
    with time_machine.travel(moment, tick=True):
        yield moment


@pytest.fixture(autouse=True)
def _audit_witness(tmp_path, settings, monkeypatch):
    """Each test its own audit witness file: a test's anchors are rolled back with its
    database, and a witness that outlived them would name them as deleted. And its own anchor
    clock: the process counts entries and seconds towards the next anchor, so without a fresh
    count an anchor (and its statements) would fall into whichever test crossed the threshold."""
    settings.CARNET_AUDIT_WITNESS = str(tmp_path / "audit-witness.jsonl")
    monkeypatch.setattr(chain, "_clock", chain._AnchorClock())


@pytest.fixture
def establishment(db):
    return EstablishmentFactory(name="Hôpital Saint-Luc")


@pytest.fixture
def other_establishment(db):
    return EstablishmentFactory(name="Clinique des Tilleuls")


def signed_in_client(user) -> Client:
    """A client past both sign-in steps (password and second factor)."""
    device = totp_device(user)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    client.account = user  # whose client this is (for the codes of its device)
    return client


@pytest.fixture
def staff(establishment):
    """staff(role) -> (user, client) signed in, member of `establishment`."""

    def make(role: str = Role.SECRETARY, *, at=None):
        user = UserFactory(role=role, establishments=[at or establishment])
        if role == Role.PRACTITIONER:
            practitioner_for(user)
        return user, signed_in_client(user)

    return make


@pytest.fixture
def patient(establishment):
    return make_patient(establishment)


@pytest.fixture(autouse=True)
def _audit_append_only(request):
    """The append-only triggers are in place in every test that touches the database. A test
    on a committed database (live server, transaction=True) lifts them at its end, so the
    test runner can empty the tables; the next test puts them back."""
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    transactional = bool(
        (marker and marker.kwargs.get("transaction"))
        or "live_server" in names
        or "transactional_db" in names
    )
    if not (marker or "db" in names or transactional):
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    triggers.install(connection)
    yield
    if transactional:
        triggers.remove(connection)
