"""What every staff and portal view needs: the actor of a request that `staff_view` or
`portal_view` already let in, and domain errors shown next to the form fields they concern."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest

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
