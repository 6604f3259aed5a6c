import pytest
from django.db import connection
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY

from carnet.audit import triggers
from carnet.guard.policy import Role

from .factories import (
    EstablishmentFactory,
    UserFactory,
    make_patient,
    practitioner_for,
    totp_device,
)


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
