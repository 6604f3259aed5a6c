"""Identity pages beyond the INS traits: insurance cards, death, the authorised correction of a
deceased patient's identity, likely duplicates, merging and undoing a merge. Each view parses
its input, calls one function of the patients domain (which goes through the guard), renders."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability, role_may
from carnet.patients import death as deaths
from carnet.patients import duplicates as doubles
from carnet.patients import insurance, merges
from carnet.patients.record_forms import (
    ComplementaryCoverageForm,
    CorrectionForm,
    DeathForm,
    MandatoryCoverageForm,
    MergeForm,
    PairForm,
    ReasonForm,
)
from carnet.patients.selectors import (
    open_identity,
    parse_patient_id,
    practitioners_for,
    status_history,
)
from carnet.patients.services import StaleIdentity

from .common import add_domain_errors, signed_in_actor


def identity_extras(*, actor: Actor, patient_id: str) -> dict[str, Any]:
    """What the patient page shows of this module's features (the detail view adds it)."""
    may_merge = role_may(actor.role, Capability.MERGE_IDENTITIES)
    return {
        "death": deaths.death_of(actor=actor, patient_id=patient_id),
        "coverage": insurance.coverage_of(actor=actor, patient_id=patient_id),
        "merges": merges.merges_of(actor=actor, patient_id=patient_id),
        "duplicate_count": (
            doubles.duplicate_count(actor=actor, patient_id=patient_id) if may_merge else 0
        ),
        "status_history": status_history(actor=actor, patient_id=patient_id),
        "can_declare_death": role_may(actor.role, Capability.DECLARE_DEATH),
        "can_merge": may_merge,
    }


# Insurance


def _insurance_page(
    request: HttpRequest,
    patient_id: str,
    *,
    mandatory: MandatoryCoverageForm | None = None,
    complementary: ComplementaryCoverageForm | None = None,
    status: int = 200,
) -> HttpResponse:
    actor = signed_in_actor(request)
    sheet = insurance.coverage_of(actor=actor, patient_id=patient_id)
    may_manage = role_may(actor.role, Capability.MANAGE_INSURANCE) and not sheet.read_only
    return render(
        request,
        "web/identity/insurance.html",
        {
            "sheet": sheet,
            "may_manage": may_manage,
            "mandatory_form": mandatory
            or MandatoryCoverageForm(prefix="amo", initial=_renewing(sheet.current_mandatory)),
            "complementary_form": complementary
            or ComplementaryCoverageForm(
                prefix="amc", initial=_renewing(sheet.current_complementary)
            ),
            "open_form": "amo" if mandatory else "amc" if complementary else "",
        },
        status=status,
    )


def _renewing(card: Any) -> dict[str, Any]:
    """A new card is most often the same scheme or organism renewed: start from it."""
    if card is None:
        return {}
    if isinstance(card, insurance.MandatoryCard):
        return {"scheme": card.scheme, "fund_code": card.fund_code}
    return {"organism": card.organism, "amc_number": card.amc_number}


@staff_view("patients.insurance", Capability.VIEW_IDENTITY)
def insurance_page(request: HttpRequest, patient_id: str) -> HttpResponse:
    return _insurance_page(request, patient_id)


def _record_card(
    request: HttpRequest, patient_id: str, form: Any, record: Any, done: str, key: str
) -> HttpResponse:
    if form.is_valid():
        try:
            record(actor=signed_in_actor(request), patient_id=patient_id, data=form.cleaned_data)
        except ValidationError as error:
            if not hasattr(error, "error_dict"):  # the record, not the card (read-only)
                messages.error(request, " ".join(error.messages))
                return redirect("web:patient_insurance", patient_id=patient_id)
            add_domain_errors(form, error)
        else:
            messages.success(request, done)
            return redirect("web:patient_insurance", patient_id=patient_id)
    return _insurance_page(request, patient_id, status=400, **{key: form})


@staff_view("patients.insurance_amo", Capability.MANAGE_INSURANCE)
@require_POST
def insurance_mandatory(request: HttpRequest, patient_id: str) -> HttpResponse:
    form = MandatoryCoverageForm(request.POST, prefix="amo")
    done = _("New AMO card recorded; the previous one stays in the history.")
    return _record_card(
        request, patient_id, form, insurance.record_mandatory_coverage, done, "mandatory"
    )


@staff_view("patients.insurance_amc", Capability.MANAGE_INSURANCE)
@require_POST
def insurance_complementary(request: HttpRequest, patient_id: str) -> HttpResponse:
    form = ComplementaryCoverageForm(request.POST, prefix="amc")
    done = _("New complementary card recorded; the previous one stays in the history.")
    return _record_card(
        request, patient_id, form, insurance.record_complementary_coverage, done, "complementary"
    )


# Death


