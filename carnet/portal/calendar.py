"""An appointment as an iCalendar file (RFC 5545) for the patient's own calendar. A calendar
is synchronised, shared with family, shown on a locked phone: by default the event says only
when and where; the practitioner and the consultation's motive go in only if the patient
ticks them."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from icalendar import Calendar, Event

from carnet.scheduling.models import AppointmentState
from carnet.scheduling.online import OwnAppointment

# What the patient may choose to add to the event (nothing by default).
OPTIONAL_DETAILS = ("practitioner", "motive")
CANCELLED_STATES = (
    AppointmentState.CANCELLED_BY_PATIENT,
    AppointmentState.CANCELLED_BY_ESTABLISHMENT,
)


def appointment_ics(appointment: OwnAppointment, *, details: frozenset[str] = frozenset()) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Carnet//Patient portal//FR")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{appointment.id}@carnet")
    event.add("dtstamp", timezone.now().astimezone(datetime.UTC))
    event.add("dtstart", appointment.starts_at.astimezone(datetime.UTC))
    event.add("dtend", appointment.ends_at.astimezone(datetime.UTC))
    event.add("summary", _("Appointment at %(place)s") % {"place": appointment.establishment})
    location = ", ".join(p for p in (appointment.establishment, appointment.address) if p)
    event.add("location", location)
    lines = []
    if "practitioner" in details:
        lines.append(_("With: %(who)s") % {"who": appointment.agenda_name})
    if "motive" in details and appointment.motive:
        lines.append(_("For: %(motive)s") % {"motive": appointment.motive})
    lines.append(
        _("Change or cancel it in your patient space: %(url)s")
        % {"url": settings.CARNET_PORTAL_URL}
    )
    event.add("description", "\n".join(lines))
    event.add("class", "PRIVATE")
    event.add("transp", "OPAQUE")
    cancelled = appointment.state in CANCELLED_STATES
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
