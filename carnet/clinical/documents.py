"""Documents attached to an encounter: a PDF or an image, checked from its bytes, sealed with
the patient's data key and bound to its own row, opened only for someone who may see it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused
from carnet.guard.policy import Capability
from carnet.patients.selectors import parse_patient_id
from carnet.vault.keys import open_bytes, seal_bytes
from carnet.vault.sealing import SealBroken

from .access import encounter_of, readable_patient, single_unit, writable_patient
from .contents import sniff
from .models import Document
from .notes import clean_category
from .sensitivity import may_see

MAX_TITLE = 200


def add_document(
    *,
    actor: Actor,
    patient_id: object,
    encounter_id: object,
    title: str,
    content: bytes,
    category: str = "",
) -> Document:
    with transaction.atomic():
        patient = writable_patient(actor, Capability.ADD_DOCUMENT, patient_id)
        encounter = encounter_of(patient, encounter_id)
        title = title.strip()
        if not title:
            raise ValidationError({"title": _("Give the document a title.")})
        if len(title) > MAX_TITLE:
            raise ValidationError(
                {"title": _("Keep the title under %(count)d characters.") % {"count": MAX_TITLE}}
            )
        kind = sniff(content)
        document = Document(
            id=uuid.uuid4(),
            patient=patient,
            encounter=encounter,
            uploaded_by_id=actor.user_id,
            uploaded_at=timezone.now(),
            kind=kind,
            size=len(content),
            category=clean_category(category),
            author_unit_id=encounter.unit_id or single_unit(actor),
        )
        document.title = title
        document.content = seal_bytes(str(patient.id), document.place, content)
        document.save(force_insert=True)
    return document


@dataclass(frozen=True)
class DocumentContent:
    kind: str
    title: str
    content: bytes


def open_document(*, actor: Actor, patient_id: object, document_id: object) -> DocumentContent:
    """The plaintext of one document, for someone the guard handed the patient to and who
    may see its sensitive category."""
    patient = readable_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    key = parse_patient_id(document_id)
    document = Document.objects.filter(pk=key, patient=patient).first() if key else None
    if document is None:
        raise Refused("no such document for this patient", patients=[str(patient.id)])
    if not may_see(
        actor, patient.id, document.category, document.uploaded_by_id, document.author_unit_id
    ):
        raise Refused("sensitive document not opened", patients=[str(patient.id)], not_found=False)
    try:
        content = open_bytes(str(patient.id), document.place, bytes(document.content))
    except SealBroken:
        # Altered, or moved from another row: recorded as a refusal for whoever investigates.
        raise Refused(
            "document content does not open (altered or moved)",
            patients=[str(patient.id)],
            not_found=False,
        ) from None
    return DocumentContent(kind=document.kind, title=document.title or "", content=content)
