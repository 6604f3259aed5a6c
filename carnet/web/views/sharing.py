"""Sending part of a record to a practitioner outside the group (staff side), and the
recipient's pages: the link, the code from the second channel, then only what was sent."""

from __future__ import annotations

import time

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from carnet.guard.boundary import Refused
from carnet.guard.http import client_ip, outside_view, refusal_response, staff_view
from carnet.guard.policy import Capability
from carnet.organisations.identifiers import validate_rpps
from carnet.patients.selectors import open_identity
from carnet.sharing.services import (
    CODE_FAILURES,
    DEFAULT_DAYS,
    MAX_DAYS,
    OPEN_MINUTES,
    available_items,
    check_code,
    live_share,
    open_share,
    revoke_share,
    share_outside,
    shares_of,
)

from .common import add_domain_errors, signed_in_actor


class OutsideShareForm(forms.Form):
    rpps = forms.CharField(
        label=gettext_lazy("Recipient's RPPS"), max_length=11, validators=[validate_rpps]
    )
    email = forms.EmailField(label=gettext_lazy("Recipient's e-mail address"))
    days = forms.IntegerField(
        label=gettext_lazy("Open for (days)"), min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=300)
    items = forms.MultipleChoiceField(
        label=gettext_lazy("What to send"), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: object, choices: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = choices


@staff_view("sharing.outside", Capability.SHARE_OUTSIDE)
def share_outside_page(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    card = open_identity(actor=actor, patient_id=patient_id)
    offered = available_items(actor=actor, patient_id=card.id)
    choices = [(f"{i.kind}:{i.ref}", i.title) for i in offered]
    form = OutsideShareForm(request.POST or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sent = share_outside(
                actor=actor,
                patient_id=card.id,
                rpps=data["rpps"],
                email=data["email"],
                items=[tuple(value.split(":", 1)) for value in data["items"]],  # type: ignore[misc]
                days=data["days"],
                reason=data["reason"],
                link_for=lambda token: request.build_absolute_uri(
                    reverse("web:shared", args=[token])
                ),
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            return render(request, "web/sharing/sent.html", {"card": card, "sent": sent})
    return render(
        request,
        "web/sharing/share_outside.html",
        {"card": card, "form": form, "shares": shares_of(actor=actor, patient_id=card.id)},
        status=400 if form.errors else 200,
    )


@staff_view("sharing.revoke", Capability.SHARE_OUTSIDE)
@require_POST
def revoke_outside_share(request: HttpRequest, patient_id: str, share_id: str) -> HttpResponse:
    revoke_share(actor=signed_in_actor(request), share_id=share_id)
    messages.success(request, _("The link no longer opens anything."))
    return redirect("web:share_outside", patient_id=patient_id)


# --- The recipient ----------------------------------------------------------------------


def _session_key(share_id: object) -> str:
    return f"carnet_outside_share:{share_id}"


def _share_or_404(token: str):  # type: ignore[no-untyped-def]
    share = live_share(token)
    if share is None:
        raise Http404
    return share


@outside_view
def shared(request: HttpRequest, token: str) -> HttpResponse:
    share = live_share(token)
    if share is None:
        return render(request, "web/outside/gone.html", status=404)
    opened_until = request.session.get(_session_key(share.pk), 0)
    error = ""
    if request.method == "POST":
        if check_code(
            share,
            request.POST.get("code", ""),
            client_ip=client_ip(request),
            request_id=request.request_id,
        ):
            opened_until = time.time() + OPEN_MINUTES * 60
            request.session[_session_key(share.pk)] = opened_until
            return redirect("web:shared", token=token)
        if live_share(token) is None:
            return render(request, "web/outside/gone.html", status=404)
        error = _("This code is not the right one. After %(count)d wrong codes the link stops.") % {
            "count": CODE_FAILURES
        }
    if opened_until < time.time():
        return render(
            request, "web/outside/code.html", {"error": error}, status=400 if error else 200
        )
    try:
        opened = open_share(share, client_ip=client_ip(request), request_id=request.request_id)
    except Refused as refusal:
        return refusal_response(request, refusal)
    return render(request, "web/outside/shared.html", {"opened": opened, "token": token})


@outside_view
def shared_item(request: HttpRequest, token: str, item_id: int) -> HttpResponse:
    share = _share_or_404(token)
    if request.session.get(_session_key(share.pk), 0) < time.time():
        return redirect("web:shared", token=token)
    try:
        opened = open_share(
            share, client_ip=client_ip(request), request_id=request.request_id, item_id=item_id
        )
    except Refused as refusal:
        return refusal_response(request, refusal)
    if not opened.items or opened.content is None:
        raise Http404
    item = opened.items[0][1]
    response = HttpResponse(opened.content, content_type=item.content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
