"""A prescription as the PDF the patient takes to the pharmacy (ordonnance): the prescriber
with the RPPS number, the establishment with its FINESS number, the patient, the date, each
line with its dosage and duration, and a verification code. Written from the sheet the guard
already handed over (chart.prescription_sheet, which carries the code); a masked prescription
is never written.

The verification code is a keyed digest of what the prescription says (key derived from the
keyring, outside the database): the same prescription always prints the same code, a changed
line or date gives another, and nobody without the installation's keys can make one up.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from carnet.printing.pdf import Sheet
from carnet.vault.blind import exact_index

from .models import Prescription

if TYPE_CHECKING:
    from .chart import LineView, PrescriptionSheet
    from .letters import LetterSheet


def verification_code(prescription: Prescription) -> str:
    """Twelve characters in three groups, from a keyed digest of what the prescription says
    (in no language: ids, numbers and the lines as written), so every printout of it, in
    French or in English, carries the same code."""
    content = "|".join(
        [
            str(prescription.pk),
            prescription.created_at.isoformat(),
            prescription.prescriber.rpps,
            prescription.establishment.finess,
            str(prescription.patient_id),
            prescription.notes or "",
            *(
                "/".join(
                    str(part)
                    for part in (
                        line.medication_id,
                        line.dosage or "",
                        line.frequency or "",
                        line.route,
                        line.duration_days,
                        line.renewals,
                        # Only when set: the codes printed before the ALD layout still check.
                        *(("ald",) if line.ald else ()),
                    )
                )
                for line in prescription.lines.all()
            ),
        ]
    )
    return grouped_code("prescription-verification", content)


def grouped_code(purpose: str, content: str) -> str:
    """Twelve characters in three groups of a keyed digest (key derived from the keyring for
    this purpose): what a printout carries for a call to check it."""
    digest = exact_index(purpose, content).upper()
    return "-".join(digest[i : i + 4] for i in range(0, 12, 4))


# The two zones' headings, as the Assurance maladie's form words them.
ALD_ZONE = gettext_lazy(
    "Prescriptions related to the treatment of the recognised long-term condition "
    "(listed or not) (EXONERATING CONDITION)"
)
OTHER_ZONE = gettext_lazy(
    "Prescriptions UNRELATED to the long-term condition (INTERCURRENT ILLNESSES)"
)


def _lines(document: Sheet, lines: Sequence[LineView]) -> None:
    if not lines:
        document.text("—", muted=True)
        return
    document.numbered(
        (
            f"{line.medication} ({line.brand})" if line.brand else line.medication,
            [line.dosage, _duration(line.duration_days, line.renewals)],
        )
        for line in lines
    )


def _duration(days: int, renewals: int) -> str:
    text = ngettext("For %(days)d day", "For %(days)d days", days) % {"days": days}
    if renewals:
        again = ngettext(
            "renewable %(renewals)d time", "renewable %(renewals)d times", renewals
        ) % {"renewals": renewals}
    else:
        again = _("not renewable")
    return f"{text} · {again}"


def prescription_pdf(sheet: PrescriptionSheet, *, printed_at: datetime.datetime) -> bytes:
    if sheet.masked:
        raise ValueError("a masked prescription is never printed")
    code = sheet.code
    document = _letterhead(
        title=_("Prescription") + f" · {sheet.patient_name}",
        moment=sheet.created_at,
        code=code,
        practitioner=(sheet.prescriber, sheet.specialty, sheet.rpps),
        establishment=(
            sheet.establishment,
            "",
            sheet.establishment_address,
            sheet.establishment_city,
            sheet.finess,
        ),
        practitioner_first=True,
    )
    document.gap(3)
    _patient(document, sheet.patient_name, sheet.patient_first_names, sheet.birth_date)
    document.gap(5)
    if sheet.bizone:
        # The ALD layout (ordonnance bizone): the lines related to the long-term condition
        # above, the others (intercurrent illnesses) below the rule.
        document.text(str(ALD_ZONE), bold=True, size=9)
        document.gap(2)
        _lines(document, sheet.ald_lines)
        document.gap(3)
        document.rule()
        document.text(str(OTHER_ZONE), bold=True, size=9)
        document.gap(2)
        _lines(document, sheet.other_lines)
    else:
        _lines(document, sheet.lines)
    if sheet.notes:
        document.gap(2)
        document.text(sheet.notes)
    document.gap(10)
    document.text(sheet.prescriber, align="R")
    document.text(_("Signature"), align="R", muted=True, size=9)
    document.gap(12)
    _printed(document, code, printed_at)
    return document.output()


def letter_pdf(sheet: LetterSheet, *, printed_at: datetime.datetime) -> bytes:
    """The signed discharge letter (lettre de liaison) as given to the patient and sent to the
    treating doctor."""
    letter = sheet.letter
    code = sheet.code
    signed = timezone.localtime(letter.signed_at)  # type: ignore[arg-type]
    document = _letterhead(
        title=_("Discharge letter") + f" · {sheet.patient_name}",
        moment=letter.signed_at,  # type: ignore[arg-type]
        code=code,
        practitioner=(sheet.signer, sheet.specialty, sheet.rpps),
        establishment=(
            sheet.establishment,
            sheet.unit,
            sheet.establishment_address,
            sheet.establishment_city,
            sheet.finess,
        ),
        practitioner_first=False,
    )
    if sheet.treating_doctor:
        document.text(_("To %(doctor)s, treating doctor") % {"doctor": sheet.treating_doctor})
    document.gap(3)
    title = _("Discharge letter")
    if letter.version > 1:
        title += " · " + _("version %(version)d, replaces the earlier one") % {
            "version": letter.version
        }
    document.heading(title, size=13)
    _patient(document, sheet.patient_name, sheet.patient_first_names, sheet.birth_date)
    stay = _("Stay from %(start)s") % {
        "start": formats.date_format(timezone.localtime(sheet.admitted_at), "d/m/Y H:i")
    }
    if sheet.discharged_at:
        stay += " " + _("to %(end)s") % {
            "end": formats.date_format(timezone.localtime(sheet.discharged_at), "d/m/Y H:i")
        }
    if sheet.destination:
        stay += f" · {sheet.destination}"
    document.text(stay)
    document.gap(4)
    for heading, text in letter_sections(letter.sections):
        document.text(heading, bold=True)
        document.text(text or "—")
        document.gap(3)
    document.gap(6)
    document.text(sheet.signer, align="R")
    document.text(
        _("Signed on %(at)s") % {"at": formats.date_format(signed, "j F Y, H:i")},
        align="R",
        muted=True,
        size=9,
    )
    document.gap(10)
    _printed(document, code, printed_at)
    return document.output()


def letter_sections(sections: object) -> list[tuple[str, str]]:
    """The letter's sections in reading order, with their headings."""
    headings = (
        ("reason", _("Reason for the stay")),
        ("course", _("Course of the stay")),
        ("results", _("Relevant results")),
        ("allergies", _("Allergies and intolerances")),
        ("treatment", _("Treatment at discharge")),
        ("follow_up", _("Follow-up")),
    )
    return [(heading, getattr(sections, name)) for name, heading in headings]