@staff_view("patients.death", Capability.DECLARE_DEATH)
def declare_death(request: HttpRequest, patient_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    card = open_identity(actor=actor, patient_id=patient_id)
    record = deaths.death_of(actor=actor, patient_id=patient_id)
    preview = deaths.death_preview(actor=actor, patient_id=patient_id)
    form = DeathForm(request.POST or None)
    if request.method == "POST" and record.standing is None and form.is_valid():
        try:
            deaths.declare_death(
                actor=actor,
                patient_id=patient_id,
                died_at=form.died_at,
                place=form.cleaned_data["place"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Death declared. Future appointments were cancelled, the patient space "
                    "is closed and the record is now read-only."
                ),
            )
            return redirect("web:patient_detail", patient_id=patient_id)
    return render(
        request,
        "web/identity/death.html",
        {
            "card": card,
            "record": record,
            "preview": preview,
            "form": form,
            "retract_form": ReasonForm(),
        },
        status=400 if form.errors else 200,
    )


@staff_view("patients.death_retract", Capability.DECLARE_DEATH)
@require_POST
def retract_death(request: HttpRequest, patient_id: str) -> HttpResponse:
    form = ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Say why the declaration was made in error."))
        deaths.retract_death(
            actor=signed_in_actor(request),
            patient_id=patient_id,
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("web:patient_death", patient_id=patient_id)
    messages.success(request, _("The death declaration was retracted; the record is open again."))
    return redirect("web:patient_detail", patient_id=patient_id)


@staff_view("patients.correct", Capability.EDIT_IDENTITY)
def correct_identity(request: HttpRequest, patient_id: str) -> HttpResponse:
    """The authorised correction of a deceased patient's identity, with its reason."""
    actor = signed_in_actor(request)
    card = open_identity(actor=actor, patient_id=patient_id)
    practitioners = practitioners_for(actor)
    if request.method != "POST":
        form = CorrectionForm(initial=card.form_initial(), practitioners=practitioners)
        return render(request, "web/identity/correct.html", {"form": form, "card": card})
    form = CorrectionForm(request.POST, practitioners=practitioners)
    if form.is_valid():
        data = form.cleaned_data
        try:
            deaths.correct_identity(
                actor=actor,
                patient_id=card.id,
                data=data,
                version=int(request.POST.get("version") or 0),
                reason=data["correction_reason"],
            )
        except StaleIdentity:
            form.add_error(None, _("Someone changed this identity since you opened it."))
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Identity corrected; the correction is recorded."))
            return redirect("web:patient_detail", patient_id=card.id)
    return render(request, "web/identity/correct.html", {"form": form, "card": card}, status=400)


# Duplicates and merges


@staff_view("identity.duplicates", Capability.MERGE_IDENTITIES)
def duplicates(request: HttpRequest) -> HttpResponse:
    """Likely duplicates: a few pairs at a time, no paging (see patients.duplicates)."""
    focus = request.GET.get("patient") or None
    if focus is not None and parse_patient_id(focus) is None:
        focus = None
    outcome = doubles.likely_duplicates(actor=signed_in_actor(request), patient_id=focus)
    return render(
        request,
        "web/identity/duplicates.html",
        {"outcome": outcome, "focus": focus, "max_pairs": doubles.MAX_PAIRS},
    )


@staff_view("identity.dismiss", Capability.MERGE_IDENTITIES)
@require_POST
def dismiss(request: HttpRequest) -> HttpResponse:
    form = PairForm(request.POST)
    if not form.is_valid():
        raise Refused("malformed pair", not_found=True)
    doubles.dismiss_pair(
        actor=signed_in_actor(request),
        first_id=form.cleaned_data["first"],
        second_id=form.cleaned_data["second"],
    )
    messages.success(request, _("Marked as two different people: this pair is not proposed again."))
    return redirect("web:duplicates")


@staff_view("identity.merge", Capability.MERGE_IDENTITIES)
def merge(request: HttpRequest) -> HttpResponse:
    """Two records side by side; choose the one that stays and say why."""
    actor = signed_in_actor(request)
    data = request.POST if request.method == "POST" else request.GET
    pair = PairForm(data)
    if not pair.is_valid():
        raise Refused("no pair of records to compare", not_found=True)
    first, second = str(pair.cleaned_data["first"]), str(pair.cleaned_data["second"])
    if first == second:
        messages.error(request, _("Choose two different records."))
        return redirect("web:duplicates")
    preview = merges.merge_preview(actor=actor, first_id=first, second_id=second)
    form = MergeForm(
        request.POST if request.method == "POST" else None, first_id=first, second_id=second
    )
    if request.method == "POST" and form.is_valid():
        survivor = form.cleaned_data["survivor"]
        try:
            merge_id = merges.merge_identities(
                actor=actor,
                survivor_id=survivor,
                merged_id=second if survivor == first else first,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            add_domain_errors(form, error)
        else:
            messages.success(request, _("Records merged. The merge can be undone from this page."))
            return redirect("web:merge_detail", merge_id=merge_id)
    return render(
        request,
        "web/identity/merge.html",
        {
            "preview": preview,
            "form": form,
            "first": first,
            "second": second,
            "undo_days": merges.UNDO_DAYS,
        },
        status=400 if form.errors else 200,
    )


@staff_view("identity.merge_detail", Capability.MERGE_IDENTITIES)
def merge_detail(request: HttpRequest, merge_id: int) -> HttpResponse:
    summary = merges.merge_record(actor=signed_in_actor(request), merge_id=merge_id)
    return render(
        request,
        "web/identity/merge_detail.html",
        {"summary": summary, "undo_form": ReasonForm()},
    )


@staff_view("identity.merge_undo", Capability.MERGE_IDENTITIES)
@require_POST
def merge_undo(request: HttpRequest, merge_id: int) -> HttpResponse:
    form = ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Say why the merge is undone."))
        merges.undo_merge(
            actor=signed_in_actor(request), merge_id=merge_id, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Merge undone: both records are as they were before it."))
    return redirect("web:merge_detail", merge_id=merge_id)
