"""Reading staff and organisation facts for pages (no patient data here)."""

from __future__ import annotations

from carnet.guard.actors import Actor
from carnet.organisations.models import Establishment


def establishment_names(actor: Actor) -> list[str]:
    return list(
        Establishment.objects.filter(id__in=actor.establishment_ids)
        .order_by("name")
        .values_list("name", flat=True)
    )
