"""Pages where the user deliberately asks for more: step-up past the soft exposure limit, and
break-the-glass on a patient with no care relationship. Both need the second factor again."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.guard.break_glass import step_up as confirm_step_up
from carnet.guard.http import STEP_UP_SESSION_KEY, staff_view, step_up_context
from carnet.guard.models import BreakGlassReason
from carnet.guard.policy import Capability
from carnet.patients.services import break_the_glass

from ..forms import TokenForm
from .common import add_domain_errors, signed_in_actor


class StepUpForm(TokenForm):
    reason = forms.CharField(
        label=gettext_lazy("Why do you need to see more patients now?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=500,
    )
    field_order = ["reason", "token"]


class BreakGlassForm(TokenForm):
    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=BreakGlassReason.choices)
    explanation = forms.CharField(
        label=gettext_lazy("Explain (recorded, reviewed by the security officer)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
    )
    field_order = ["reason", "explanation", "token"]


@staff_view("guard.step_up")
def step_up(request: HttpRequest) -> HttpResponse:
    """Confirms with the second factor and a reason; then back where the user was: a page is
    opened again, a post (a search, a booking) is posted again with the same fields."""
    form = StepUpForm(request.POST or None)
    context = step_up_context(request)
    if request.method == "POST" and form.is_valid():
        try:
            until = confirm_step_up(
                actor=signed_in_actor(request),
                reason=form.cleaned_data["reason"],
                token=form.cleaned_data["token"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            request.session[STEP_UP_SESSION_KEY] = until.timestamp()
            if context["replay"]:
                return render(request, "web/step_up_replay.html", context)
            return redirect(context["next"])
    return render(
        request,
        "web/step_up.html",
        {**context, "form": form},
        status=400 if form.errors and not context["partial"] else 200,
    )


@staff_view("guard.break_glass", Capability.BREAK_GLASS)
def break_glass(request: HttpRequest, patient_id: str) -> HttpResponse:
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            opened = break_the_glass(
                actor=signed_in_actor(request),
                patient_id=patient_id,
                reason=form.cleaned_data["reason"],
                explanation=form.cleaned_data["explanation"],
                token=form.cleaned_data["token"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            if not opened:
                messages.warning(
                    request,
                    _(
                        "This patient is not known at your establishments: your request went to "
                        "the security officer, and the record opens once it is approved."
                    ),
                )
                return redirect("web:dashboard")
            messages.warning(
                request,
                _("Access opened for a few hours; the security officer will review it."),
            )
            return redirect("web:patient_detail", patient_id=patient_id)
    return render(
        request,
        "web/patients/break_glass.html",
        {"form": form, "patient_id": patient_id},
        status=400 if form.errors else 200,
    )
