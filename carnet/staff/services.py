"""Creating staff accounts with their role, memberships and, for practitioners, RPPS.
(Approval by a security officer of access-granting changes comes with the guard issue.)"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from carnet.organisations.models import Establishment, Unit

from .models import Membership, Practitioner, User


@transaction.atomic
def create_account(
    *,
    username: str,
    password: str,
    role: str,
    first_name: str,
    last_name: str,
    establishments: list[Establishment],
    unit: Unit | None = None,
    rpps: str = "",
    specialty: str = "",
) -> User:
    user = User(username=username, role=role, first_name=first_name, last_name=last_name)
    validate_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    for establishment in establishments:
        Membership.objects.create(
            user=user,
            establishment=establishment,
            unit=unit if unit and unit.establishment_id == establishment.pk else None,
        )
    if rpps:
        practitioner = Practitioner(user=user, rpps=rpps, specialty=specialty)
        practitioner.full_clean()
        practitioner.save()
    return user
