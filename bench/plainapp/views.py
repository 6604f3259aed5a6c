"""The plain page: one ordinary query set, no guard, no vault, no audit entry. Marked public
only so that Carnet's route guard lets the comparison through (bench settings only)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from carnet.guard.http import public_view
from carnet.patients.cards import Identifier, IdentityCard

from .models import PlainPatient


def _card(row: PlainPatient) -> IdentityCard:
    doctor = row.treating_doctor
    return IdentityCard(
        id=str(row.id),
        version=row.version,
        status=row.status,
        sex=row.sex,
        birth_surname=row.birth_surname,
        first_names=row.first_names,
        used_surname=row.used_surname,
        used_first_name=row.used_first_name,
        birth_date=row.birth_date,
        birthplace_code=row.birthplace_code,
        nir=row.nir,
        address_line=row.address_line,
        postal_code=row.postal_code,
        city=row.city,
        country=row.country,
        phone=row.phone,
        email=row.email,
        treating_doctor_id=doctor.pk if doctor else None,
        treating_doctor=f"Dr {doctor.user.get_full_name()}" if doctor else "",
        identifiers=tuple(
            Identifier(i.establishment.name, i.kind, i.value)
            for i in sorted(row.identifiers.all(), key=lambda i: i.establishment.name)
        ),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@public_view
def plain_detail(request: HttpRequest, patient_id: str) -> HttpResponse:
    row = get_object_or_404(
        PlainPatient.objects.select_related("treating_doctor__user").prefetch_related(
            "identifiers__establishment"
        ),
        id=patient_id,
    )
    return render(
        request, "web/patients/detail.html", {"card": _card(row), **_page_extras(request)}
    )


def _page_extras(request: HttpRequest) -> dict:
    """What else the guarded page shows: the badge saying what opened the record (the bench
    gives its account an appointment with every patient), and so the "share" button."""
    return {"opened_by": "appointment", "shareable": True}
