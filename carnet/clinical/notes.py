"""Clinical notes: written once, sealed, never edited. A correction is an addendum, a note of
its own pointing to the note it corrects, in the same encounter and sensitive category."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused
from carnet.guard.policy import Capability
from carnet.patients.selectors import parse_patient_id

from .access import encounter_of, single_unit, writable_patient
from .models import Note, SensitiveCategory
from .sensitivity import may_see

MAX_TEXT = 20_000


def _clean_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise ValidationError({"text": _("Write the note before saving it.")})
    if len(text) > MAX_TEXT:
        raise ValidationError(
            {"text": _("A note holds at most %(count)d characters.") % {"count": MAX_TEXT}}
        )
    return text


def clean_category(category: str) -> str:
    if category not in SensitiveCategory.values:
        raise ValidationError({"category": _("Choose a sensitive category from the list.")})
    return category


def write_note(
    *, actor: Actor, patient_id: object, encounter_id: object, text: str, category: str = ""
) -> Note:
    with transaction.atomic():
        patient = writable_patient(actor, Capability.WRITE_NOTE, patient_id)
        encounter = encounter_of(patient, encounter_id)
        note = Note(
            patient=patient,
            encounter=encounter,
            author_id=actor.user_id,
            author_unit_id=encounter.unit_id or single_unit(actor),
            written_at=timezone.now(),
            category=clean_category(category),
        )
        note.text = _clean_text(text)
        note.save()
    return note


def write_addendum(*, actor: Actor, patient_id: object, note_id: object, text: str) -> Note:
    """Corrects or completes a note; the note itself stays as it was written."""
    with transaction.atomic():
        patient = writable_patient(actor, Capability.WRITE_NOTE, patient_id)
        original = note_of(actor, patient.id, note_id)
        root = original.corrects or original
        addendum = Note(
            patient=patient,
            encounter_id=root.encounter_id,
            author_id=actor.user_id,
            author_unit_id=root.author_unit_id if root.author_id == actor.user_id else None,
            written_at=timezone.now(),
            category=root.category,
            corrects=root,
        )
        if addendum.author_unit_id is None:
            addendum.author_unit_id = single_unit(actor)
        addendum.text = _clean_text(text)
        addendum.save()
    return addendum


def note_of(actor: Actor, patient_id: object, note_id: object) -> Note:
    """A note of a patient the guard already handed over, if the actor may see it (a masked
    note is not there to correct until its category is opened)."""
    key = parse_patient_id(note_id)
    note = (
        Note.objects.filter(pk=key, patient_id=patient_id).select_related("corrects").first()
        if key
        else None
    )
    if note is None:
        raise Refused("no such note for this patient", patients=[str(patient_id)])
    if not may_see(actor, patient_id, note.category, note.author_id, note.author_unit_id):
        raise Refused("sensitive note not opened", patients=[str(patient_id)], not_found=False)
    return note
