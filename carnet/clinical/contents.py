"""What an uploaded file really is, from its bytes alone (never its name or the browser's
content type): a PDF without active content, a PNG or a JPEG image. Everything else, and
programs renamed as documents first, is refused with a message that says why."""

from __future__ import annotations

import io
import re
import zlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from pypdf.generic import DictionaryObject

from .models import DocumentKind

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
_PDF_HEADER = re.compile(rb"%PDF-[12]\.\d")
# First bytes of programs and of containers that carry them.
_PROGRAMS = (
    (b"MZ", "Windows"),
    (b"\x7fELF", "Linux"),
    (b"#!", "script"),
    (b"\xca\xfe\xba\xbe", "macOS / Java"),
    (b"\xcf\xfa\xed\xfe", "macOS"),
    (b"\xce\xfa\xed\xfe", "macOS"),
    (b"\xfe\xed\xfa\xce", "macOS"),
    (b"\xfe\xed\xfa\xcf", "macOS"),
    (b"PK\x03\x04", "ZIP archive"),
)
# PDF names that run code, open or submit elsewhere, or carry other files.
_ACTIVE_NAMES = {
    b"JavaScript": "JavaScript",
    b"JS": "JavaScript",
    b"Launch": "an action that launches a program",
    b"EmbeddedFile": "an embedded file",
    b"EmbeddedFiles": "embedded files",
    b"RichMedia": "rich media",
    b"XFA": "an XFA form",
    b"SubmitForm": "a form that submits data",
    b"ImportData": "an action that imports data",
}
_NAME = re.compile(rb"/([^\s/\[\]<>(){}%]+)")
_HEX_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n(.*?)endstream", re.DOTALL)
# Decompressed bytes scanned at most per document (a small PDF can inflate to gigabytes).
_INFLATE_BUDGET = 64 * 1024 * 1024


def max_bytes() -> int:
    return int(getattr(settings, "CARNET_DOCUMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def too_large_message() -> str:
    return _("The file is larger than %(limit)s MB: Carnet keeps documents up to that size.") % {
        "limit": _megabytes(max_bytes())
    }


def sniff(content: bytes) -> str:
    """The document kind (a `DocumentKind` value), or ValidationError on the `file` field."""
    if not content:
        raise ValidationError({"file": _("The file is empty.")})
    if len(content) > max_bytes():
        raise ValidationError({"file": too_large_message()})
    for magic, what in _PROGRAMS:
        if content.startswith(magic):
            raise ValidationError(
                {
                    "file": _(
                        "This file is a program or an archive (%(what)s), not a document, "
                        "whatever its name says: Carnet refuses it."
                    )
                    % {"what": what}
                }
            )
    if content.startswith(_PNG):
        _check_png(content)
        return DocumentKind.PNG
    if content.startswith(_JPEG):
        _check_jpeg(content)
        return DocumentKind.JPEG
    if content.startswith(b"%PDF-"):
        check_pdf(content)
        return DocumentKind.PDF
    raise ValidationError(
        {
            "file": _(
                "Carnet accepts PDF documents and PNG or JPEG images only, and this file is "
                "none of them (whatever its name says)."
            )
        }
    )


def _damaged(kind: str) -> ValidationError:
    return ValidationError(
        {
            "file": _("This %(kind)s file is damaged or incomplete: scan or export it again.")
            % {"kind": kind}
        }
    )


def _check_png(content: bytes) -> None:
    if content[12:16] != b"IHDR" or b"IEND" not in content[-64:]:
        raise _damaged("PNG")


def _check_jpeg(content: bytes) -> None:
    if b"\xff\xd9" not in content[-1024:]:
        raise _damaged("JPEG")


def _names(data: bytes) -> set[bytes]:
    """Every PDF name in `data`, with #xx escapes decoded (/J#61vaScript is /JavaScript)."""
    return {
        _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), match.group(1))
        for match in _NAME.finditer(data)
    }


def _inflated(content: bytes) -> list[bytes]:
    """The Flate-compressed streams, inflated (object streams can hide names from a scan of
    the raw file). Streams that do not inflate are images or other filters: left as they are."""
    out: list[bytes] = []
    budget = _INFLATE_BUDGET
    for match in _STREAM.finditer(content):
        if budget <= 0:
            raise ValidationError(
                {"file": _("This PDF expands to too much data to be checked: Carnet refuses it.")}
            )
        try:
            inflater = zlib.decompressobj()
            data = inflater.decompress(match.group(1), budget)
        except zlib.error:
            continue
        budget -= len(data)
        out.append(data)
    return out


def check_pdf(content: bytes) -> None:
    """A PDF by its structure (header, cross-reference, end-of-file trailer), not encrypted,
    and without any active content in its objects or compressed streams."""
    tail = content[-1024:]
    if not _PDF_HEADER.match(content) or b"%%EOF" not in tail or b"startxref" not in tail:
        raise _damaged("PDF")
    if b" obj" not in content and b"\nobj" not in content:
        raise _damaged("PDF")
    names = _names(content)
    if b"Encrypt" in names:
        raise ValidationError(
            {
                "file": _(
                    "This PDF is protected by a password or encrypted, so Carnet cannot check "
                    "it: save an unprotected copy and send that."
                )
            }
        )
    for data in _inflated(content):
        names |= _names(data)
    found = sorted({what for name, what in _ACTIVE_NAMES.items() if name in names})
    found = found or _automatic_actions(content)
    if found:
        raise ValidationError(
            {
                "file": _(
                    "This PDF contains active content (%(what)s): Carnet refuses documents that "
                    "can run code or carry other files. Print it to a new PDF and send that."
                )
                % {"what": ", ".join(found)}
            }
        )


def _automatic_actions(content: bytes) -> list[str]:
    """Actions a viewer runs by itself, without a click: the document's open action (other
    than going to one of its own pages) and the additional actions of the document or its
    pages (on open, on close, on print...). A link the reader chooses to follow is fine; a
    PDF that opens an address as soon as it is shown is not. Read with a PDF parser (the
    action can hide in an indirect object or an object stream)."""
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        root = reader.trailer["/Root"]
        found = []
        action = root.get("/OpenAction")
        while action is not None:
            action = action.get_object()
            if not isinstance(action, DictionaryObject):
                break  # a destination: a page of the document itself
            if action.get("/S") != "/GoTo":
                found.append(_("an action run when the document opens"))
                break
            action = action.get("/Next")
        if "/AA" in root or any("/AA" in page for page in reader.pages):
            found.append(_("actions run on opening or closing the document or a page"))
        return found
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise _damaged("PDF") from None
