"""Factories for the structure and staff; patients are made through the domain's services
(the only way they can be made, sealed and indexed)."""

import datetime
import itertools
import time

import factory
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.guard.policy import Role
from carnet.organisations.identifiers import with_luhn_key
from carnet.organisations.models import Establishment, Group, Unit
from carnet.patients.services import create_identity
from carnet.staff.models import Membership, Practitioner, User

_numbers = itertools.count(1)


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    name = factory.Sequence(lambda n: f"Groupe {n}")


class EstablishmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Establishment

    group = factory.SubFactory(GroupFactory)
    name = factory.Sequence(lambda n: f"Clinique {n}")
    finess = factory.Sequence(lambda n: with_luhn_key(f"69{n:06d}"))
    kind = "clinic"
    city = "Lyon"


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Unit

    establishment = factory.SubFactory(EstablishmentFactory)
    name = factory.Sequence(lambda n: f"Service {n}")
    code = factory.Sequence(lambda n: f"S{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Camille"
    last_name = factory.Sequence(lambda n: f"Agent{n}")
    role = Role.SECRETARY
    access_approved = True
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def establishments(self, create, extracted, **kwargs):
        for establishment in extracted or []:
            Membership.objects.create(user=self, establishment=establishment)
        self.save()


def practitioner_for(user: User) -> Practitioner:
    return Practitioner.objects.create(
        user=user, rpps=with_luhn_key(f"10{next(_numbers):08d}"), specialty="Médecine générale"
    )


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)


IDENTITY = {
    "status": "provisional",
    "sex": "F",
    "birth_surname": "DURAND",
    "first_names": "Marie Louise",
    "used_surname": "",
    "used_first_name": "",
    "birth_date": datetime.date(1980, 5, 17),
    "birthplace_code": "69123",
    "nir": "",
    "address_line": "12 rue de la République",
    "postal_code": "69002",
    "city": "Lyon",
    "country": "France",
    "phone": "+33612345678",
    "email": "marie.durand@example.fr",
    "treating_doctor": None,
}


def make_patient(establishment: Establishment, **values) -> str:
    """Creates one identity through the domain service, as a system job; returns its id."""
    actor = system_actor("tests")
    with system_job(actor, "tests.create_patient"):
        card = create_identity(
            actor=actor, data={**IDENTITY, **values}, establishment_id=establishment.pk
        )
    return card.id


def agenda_with_hours(establishment, practitioner=None, *, minutes=30, hours=None, **type_options):
    """A practitioner's agenda open 09:00-12:00 every weekday (or `hours`: weekday -> spans),
    with one consultation type."""
    import datetime as _dt

    from carnet.scheduling.models import Agenda, ConsultationType, OpeningHours

    hours = hours or {weekday: [(_dt.time(9), _dt.time(12))] for weekday in range(5)}

    agenda = Agenda.objects.create(
        establishment=establishment,
        kind="practitioner" if practitioner else "resource",
        name="Consultations",
        practitioner=practitioner,
    )
    for weekday, spans in hours.items():
        for opens, closes in spans:
            OpeningHours.objects.create(agenda=agenda, weekday=weekday, opens=opens, closes=closes)
    return ConsultationType.objects.create(
        agenda=agenda, minutes=minutes, **{"motive": "Consultation", **type_options}
    )


def totp_code(user: User, *, steps_ahead: int = 0) -> str:
    """The code the account's confirmed device shows now (or a step or more later: a code is
    accepted once, so a second confirmation in the same 30 seconds takes the next one)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).latest("pk")
    totp = TOTP(device.bin_key, step=device.step, t0=device.t0, drift=device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def officer_account(establishment, **fields) -> User:
    """An approved security officer the installation's operator made (its second factor comes
    with `signed_in_client`)."""
    return UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment], **fields)
