"""What the laboratory tests share: a hospital and two laboratories of its group, a
practitioner caring for a patient, technicians of each laboratory, and short ways to order,
collect, enter and validate as one of them (each inside its own guarded boundary)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction

from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.laboratory import catalogue, services
from carnet.laboratory.models import LabOrder, LabResult, LabTest
from carnet.organisations.models import Establishment
from carnet.staff.models import Membership, User

from .factories import EstablishmentFactory, UserFactory, make_patient, practitioner_for

SURNAME = "LABORIEUX"


def actor_for(user: User) -> Actor:
    rows = list(Membership.objects.filter(user=user).values_list("establishment_id", "unit_id"))
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=user.role,
        establishment_ids=frozenset(e for e, _ in rows),
        unit_ids=frozenset(u for _, u in rows if u is not None),
        verified=True,
        approved=user.access_approved,
    )


@contextmanager
def acting(user: User) -> Iterator[Actor]:
    """One guarded unit of work as this user, like one request."""
    actor = actor_for(user)
    with transaction.atomic(), boundary(actor, "tests.laboratory"):
        yield actor


def catalogue_ids(*loincs: str) -> list[int]:
    ids = dict(LabTest.objects.filter(loinc__in=loincs).values_list("loinc", "pk"))
    return [ids[loinc] for loinc in loincs]


@dataclass
class Lab:
    hospital: Establishment
    laboratory: Establishment
    other_laboratory: Establishment
    practitioner: User
    tech_a: User
    tech_b: User
    tech_other: User
    patient: str

    def order(self, *loincs: str, by: User | None = None, **options: object) -> LabOrder:
        with acting(by or self.practitioner) as actor:
            return services.order_tests(
                actor=actor,
                patient_id=self.patient,
                laboratory_id=self.laboratory.pk,
                test_ids=catalogue_ids(*loincs),
                **options,
            )

    def collect(self, order: LabOrder, by: User | None = None) -> None:
        with acting(by or self.tech_a) as actor:
            services.collect_specimens(actor=actor, order_id=order.pk)

    def enter(self, order: LabOrder, values: dict[str, str], by: User | None = None) -> None:
        items = dict(order.items.values_list("test__loinc", "pk"))
        with acting(by or self.tech_a) as actor:
            services.enter_results(
                actor=actor,
                order_id=order.pk,
                entries={items[loinc]: (value, "") for loinc, value in values.items()},
            )

    def validate(self, order: LabOrder, by: User | None = None) -> int:
        ids = LabResult.objects.filter(item__order=order, validated_at__isnull=True)
        with acting(by or self.tech_b) as actor:
            return services.validate_results(
                actor=actor, order_id=order.pk, result_ids=ids.values_list("pk", flat=True)
            )

    def done(self, values: dict[str, str]) -> LabOrder:
        """An order of these tests, collected, entered by A and validated by B."""
        order = self.order(*values)
        self.collect(order)
        self.enter(order, values)
        self.validate(order)
        return order


def staff_user(role: str, at: Establishment, **fields: object) -> User:
    user = UserFactory(role=role, establishments=[at], **fields)
    if role == Role.PRACTITIONER:
        practitioner_for(user)
    return user


def make_lab(establishment: Establishment) -> Lab:
    # A transactional test (live server, raw database) empties every table, the catalogue
    # that the migration loaded included.
    catalogue.ensure_loaded()
    laboratory = EstablishmentFactory(
        name="Laboratoire Saint-Luc", kind="laboratory", group=establishment.group
    )
    other = EstablishmentFactory(
        name="Laboratoire des Tilleuls", kind="laboratory", group=establishment.group
    )
    practitioner = staff_user(Role.PRACTITIONER, establishment, last_name="Prescrit")
    patient = make_patient(establishment, birth_surname=SURNAME, sex="F")
    relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=practitioner.pk)
    return Lab(
        hospital=establishment,
        laboratory=laboratory,
        other_laboratory=other,
        practitioner=practitioner,
        tech_a=staff_user(Role.LAB_TECHNICIAN, laboratory, last_name="Saisie"),
        tech_b=staff_user(Role.LAB_TECHNICIAN, laboratory, last_name="Valide"),
        tech_other=staff_user(Role.LAB_TECHNICIAN, other, last_name="Ailleurs"),
        patient=patient,
    )