def _letterhead(
    *,
    title: str,
    moment: datetime.datetime,
    code: str,
    practitioner: tuple[str, str, str],
    establishment: tuple[str, str, str, str, str],
    practitioner_first: bool,
) -> Sheet:
    """A printout's head: the practitioner (name, specialty, RPPS) and the establishment (name,
    unit, address, city, FINESS) side by side, a rule, then the place and the date."""
    name, specialty, rpps = practitioner
    place, unit, address, city, finess = establishment
    document = Sheet(
        title=title,
        created=moment,
        author=name,
        foot=_("Verification code %(code)s") % {"code": code},
    )
    who = [(name, True), (specialty, False), (f"RPPS {rpps}", False)]
    where = [
        (place, True),
        *([(unit, False)] if unit else []),
        *([(address, False)] if address else []),
        (city, False),
        (f"FINESS {finess}", False),
    ]
    document.columns(*((who, where) if practitioner_first else (where, who)))
    document.rule()
    day = formats.date_format(timezone.localtime(moment), "j F Y")
    document.text(f"{city}, {day}", align="R")
    return document


def _patient(document: Sheet, name: str, first_names: str, birth_date: datetime.date) -> None:
    birth = formats.date_format(birth_date, "d/m/Y")
    document.text(
        _("Patient: %(name)s %(first_names)s, born on %(birth)s")
        % {"name": name, "first_names": first_names, "birth": birth},
        bold=True,
    )


def _printed(document: Sheet, code: str, printed_at: datetime.datetime) -> None:
    document.text(
        _("Verification code: %(code)s. Printed on %(at)s.")
        % {"code": code, "at": formats.date_format(timezone.localtime(printed_at), "j F Y, H:i")},
        muted=True,
        size=8.5,
    )
