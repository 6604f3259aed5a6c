"""Patient search and identity pages. Each view parses input, calls one function of the
patients domain (which goes through the guard), and renders what it was handed."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from carnet.guard.actors import Actor
from carnet.guard.boundary import opened_through
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability, role_may
from carnet.patients.accounts import issue_link_code, portal_status
from carnet.patients.forms import IdentityForm
from carnet.patients.selectors import (
    SearchQuery,
    colleagues_for,
    open_identity,
    practitioners_for,
    search_identities,
)
from carnet.patients.services import (
    StaleIdentity,
    create_identity,
    share_with_colleague,
    update_identity,
)

from ..forms import SearchForm
from .common import add_domain_errors, signed_in_actor
from .identity import identity_extras


@staff_view("patients.search", Capability.SEARCH_IDENTITY)
def search(request: HttpRequest) -> HttpResponse:
    """Criteria come in a POST body, never in the address: names, birth dates and NIRs stay
    out of browser history, proxies and access logs."""
    form = SearchForm(request.POST if request.method == "POST" else None)
    outcome = None
    if request.method == "POST" and form.has_criteria() and form.is_valid():
        outcome = search_identities(
            actor=signed_in_actor(request), query=SearchQuery(**form.cleaned_data)
        )
    template = "web/patients/_results.html" if request.htmx else "web/patients/search.html"
    return render(request, template, {"form": form, "outcome": outcome})


class ShareForm(forms.Form):
    colleague = forms.ModelChoiceField(label=gettext_lazy("Colleague"), queryset=None)
    days = forms.IntegerField(
        label=gettext_lazy("For (days)"), min_value=1, max_value=30, initial=7
    )
    reason = forms.CharField(label=gettext_lazy("Why"), max_length=300)

    def __init__(self, *args: object, actor: Actor, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["colleague"].queryset = colleagues_for(actor)


@staff_view("patients.view", Capability.VIEW_IDENTITY)
def detail(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    card = open_identity(actor=actor, patient_id=patient_id)
    opened_by = opened_through(actor, card.id)
    return render(
        request,
        "web/patients/detail.html",
        {
            "card": card,
            "opened_by": opened_by,
            "shareable": opened_by not in ("outside", "break_glass"),
            "portal_status": portal_status(actor=actor, patient_id=card.id),
            "can_issue_code": role_may(actor.role, Capability.ISSUE_PORTAL_CODE),
            **identity_extras(actor=actor, patient_id=card.id),
        },
    )


@staff_view("patients.portal_code", Capability.ISSUE_PORTAL_CODE)
@require_POST
def portal_code(request: HttpRequest, patient_id: str) -> HttpResponse:
    """A new sign-up code for the patient space, on a letter to print or read out (shown
    once: only its digest is kept)."""
    try:
        issued = issue_link_code(actor=signed_in_actor(request), patient_id=patient_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("web:patient_detail", patient_id=patient_id)
    portal_url = request.build_absolute_uri(reverse("portal:sign_up"))
    return render(
        request, "web/patients/portal_code.html", {"issued": issued, "portal_url": portal_url}
    )


@staff_view("patients.share", Capability.VIEW_IDENTITY)
def share(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    card = open_identity(actor=actor, patient_id=patient_id)
    form = ShareForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            share_with_colleague(
                actor=actor,
                patient_id=patient_id,
                colleague_id=data["colleague"].pk,
                days=data["days"],
                reason=data["reason"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Shared. The colleague can open this record for a while."))
            return redirect("web:patient_detail", patient_id=patient_id)
    return render(
        request,
        "web/patients/share.html",
        {"form": form, "card": card},
        status=400 if form.errors else 200,
    )


@staff_view("patients.create", Capability.CREATE_IDENTITY)
def create(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    form = IdentityForm(request.POST or None, practitioners=practitioners_for(actor))
    if request.method == "POST" and form.is_valid():
        try:
            card = create_identity(actor=actor, data=form.cleaned_data)
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Identity created."))
            return redirect("web:patient_detail", patient_id=card.id)
    status = 400 if form.errors else 200
    return render(request, "web/patients/form.html", {"form": form, "card": None}, status=status)


@staff_view("patients.edit", Capability.EDIT_IDENTITY)
def edit(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    card = open_identity(actor=actor, patient_id=patient_id)
    practitioners = practitioners_for(actor)
    if request.method != "POST":
        form = IdentityForm(initial=card.form_initial(), practitioners=practitioners)
        return render(request, "web/patients/form.html", {"form": form, "card": card})
    form = IdentityForm(request.POST, practitioners=practitioners)
    if form.is_valid():
        try:
            version = int(request.POST.get("version", "0"))
            card = update_identity(
                actor=actor, patient_id=card.id, data=form.cleaned_data, version=version
            )
        except StaleIdentity:
            form.add_error(
                None,
                _(
                    "Someone changed this identity since you opened it: nothing was saved. "
                    "Open it again to see the current version."
                ),
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Identity saved."))
            return redirect("web:patient_detail", patient_id=card.id)
    return render(request, "web/patients/form.html", {"form": form, "card": card}, status=400)
