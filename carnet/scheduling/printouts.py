"""An appointment confirmation as the PDF the desk prints or sends: where, when, with whom and
for what, what to bring, and no more of the patient's identity than the name. A confirmation
of an appointment no longer held is never written."""

from __future__ import annotations

import datetime

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from carnet.printing.pdf import Sheet

from .selectors import Confirmation

# What every confirmation, printed page or PDF, asks the patient to bring, and to do.
TO_BRING = (
    gettext_lazy("your carte Vitale (or your health insurance certificate)"),
    gettext_lazy("your complementary health insurance (mutuelle) card"),
    gettext_lazy("an identity document (identity card, passport or residence permit)"),
)
ARRIVE_EARLY = gettext_lazy(
    "Please arrive a few minutes early. If you cannot come, tell us as soon as possible so "
    "that the time can be given to someone else."
)


def confirmation_pdf(shown: Confirmation, *, printed_at: datetime.datetime) -> bytes:
    if shown.called_off:
        raise ValueError("an appointment no longer held is never confirmed")
    starts = timezone.localtime(shown.starts_at)
    where = " ".join(p for p in (shown.establishment_address, shown.establishment_city) if p)
    document = Sheet(
        title=_("Appointment confirmation"),
        created=printed_at,
        author=shown.establishment,
        foot=shown.establishment,
    )
    document.text(shown.establishment, bold=True)
    if where:
        document.text(where, muted=True)
    document.rule()
    document.heading(_("Appointment confirmation"))
    document.text(formats.date_format(starts, "l j F Y"), size=13)
    document.text(formats.time_format(starts, "H:i"), size=20, bold=True)
    document.gap(4)
    with_whom = shown.practitioner or shown.agenda_name
    if shown.practitioner and shown.specialty:
        with_whom += f" — {shown.specialty}"
    for label, value in (
        (_("Patient"), shown.patient_name),
        (_("With"), with_whom),
        (_("For"), f"{shown.motive} ({shown.minutes} min)"),
        (_("Where"), ", ".join(p for p in (shown.establishment, where) if p)),
    ):
        document.text(label, muted=True, size=9)
        document.text(value)
        document.gap(1.5)
    document.gap(3)
    document.text(_("Please bring"), bold=True)
    for item in TO_BRING:
        document.text(f"• {item}")
    document.gap(3)
    document.text(str(ARRIVE_EARLY))
    document.gap(8)
    document.text(
        _("Printed on %(at)s.")
        % {"at": formats.date_format(timezone.localtime(printed_at), "j F Y, H:i")},
        muted=True,
        size=8.5,
    )
    return document.output()
