"""What every staff and portal view needs: the actor of a request that `staff_view` or
`portal_view` already let in, domain errors shown next to the form fields they concern, and a
patient's file served as nothing but itself."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from carnet.guard.actors import Actor, actor_for_request


def signed_in_actor(request: HttpRequest) -> Actor:
    actor = actor_for_request(request)
    assert actor is not None, "called outside a staff_view or portal_view"
    return actor


def add_domain_errors(form: forms.Form, error: ValidationError) -> None:
    """A domain's ValidationError on the form: per field where it names one, else on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        for item in errors:
            form.add_error(field if field in form.fields else None, item)


# What a served file may do once in the browser: nothing but show itself.
DOCUMENT_POLICY = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def file_response(
    content: bytes, content_type: str, filename: str, *, store: bool = False
) -> HttpResponse:
    """A patient's file (an uploaded document, a printout) shown inline under a neutral name
    (never the patient's: it would end in download folders), never sniffed as anything else,
    sandboxed; kept out of every cache unless `store`."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = DOCUMENT_POLICY
    if not store:
        response["Cache-Control"] = "no-store"
    return response
