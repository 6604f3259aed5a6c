"""The clinical items a practitioner may send outside the group (carnet.sharing): notes with
their addenda, and documents. Items of a sensitive category are never offered: sending them
outside would take them out of the author's team's hands for good."""

from __future__ import annotations

from django.utils.translation import gettext as _

from carnet.patients.selectors import parse_patient_id
from carnet.sharing.models import ShareKind
from carnet.sharing.services import ShareableItem
from carnet.vault.keys import open_bytes

from .models import Document, Note

MAX_OFFERED = 30


def _note_title(note: Note) -> str:
    return _("Note of %(date)s") % {"date": note.written_at.strftime("%d/%m/%Y")}


def _note_text(note: Note) -> str:
    parts = [note.text]
    for addendum in Note.objects.filter(corrects=note).order_by("written_at"):
        parts.append(
            _("Addendum of %(date)s: %(text)s")
            % {
                "date": addendum.written_at.strftime("%d/%m/%Y"),
                "text": addendum.text,
            }
        )
    return "\n\n".join(parts)


def available_notes(patient_id: str) -> list[ShareableItem]:
    notes = Note.objects.filter(patient_id=patient_id, corrects__isnull=True, category="")
    return [
        ShareableItem(ShareKind.NOTE, str(n.pk), _note_title(n), n.written_at)
        for n in notes.order_by("-written_at")[:MAX_OFFERED]
    ]


def describe_note(patient_id: str, ref: str) -> ShareableItem | None:
    key = parse_patient_id(ref)
    note = (
        Note.objects.filter(
            pk=key, patient_id=patient_id, corrects__isnull=True, category=""
        ).first()
        if key
        else None
    )
    if note is None:
        return None
    return ShareableItem(
        ShareKind.NOTE, ref, _note_title(note), note.written_at, text=_note_text(note)
    )


def available_documents(patient_id: str) -> list[ShareableItem]:
    documents = Document.objects.filter(patient_id=patient_id, category="")
    return [
        ShareableItem(ShareKind.DOCUMENT, str(d.pk), d.title or _("Document"), d.uploaded_at)
        for d in documents.order_by("-uploaded_at")[:MAX_OFFERED]
    ]


def describe_document(patient_id: str, ref: str) -> ShareableItem | None:
    key = parse_patient_id(ref)
    document = (
        Document.objects.filter(pk=key, patient_id=patient_id, category="").first() if key else None
    )
    if document is None:
        return None

    def load() -> bytes:
        return open_bytes(str(document.patient_id), document.place, bytes(document.content))

    return ShareableItem(
        ShareKind.DOCUMENT,
        ref,
        document.title or _("Document"),
        document.uploaded_at,
        content_type=document.kind,
        load=load,
    )
