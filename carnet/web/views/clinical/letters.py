"""The discharge letter of a stay: drafted from the stay, written and signed by a practitioner,
read by the care team and the treating doctor, printed as a PDF."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.clinical.chart import open_chart
from carnet.clinical.letters import (
    SECTIONS,
    Sections,
    draft_from_stay,
    letter_sheet,
    letters_of_stay,
    open_letter,
    save_letter,
    stay_results,
)
from carnet.clinical.printouts import letter_pdf, letter_sections
from carnet.guard.boundary import Refused
from carnet.guard.http import staff_view
from carnet.guard.policy import Capability, role_may
from carnet.laboratory.selectors import result_lines

from ..common import add_domain_errors, file_response, signed_in_actor
from .forms import LetterForm


@staff_view("clinical.letter", Capability.SIGN_LETTER)
def letter_write(request: HttpRequest, patient_id: str, encounter_id: str) -> HttpResponse:
    """The stay's letter being written: the practitioner's own draft, else one drafted from the
    stay (not saved until asked). Saving keeps the draft; signing makes it final."""
    actor = signed_in_actor(request)
    chart = open_chart(actor=actor, patient_id=patient_id)
    stay = next((e for e in chart.encounters if e.id == str(encounter_id)), None)
    if stay is None or not stay.is_admission:
        raise Refused("no such stay for this patient", patients=[chart.card.id])
    letters = letters_of_stay(actor=actor, patient_id=patient_id, encounter_id=encounter_id)
    draft = next((letter for letter in letters if not letter.signed), None)
    if request.method == "POST":
        form = LetterForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            sign = request.POST.get("action") == "sign"
            try:
                saved = save_letter(
                    actor=actor,
                    patient_id=patient_id,
                    encounter_id=encounter_id,
                    sections=Sections(**{name: data[name] for name in SECTIONS}),
                    category=data["category"],
                    sign=sign,
                )
            except ValidationError as error:
                add_domain_errors(form, error)
            else:
                if sign:
                    if saved.sent_to_id:
                        messages.success(
                            request,
                            _(
                                "Letter signed and sent to the treating doctor. Print it for the "
                                "patient."
                            ),
                        )
                    else:
                        messages.success(
                            request,
                            _(
                                "Letter signed. No treating doctor in Carnet: print it for the "
                                "patient and for the doctor."
                            ),
                        )
                    return redirect("web:chart_letter", chart.card.id, saved.pk)
                messages.success(request, _("Draft saved: nobody else sees it change."))
                return redirect("web:chart_letter_write", chart.card.id, stay.id)
    elif draft is not None and not draft.masked:
        form = LetterForm(initial={**draft.sections.as_dict(), "category": draft.category})
    else:
        latest = next((letter for letter in letters if letter.signed and not letter.masked), None)
        if latest is not None:
            # A correction starts from the signed letter it replaces.
            initial = latest.sections.as_dict()
        else:
            results = stay_results(stay, result_lines(actor=actor, patient_id=chart.card.id))
            initial = draft_from_stay(chart, stay, results).as_dict()
        form = LetterForm(initial=initial)
    return render(
        request,
        "web/clinical/letter_form.html",
        {
            "card": chart.card,
            "chart": chart,
            "stay": stay,
            "form": form,
            "draft": draft,
            "letters": [letter for letter in letters if letter.signed],
        },
        status=400 if form.errors else 200,
    )


@staff_view("clinical.letter.view", Capability.VIEW_CLINICAL)
def letter_view(request: HttpRequest, patient_id: str, letter_id: str) -> HttpResponse:
    actor = signed_in_actor(request)
    page = open_letter(actor=actor, patient_id=patient_id, letter_id=letter_id)
    return render(
        request,
        "web/clinical/letter.html",
        {
            "card": page.card,
            "letter": page.letter,
            "stay": page.stay,
            "sections": letter_sections(page.letter.sections),
            "can_write": not page.closed and role_may(actor.role, Capability.SIGN_LETTER),
        },
    )


@staff_view("clinical.letter.view", Capability.VIEW_CLINICAL)
def letter_document(request: HttpRequest, patient_id: str, letter_id: str) -> HttpResponse:
    """The signed letter as a PDF; a draft answers with its page."""
    actor = signed_in_actor(request)
    try:
        sheet = letter_sheet(actor=actor, patient_id=patient_id, letter_id=letter_id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("web:chart_letter", patient_id, letter_id)
    content = letter_pdf(sheet, printed_at=timezone.now())
    day = timezone.localtime(sheet.letter.signed_at)
    return file_response(content, "application/pdf", f"lettre-de-liaison-{day:%Y-%m-%d}.pdf")
