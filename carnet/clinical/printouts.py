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
from typing import TYPE_CHECKING

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from carnet.printing.pdf import Sheet
from carnet.vault.blind import exact_index

from .models import Prescription

if TYPE_CHECKING:
    from .chart import PrescriptionSheet


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
                    )
                )
                for line in prescription.lines.all()
            ),
        ]
    )
    digest = exact_index("prescription-verification", content).upper()
    return "-".join(digest[i : i + 4] for i in range(0, 12, 4))


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
    created = timezone.localtime(sheet.created_at)
    code = sheet.code
    document = Sheet(
        title=_("Prescription") + f" · {sheet.patient_name}",
        created=sheet.created_at,
        author=sheet.prescriber,
        foot=_("Verification code %(code)s") % {"code": code},
    )
    document.columns(
        [
            (sheet.prescriber, True),
            (sheet.specialty, False),
            (f"RPPS {sheet.rpps}", False),
        ],
        [
            (sheet.establishment, True),
            *([(sheet.establishment_address, False)] if sheet.establishment_address else []),
            (sheet.establishment_city, False),
            (f"FINESS {sheet.finess}", False),
        ],
    )
    document.rule()
    day = formats.date_format(created, "j F Y")
    document.text(f"{sheet.establishment_city}, {day}", align="R")
    document.gap(3)
    birth = formats.date_format(sheet.birth_date, "d/m/Y")
    document.text(
        _("Patient: %(name)s %(first_names)s, born on %(birth)s")
        % {"name": sheet.patient_name, "first_names": sheet.patient_first_names, "birth": birth},
        bold=True,
    )
    document.gap(5)
    document.numbered(
        (
            f"{line.medication} ({line.brand})" if line.brand else line.medication,
            [line.dosage, _duration(line.duration_days, line.renewals)],
        )
        for line in sheet.lines
    )
    if sheet.notes:
        document.gap(2)
        document.text(sheet.notes)
    document.gap(10)
    document.text(sheet.prescriber, align="R")
    document.text(_("Signature"), align="R", muted=True, size=9)
    document.gap(12)
    document.text(
        _("Verification code: %(code)s. Printed on %(at)s.")
        % {"code": code, "at": formats.date_format(timezone.localtime(printed_at), "j F Y, H:i")},
        muted=True,
        size=8.5,
    )
    return document.output()
