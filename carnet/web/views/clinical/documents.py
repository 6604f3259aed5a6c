"""Uploading a document (kept in memory only, up to the size limit, so no plaintext copy
lands on the server's disk) and showing one: its sniffed type, inline, never sniffed again by
the browser, and sandboxed so that nothing in it runs with Carnet's origin."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from carnet.clinical.chart import open_chart
from carnet.clinical.contents import max_bytes, too_large_message
from carnet.clinical.documents import add_document, open_document
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability

from ..common import add_domain_errors, file_response, signed_in_actor
from .chart import render_chart
from .forms import DocumentForm

_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


class BoundedMemoryUpload(FileUploadHandler):
    """Keeps an uploaded file in memory and stops reading it past the size limit."""

    def __init__(self, request: HttpRequest | None = None, limit: int = 0) -> None:
        super().__init__(request)
        self.limit = limit
        self.too_large = False
        # Counted over the whole request: many files just under the limit are refused too.
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.buffer = BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            self.buffer,
            self.field_name,
            self.file_name,
            self.content_type,
            file_size,
            self.charset,
            self.content_type_extra,
        )


@csrf_exempt  # checked by `_upload` below, once the upload handler is in place
@staff_view("clinical.document.add", Capability.ADD_DOCUMENT)
@require_POST
def document_add(request: HttpRequest, patient_id: str) -> HttpResponse:
    handler = BoundedMemoryUpload(request, max_bytes())
    request.upload_handlers = [handler]
    return _upload(request, patient_id, handler)


@csrf_protect
def _upload(request: HttpRequest, patient_id: str, handler: BoundedMemoryUpload) -> HttpResponse:
    actor = signed_in_actor(request)
    chart = open_chart(actor=actor, patient_id=patient_id)
    form = DocumentForm(request.POST, request.FILES, encounters=chart.encounters)
    if handler.too_large:
        form.is_valid()
        form.errors.clear()
        form.add_error("file", too_large_message())
    elif form.is_valid():
        data = form.cleaned_data
        try:
            document = add_document(
                actor=actor,
                patient_id=patient_id,
                encounter_id=data["encounter"],
                title=data["title"],
                content=data["file"].read(),
                category=data["category"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Document added."))
            return redirect(reverse("web:chart", args=[patient_id]) + f"#document-{document.pk}")
    return render_chart(request, chart, status=400, document_form=form)


@staff_view("clinical.document.view", Capability.VIEW_CLINICAL)
def document_view(request: HttpRequest, patient_id: str, document_id: str) -> HttpResponse:
    document = open_document(
        actor=signed_in_actor(request), patient_id=patient_id, document_id=document_id
    )
    # The title is the patient's data: the file is named by its kind only.
    name = f"document.{_EXTENSIONS.get(document.kind, 'bin')}"
    return file_response(document.content, document.kind, name, store=True)
