"""The security officer's console: alerts, locked accounts, break-the-glass reviews, audit
search by account, patient and time, and the incident report (CSV or JSON)."""

from __future__ import annotations

import datetime
import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from carnet.guard import approvals, console, exports, incidents
from carnet.guard.http import confirm_second_factor, staff_view
from carnet.guard.policy import Capability
from carnet.staff.selectors import change_details, display_names, establishment_names_by_id

from .common import signed_in_actor


class AuditQueryForm(forms.Form):
    account = forms.CharField(label=gettext_lazy("Account (username)"), required=False)
    patient = forms.UUIDField(label=gettext_lazy("Patient id"), required=False)
    start = forms.DateTimeField(
        label=gettext_lazy("From"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label=gettext_lazy("To"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean_account(self) -> int | None:
        name = self.cleaned_data["account"].strip()
        if not name:
            return None
        user_id = (
            get_user_model().objects.filter(username=name).values_list("pk", flat=True).first()
        )
        if user_id is None:
            raise ValidationError(_("No account with this username."))
        return user_id


@staff_view("security.console", Capability.SECURITY_CONSOLE)
def console_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/security/console.html",
        {
            "summary": console.summary(actor=signed_in_actor(request)),
            "changes": approvals.pending(),
            "exports": exports.pending(),
            "query": AuditQueryForm(),
            "needs_code": not signed_in_actor(request).second_factor_fresh,
        },
    )


@staff_view("security.acknowledge", Capability.SECURITY_CONSOLE)
@require_POST
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    console.acknowledge(actor=signed_in_actor(request), alert_id=alert_id)
    return redirect("web:security")


@staff_view("security.unlock", Capability.SECURITY_CONSOLE)
@require_POST
def unlock(request: HttpRequest, user_id: int) -> HttpResponse:
    actor = signed_in_actor(request)
    try:
        console.unlock(
            actor=actor,
            user_id=user_id,
            reason=request.POST.get("reason", ""),
            token=request.POST.get("token", ""),
        )
    except approvals.SecondFactorNeeded as needed:
        messages.error(request, needed.message or _("Enter the code of your authenticator app."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        _second_factor_used(request, actor)
        messages.success(request, _("Account unlocked."))
    return redirect("web:security")


def _second_factor_used(request: HttpRequest, actor: object) -> None:
    """A decision that needed the second factor and went through: the code was good, so the
    officer need not type another for a few minutes."""
    if not getattr(actor, "second_factor_fresh", False):
        confirm_second_factor(request)


@staff_view("security.review", Capability.SECURITY_CONSOLE)
@require_POST
def review(request: HttpRequest, opening_id: int) -> HttpResponse:
    console.review_break_glass(
        actor=signed_in_actor(request),
        opening_id=opening_id,
        justified=request.POST.get("verdict") == "justified",
        note=request.POST.get("note", ""),
    )
    messages.success(request, _("Review recorded."))
    return redirect("web:security")


@staff_view("security.audit", Capability.VIEW_AUDIT)
def audit_search(request: HttpRequest) -> HttpResponse:
    form = AuditQueryForm(request.GET or None)
    entries, history = None, None
    if form.is_valid():
        data = form.cleaned_data
        actor = signed_in_actor(request)
        entries = incidents.search_audit(
            actor=actor,
            account_id=data["account"],
            patient_id=str(data["patient"]) if data["patient"] else None,
            start=data["start"],
            end=data["end"],
        )
        if data["patient"]:
            accesses = list(incidents.access_history(actor=actor, patient_id=str(data["patient"])))
            names = display_names({a.actor_id for a in accesses if a.actor_id})
            places = establishment_names_by_id(
                {a.establishment_id for a in accesses if a.establishment_id}
            )
            history = [
                {
                    "access": a,
                    "name": names.get(a.actor_id, a.actor),
                    "establishment": places.get(a.establishment_id, ""),
                }
                for a in accesses
            ]
    return render(
        request,
        "web/security/audit.html",
        {"query": form, "entries": entries, "history": history},
    )


@staff_view("security.incident_report", Capability.VIEW_AUDIT)
def incident_report(request: HttpRequest) -> HttpResponse:
    form = AuditQueryForm(request.GET or None)
    if not form.is_valid() or form.cleaned_data["account"] is None:
        messages.error(request, _("An incident report needs an account."))
        return redirect("web:security_audit")
    data = form.cleaned_data
    end = data["end"] or timezone.now()
    start = data["start"] or end - datetime.timedelta(days=30)
    rows = incidents.report_rows(
        incidents.exposure_report(
            actor=signed_in_actor(request), account_id=data["account"], start=start, end=end
        )
    )
    fmt = "json" if request.GET.get("format") == "json" else "csv"
    response = HttpResponse(
        incidents.render_report(rows, fmt),
        content_type="application/json" if fmt == "json" else "text/csv; charset=utf-8",
    )
    name = f"incident-{request.GET.get('account')}-{uuid.uuid4().hex[:6]}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_view("security.change", Capability.SECURITY_CONSOLE)
def change_detail(request: HttpRequest, change_id: int) -> HttpResponse:
    details = change_details(actor=signed_in_actor(request), change_id=change_id)
    return render(
        request,
        "web/security/change.html",
        {"details": details, "needs_code": not signed_in_actor(request).second_factor_fresh},
    )


@staff_view("security.decide", Capability.SECURITY_CONSOLE)
@require_POST
def decide(request: HttpRequest, change_id: int) -> HttpResponse:
    """Approving asks for the officer's second factor (once every few minutes)."""
    actor = signed_in_actor(request)
    approved = request.POST.get("decision") == "approve"
    try:
        approvals.decide(
            actor=actor,
            change_id=change_id,
            approve=approved,
            note=request.POST.get("note", ""),
            token=request.POST.get("token", ""),
        )
    except approvals.SecondFactorNeeded as needed:
        messages.error(request, needed.message or _("Enter the code of your authenticator app."))
        return redirect("web:security_change", change_id=change_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if approved:
            _second_factor_used(request, actor)
        messages.success(request, _("Change approved.") if approved else _("Change rejected."))
    return redirect("web:security")


@staff_view("security.decide_export", Capability.SECURITY_CONSOLE)
@require_POST
def decide_export(request: HttpRequest, export_id: int) -> HttpResponse:
    actor = signed_in_actor(request)
    approved = request.POST.get("decision") == "approve"
    try:
        exports.decide_export(
            actor=actor,
            export_id=export_id,
            approve=approved,
            note=request.POST.get("note", ""),
            token=request.POST.get("token", ""),
        )
    except approvals.SecondFactorNeeded as needed:
        messages.error(request, needed.message or _("Enter the code of your authenticator app."))
        return redirect("web:security")
    if approved:
        _second_factor_used(request, actor)
    messages.success(request, _("Export approved.") if approved else _("Export rejected."))
    return redirect("web:security")
