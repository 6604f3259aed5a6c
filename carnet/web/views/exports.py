"""Bulk exports: ask with a purpose, wait for a security officer, produce once (the key is
shown once), download the encrypted file until it expires."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from carnet.guard import exports
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability
from carnet.patients.exports import produce_export

from .common import add_domain_errors, signed_in_actor


class ExportForm(forms.Form):
    purpose = forms.CharField(
        label=gettext_lazy("Purpose (read by the security officer who approves it)"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=500,
    )
    identifiers = forms.CharField(
        label=gettext_lazy("IPP numbers, one per line"),
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
    )
    fmt = forms.ChoiceField(
        label=gettext_lazy("Format"), choices=[("csv", "CSV"), ("json", "JSON")]
    )


@staff_view("exports.list", Capability.REQUEST_EXPORT)
def export_list(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            exports.request_export(actor=actor, **form.cleaned_data)
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Export asked. A security officer must approve it."))
            return redirect("web:exports")
    return render(
        request,
        "web/exports.html",
        {"form": form, "exports": exports.mine(actor=actor)},
        status=400 if form.errors else 200,
    )


@staff_view("exports.produce", Capability.REQUEST_EXPORT)
@require_POST
def export_produce(request: HttpRequest, export_id: int) -> HttpResponse:
    produced = produce_export(actor=signed_in_actor(request), export_id=export_id)
    return render(request, "web/export_key.html", {"produced": produced, "export_id": export_id})


@staff_view("exports.download", Capability.REQUEST_EXPORT)
def export_download(request: HttpRequest, export_id: int) -> HttpResponse:
    token, name = exports.sealed_file(actor=signed_in_actor(request), export_id=export_id)
    response = HttpResponse(token, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
