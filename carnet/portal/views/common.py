"""Helpers shared by the portal views."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.forms import Form
from django.http import HttpRequest

from carnet.guard.actors import Actor, actor_for_request


def portal_actor(request: HttpRequest) -> Actor:
    actor = actor_for_request(request)
    assert actor is not None  # portal_view let the request in
    return actor


def add_errors(form: Form, error: ValidationError) -> None:
    """A domain refusal shown on the form: on its field when it names one, else on top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)
