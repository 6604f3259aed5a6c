"""Binary: a document's content, the target of its DocumentReference's attachment URL. Read
through the clinical domain's `open_document`, exactly as the document's page opens it: the
patient decided and counted by the guard, a sensitive category only for whom may see it. The
bytes are served as they were sniffed at upload (PDF, PNG, JPEG), never rendered inline, or
as a FHIR Binary (base64) when the client asks for FHIR JSON."""

from __future__ import annotations

import base64

from django.http import HttpResponse

from carnet.clinical.documents import open_document
from carnet.clinical.models import Document
from carnet.guard.policy import Capability

from ..fhir import ApiError
from ..registry import Call, Interaction, ResourceDefinition, Result, register
from .clinical import _owner

# What the client's Accept asks: the FHIR resource, or the content itself.
FHIR_KINDS = ("application/fhir+json", "application/json", "application/json+fhir")


def read(call: Call) -> Result:
    try:
        patient = _owner(Document)(call.resource_id)
    except (ValueError, TypeError):
        patient = None
    if patient is None:
        raise ApiError(404, "not-found", f"Binary/{call.resource_id} not found.")
    if call.only_patient and patient != call.only_patient:
        raise ApiError(403, "forbidden", "This patient/ token is bound to another patient.")
    document = open_document(actor=call.actor, patient_id=patient, document_id=call.resource_id)
    if call.accept.split(";")[0].strip().lower() in FHIR_KINDS:
        return (
            200,
            {
                "resourceType": "Binary",
                "id": call.resource_id,
                "contentType": document.kind,
                "securityContext": {"reference": f"DocumentReference/{call.resource_id}"},
                "data": base64.b64encode(document.content).decode(),
            },
            {},
        )
    response = HttpResponse(document.content, content_type=document.kind)
    response["Content-Disposition"] = "attachment"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return 200, response, {}


register(
    ResourceDefinition(
        type="Binary",
        documentation=(
            "A document's content (the URL in its DocumentReference): the bytes with their "
            "type, or a FHIR Binary when you Accept application/fhir+json."
        ),
        interactions={"read": Interaction("clinical.document", Capability.VIEW_CLINICAL, read)},
        patient_compartment=True,
    )
)
