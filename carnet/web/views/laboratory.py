"""Laboratory pages: the bench's worklist and order sheets (collection, result entry,
validation) for the technicians of the ordering laboratory, and a patient's results with the
order form for clinicians. Each view parses input, calls one function of the laboratory
domain (which goes through the guard), and renders what it was handed."""

from __future__ import annotations

import datetime

import segno
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from carnet.guard.actors import Actor
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability
from carnet.laboratory.alerts import acknowledge_alert, alerts_for
from carnet.laboratory.corrections import correct_result
from carnet.laboratory.inbound import quarantine, retry_quarantined, set_aside_quarantined
from carnet.laboratory.models import Priority
from carnet.laboratory.selectors import (
    Tab,
    catalogue,
    find_accession,
    laboratories_for,
    order_sheet,
    patient_results,
    worklist,
)
from carnet.laboratory.services import (
    collect_specimens,
    enter_results,
    order_tests,
    return_result,
    validate_results,
)
from carnet.laboratory.values import editable, needs_second_entry

from .common import add_domain_errors, signed_in_actor

TAB_LABELS = {
    Tab.TO_COLLECT: gettext_lazy("To collect"),
    Tab.TO_ENTER: gettext_lazy("To enter"),
    Tab.TO_VALIDATE: gettext_lazy("To validate"),
    Tab.DONE: gettext_lazy("Done"),
}


@staff_view("lab.worklist", Capability.LAB_WORK)
def lab_worklist(request: HttpRequest) -> HttpResponse:
    actor = signed_in_actor(request)
    accession = request.GET.get("accession", "").strip()[:32]
    if accession:
        order_id = find_accession(actor=actor, accession=accession)
        if order_id:
            return redirect("web:lab_order", order_id=order_id)
        messages.error(
            request, _("No order of your laboratory has the number %(n)s.") % {"n": accession}
        )
    listed = worklist(actor=actor, tab=request.GET.get("tab", Tab.TO_COLLECT))
    tabs = [(name, TAB_LABELS[name], listed.counts[name]) for name in Tab.ALL]
    return render(
        request,
        "web/laboratory/worklist.html",
        {"worklist": listed, "tabs": tabs, "accession": accession},
    )


def _render_order(
    request: HttpRequest, order_id: str, *, errors: dict | None = None, typed: dict | None = None
) -> HttpResponse:
    actor = signed_in_actor(request)
    sheet = order_sheet(actor=actor, order_id=order_id)
    errors, typed = errors or {}, typed or {}
    rows = []
    for line in sheet.lines:
        value = typed.get(f"value_{line.item_id}", editable(line.test, line.value))
        rows.append(
            {
                "line": line,
                "value": value,
                "comment": typed.get(f"comment_{line.item_id}", line.comment),
                "errors": errors.get(f"value_{line.item_id}", []),
                "again": bool(errors.get(f"value_{line.item_id}"))
                and needs_second_entry(line.test, value),
            }
        )
    return render(
        request,
        "web/laboratory/order.html",
        {
            "sheet": sheet,
            "rows": rows,
            "now": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "me": actor.user_id,
            "validatable": sum(
                1 for line in sheet.to_validate if line.entered_by_id != actor.user_id
            ),
        },
        status=400 if errors else 200,
    )


@staff_view("lab.order", Capability.LAB_WORK)
def lab_order(request: HttpRequest, order_id: str) -> HttpResponse:
    return _render_order(request, order_id)


def _errors(error: ValidationError) -> dict[str, list[str]]:
    return error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}


def _collected_at(raw: str) -> datetime.datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError({"collected_at": _("Enter a date and a time.")}) from None
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


