"""Creating the structure of a group: establishments, units and rooms (validated first)."""

from __future__ import annotations

from django.db import transaction

from .models import Establishment, Group, Room, Unit


@transaction.atomic
def create_establishment(
    *,
    group: Group,
    name: str,
    finess: str,
    kind: str,
    city: str,
    units: dict[str, list[str]],
    address: str = "",
) -> Establishment:
    """`units` maps a unit name to its room names; unit codes are derived from names."""
    establishment = Establishment(
        group=group, name=name, finess=finess, kind=kind, city=city, address=address
    )
    establishment.full_clean()
    establishment.save()
    for index, (unit_name, rooms) in enumerate(units.items(), start=1):
        unit = Unit.objects.create(
            establishment=establishment, name=unit_name, code=f"U{index:02d}"
        )
        Room.objects.bulk_create(Room(unit=unit, name=room) for room in rooms)
    return establishment
