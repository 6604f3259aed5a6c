"""Shared by the clinical tests (tests/test_clinical_*.py and the browser journey): staff in
units, actors for service calls, care relationships, and sample files built byte by byte
(a real PDF with its cross-reference table, a real PNG with its checksums)."""

import struct
import zlib

from django.db import transaction
from django.test import Client

from carnet.clinical.encounters import admit, open_encounter
from carnet.guard.actors import Actor
from carnet.guard.boundary import boundary
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.staff.models import Membership

from .conftest import signed_in_client
from .factories import UserFactory, practitioner_for


def member(role: str, establishment, unit=None, **fields):
    """An account of `establishment` (and of `unit`, when given), practitioner row included."""
    user = UserFactory(role=role, establishments=[establishment], **fields)
    if unit is not None:
        Membership.objects.create(user=user, establishment=establishment, unit=unit)
    if role == Role.PRACTITIONER:
        practitioner_for(user)
    return user


def client_of(user) -> Client:
    return signed_in_client(user)


def actor_of(user, request_id: str = "clinical-test") -> Actor:
    memberships = list(
        Membership.objects.filter(user=user).values_list("establishment_id", "unit_id")
    )
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=user.role,
        establishment_ids=frozenset(e for e, _ in memberships),
        unit_ids=frozenset(u for _, u in memberships if u is not None),
        request_id=request_id,
        verified=True,
        approved=user.access_approved,
    )


def in_care(patient_id: str, user) -> None:
    relate(patient_id=patient_id, kind=RelationshipKind.ENCOUNTER, user_id=user.pk)


def as_actor(user, action: str, work, request_id: str = "clinical-test"):
    """Runs `work(actor)` in a guarded boundary and transaction, like a request would."""
    actor = actor_of(user, request_id)
    with transaction.atomic(), boundary(actor, action):
        return work(actor)


def consultation(user, patient_id: str, reason: str = "Toux fébrile depuis trois jours"):
    return as_actor(
        user,
        "tests.consultation",
        lambda actor: open_encounter(actor=actor, patient_id=patient_id, reason=reason),
    )


def admission(user, patient_id: str, unit, reason: str = "Pneumopathie hypoxémiante"):
    return as_actor(
        user,
        "tests.admit",
        lambda actor: admit(actor=actor, patient_id=patient_id, unit_id=unit.pk, reason=reason),
    )


def pdf(text: str = "Compte rendu", *, extra_catalog: bytes = b"", extra_objects=()) -> bytes:
    """A one-page PDF that real readers open: objects, cross-reference table, trailer."""
    content = f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + extra_catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        *extra_objects,
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 48, height: int = 32, *, comment: str = "") -> bytes:
    """A real RGB PNG (a two-colour gradient), with an optional tEXt comment."""
    rows = b"".join(
        b"\x00"
        + b"".join(bytes(((15 + x * 4) % 256, 92, (110 + y * 3) % 256)) for x in range(width))
        for y in range(height)
    )
    chunks = [_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))]
    if comment:
        chunks.append(_chunk(b"tEXt", b"Comment\x00" + comment.encode()))
    chunks += [_chunk(b"IDAT", zlib.compress(rows)), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def load_medications() -> None:
    """The shipped medication list, as its data migration loads it: a test on a committed
    database (browser, raw database) runs after others emptied every table."""
    import json
    from pathlib import Path

    import carnet.clinical
    from carnet.clinical.models import Medication

    path = Path(carnet.clinical.__file__).parent / "data" / "medications.json"
    for row in json.loads(path.read_text(encoding="utf-8")):
        Medication.objects.update_or_create(
            dci=row["dci"],
            strength=row["strength"],
            form=row["form"],
            defaults={"brand": row["brand"], "sensitive": row["sensitive"], "active": True},
        )