@staff_view("lab.collect", Capability.LAB_WORK)
@require_POST
def lab_collect(request: HttpRequest, order_id: str) -> HttpResponse:
    try:
        specimens = collect_specimens(
            actor=signed_in_actor(request),
            order_id=order_id,
            collected_at=_collected_at(request.POST.get("collected_at", "")),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d tube labelled and collected.",
                "%(count)d tubes labelled and collected.",
                len(specimens),
            )
            % {"count": len(specimens)},
        )
    return redirect("web:lab_order", order_id=order_id)


@staff_view("lab.results", Capability.LAB_WORK)
@require_POST
def lab_results(request: HttpRequest, order_id: str) -> HttpResponse:
    entries: dict[int, tuple[str, str]] = {}
    for name, value in request.POST.items():
        if name.startswith("value_") and name[6:].isdigit():
            item = int(name[6:])
            entries[item] = (
                value[:40],
                request.POST.get(f"comment_{item}", "")[:300],
                request.POST.get(f"again_{item}", "")[:40],
            )
    try:
        saved = enter_results(actor=signed_in_actor(request), order_id=order_id, entries=entries)
    except ValidationError as error:
        errors = _errors(error)
        for message in errors.get("__all__", []):
            messages.error(request, message)
        if any(k.startswith("value_") for k in errors):
            messages.error(request, _("Nothing was saved: correct the values marked below."))
        typed = {f"value_{k}": v for k, (v, _c, _a) in entries.items()}
        typed |= {f"comment_{k}": c for k, (_v, c, _a) in entries.items()}
        return _render_order(request, order_id, errors=errors, typed=typed)
    messages.success(
        request,
        ngettext(
            "%(count)d result entered: another technician validates it.",
            "%(count)d results entered: another technician validates them.",
            len(saved),
        )
        % {"count": len(saved)},
    )
    return redirect("web:lab_order", order_id=order_id)


@staff_view("lab.validate", Capability.VALIDATE_LAB)
@require_POST
def lab_validate(request: HttpRequest, order_id: str) -> HttpResponse:
    try:
        count = validate_results(
            actor=signed_in_actor(request),
            order_id=order_id,
            result_ids=request.POST.getlist("result"),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            ngettext("%(count)d result validated.", "%(count)d results validated.", count)
            % {"count": count},
        )
    return redirect("web:lab_order", order_id=order_id)


