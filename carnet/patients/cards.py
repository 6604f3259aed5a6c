"""What the guard hands to an interface: plain, read-only views of an identity. Interfaces
render these; they never hold a model that could open more than was handed over."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils.translation import gettext as _
from stdnum.fr import nir as stdnum_nir

from carnet.vault.keys import Shredded

from .models import ExternalIdentifier, IdentityStatus, Patient, Sex


def _first(first_names: str) -> str:
    return first_names.split(" ")[0] if first_names else ""


@dataclass(frozen=True)
class Identifier:
    establishment: str
    kind: str
    value: str
    # The assigning establishment itself (its id and FINESS number), for the interfaces.
    establishment_id: int | None = None
    finess: str = ""


@dataclass(frozen=True)
class IdentityCard:
    id: str
    version: int
    status: str
    sex: str
    birth_surname: str
    first_names: str
    used_surname: str
    used_first_name: str
    birth_date: datetime.date
    birthplace_code: str
    nir: str
    address_line: str
    postal_code: str
    city: str
    country: str
    phone: str
    email: str
    treating_doctor_id: int | None
    treating_doctor: str
    identifiers: tuple[Identifier, ...]
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @property
    def display_surname(self) -> str:
        return self.used_surname or self.birth_surname

    @property
    def display_first_name(self) -> str:
        return self.used_first_name or _first(self.first_names)

    @property
    def status_label(self) -> str:
        return str(IdentityStatus(self.status).label)

    @property
    def sex_label(self) -> str:
        return str(Sex(self.sex).label)

    @property
    def nir_display(self) -> str:
        return stdnum_nir.format(self.nir) if self.nir else ""

    @property
    def is_qualified(self) -> bool:
        return self.status == IdentityStatus.QUALIFIED

    def form_initial(self) -> dict:
        return {
            "status": self.status,
            "sex": self.sex,
            "birth_surname": self.birth_surname,
            "first_names": self.first_names,
            "used_surname": self.used_surname,
            "used_first_name": self.used_first_name,
            "birth_date": self.birth_date,
            "birthplace_code": self.birthplace_code,
            "nir": self.nir,
            "address_line": self.address_line,
            "postal_code": self.postal_code,
            "city": self.city,
            "country": self.country,
            "phone": self.phone,
            "email": self.email,
            "treating_doctor": self.treating_doctor_id,
        }


@dataclass(frozen=True)
class SearchRow:
    """The minimum to pick the right person in a list."""

    id: str
    birth_surname: str
    used_surname: str
    first_names: str
    sex: str
    birth_date: datetime.date
    ipp: str
    status: str
    # The IPP with the establishment that assigned it (for the interfaces that name it).
    ipp_identifier: Identifier | None = None

    @property
    def status_label(self) -> str:
        return str(IdentityStatus(self.status).label)


def display_name(patient: Patient) -> str:
    """Used surname (or birth surname) and used first name (or the first of the first names);
    for a record erased at the end of its retention term, says so."""
    try:
        first = patient.used_first_name or _first(patient.first_names or "")
        return f"{patient.used_surname or patient.birth_surname} {first}"
    except Shredded:
        return str(_("(erased record)"))


def identifier_of(row: ExternalIdentifier) -> Identifier:
    """An identifier with the establishment that assigned it (prefetched with it)."""
    return Identifier(
        row.establishment.name, row.kind, row.value, row.establishment_id, row.establishment.finess
    )


def identity_card(patient: Patient) -> IdentityCard:
    doctor = patient.treating_doctor
    return IdentityCard(
        id=str(patient.id),
        version=patient.version,
        status=patient.status,
        sex=patient.sex or Sex.UNKNOWN,
        birth_surname=patient.birth_surname or "",
        first_names=patient.first_names or "",
        used_surname=patient.used_surname or "",
        used_first_name=patient.used_first_name or "",
        birth_date=patient.birth_date,
        birthplace_code=patient.birthplace_code or "",
        nir=patient.nir or "",
        address_line=patient.address_line or "",
        postal_code=patient.postal_code or "",
        city=patient.city or "",
        country=patient.country or "",
        phone=patient.phone or "",
        email=patient.email or "",
        treating_doctor_id=doctor.pk if doctor else None,
        treating_doctor=f"Dr {doctor.user.get_full_name()}" if doctor else "",
        identifiers=tuple(
            identifier_of(i)
            for i in sorted(patient.identifiers.all(), key=lambda i: i.establishment.name)
        ),
        created_at=patient.created_at,
        updated_at=patient.updated_at,
    )


def search_row(patient: Patient, establishment_ids: frozenset[int]) -> SearchRow:
    own = next(
        (i for i in patient.identifiers.all() if i.establishment_id in establishment_ids), None
    )
    return SearchRow(
        id=str(patient.id),
        birth_surname=patient.birth_surname or "",
        used_surname=patient.used_surname or "",
        first_names=patient.first_names or "",
        sex=patient.sex or Sex.UNKNOWN,
        birth_date=patient.birth_date,
        ipp=own.value if own is not None else "",
        status=patient.status,
        ipp_identifier=identifier_of(own) if own is not None else None,
    )