@staff_view("lab.return", Capability.VALIDATE_LAB)
@require_POST
def lab_return(request: HttpRequest, order_id: str) -> HttpResponse:
    result_id = request.POST.get("return", "")
    try:
        return_result(
            actor=signed_in_actor(request),
            order_id=order_id,
            result_id=result_id,
            reason=request.POST.get(f"reason_{result_id}", "")[:400],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The result is sent back to the bench with your reason."))
    return redirect("web:lab_order", order_id=order_id)


@staff_view("lab.correct", Capability.VALIDATE_LAB)
@require_POST
def lab_correct(request: HttpRequest, order_id: str) -> HttpResponse:
    try:
        correct_result(
            actor=signed_in_actor(request),
            order_id=order_id,
            result_id=request.POST.get("result", ""),
            value=request.POST.get("value", "")[:40],
            again=request.POST.get("again", "")[:40],
            reason=request.POST.get("reason", "")[:400],
            comment=request.POST.get("comment", "")[:300],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, _("The result is corrected: the prescriber is alerted, the old value kept.")
        )
    return redirect("web:lab_order", order_id=order_id)


@staff_view("lab.alerts", Capability.VIEW_CLINICAL)
def lab_alerts(request: HttpRequest) -> HttpResponse:
    rows = alerts_for(actor=signed_in_actor(request))
    return render(request, "web/laboratory/alerts.html", {"alerts": rows})


@staff_view("lab.alerts.acknowledge", Capability.VIEW_CLINICAL)
@require_POST
def lab_alert_acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        acknowledge_alert(actor=signed_in_actor(request), alert_id=alert_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Acknowledged: the laboratory knows you saw it."))
    return redirect("web:lab_alerts")


@staff_view("lab.quarantine", Capability.LAB_WORK)
def lab_quarantine(request: HttpRequest) -> HttpResponse:
    rows = quarantine(actor=signed_in_actor(request))
    return render(request, "web/laboratory/quarantine.html", {"rows": rows})


@staff_view("lab.quarantine.resolve", Capability.LAB_WORK)
@require_POST
def lab_quarantine_resolve(request: HttpRequest, message_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    try:
        if request.POST.get("action") == "retry":
            retry_quarantined(actor=actor, message_id=message_id)
            messages.success(request, _("The message's results are entered: validate them."))
        else:
            set_aside_quarantined(
                actor=actor, message_id=message_id, note=request.POST.get("note", "")[:400]
            )
            messages.success(request, _("The message is set aside, with your reason."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("web:lab_quarantine")


@staff_view("lab.labels", Capability.LAB_WORK)
def lab_labels(request: HttpRequest, order_id: str) -> HttpResponse:
    """The order's tube labels, to print: each tube's barcode (a QR code of its number), the
    patient's name and birth date, the tube. For the laboratory's own technicians only: the
    order is handed over by the guard to its laboratory."""
    sheet = order_sheet(actor=signed_in_actor(request), order_id=order_id)
    labels = [
        {
            "specimen": specimen,
            "code": mark_safe(  # noqa: S308 - segno's own SVG of our barcode text
                segno.make(specimen.barcode, error="m").svg_inline(border=1, omitsize=True)
            ),
        }
        for specimen in sheet.specimens
    ]
    return render(request, "web/laboratory/labels.html", {"sheet": sheet, "labels": labels})


class OrderForm(forms.Form):
    laboratory = forms.ChoiceField(label=gettext_lazy("Laboratory"))
    tests = forms.MultipleChoiceField(label=gettext_lazy("Tests"))
    priority = forms.ChoiceField(
        label=gettext_lazy("Priority"),
        choices=Priority.choices,
        initial=Priority.ROUTINE,
        widget=forms.RadioSelect,
    )
    clinical_information = forms.CharField(
        label=gettext_lazy("Clinical information for the laboratory"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("Fasting, treatment, pregnancy... (sealed in the record)."),
    )

    def __init__(self, *args: object, actor: Actor, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.sections = catalogue()
        self.fields["laboratory"].choices = [
            (str(lab.pk), lab.name) for lab in laboratories_for(actor)
        ]
        self.fields["tests"].choices = [
            (str(test.pk), test.name) for _section, tests in self.sections for test in tests
        ]


def _render_patient_lab(
    request: HttpRequest, patient_id: str, form: OrderForm | None = None
) -> HttpResponse:
    actor = signed_in_actor(request)
    lab = patient_results(actor=actor, patient_id=patient_id)
    if lab.can_order and form is None:
        form = OrderForm(actor=actor)
    chosen = set(form["tests"].value() or []) if form is not None else set()
    return render(
        request,
        "web/laboratory/patient_lab.html",
        {"lab": lab, "form": form if lab.can_order else None, "chosen": chosen},
        status=400 if form is not None and form.errors else 200,
    )


@staff_view("lab.patient", Capability.VIEW_CLINICAL)
def patient_lab(request: HttpRequest, patient_id: str) -> HttpResponse:
    return _render_patient_lab(request, patient_id)


@staff_view("lab.order_tests", Capability.ORDER_LAB)
@require_POST
def patient_lab_order(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    form = OrderForm(request.POST, actor=actor)
    if form.is_valid():
        data = form.cleaned_data
        try:
            order = order_tests(
                actor=actor,
                patient_id=patient_id,
                laboratory_id=data["laboratory"],
                test_ids=data["tests"],
                priority=data["priority"],
                clinical_information=data["clinical_information"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(
                request,
                _("Tests ordered (number %(accession)s): the laboratory sees them now.")
                % {"accession": order.accession},
            )
            return redirect("web:patient_lab", patient_id=patient_id)
    return _render_patient_lab(request, patient_id, form)
