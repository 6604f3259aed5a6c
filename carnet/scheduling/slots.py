"""Free slots of an agenda: the wall-clock grid of its opening hours in the establishment's
time zone, minus absences, appointments that hold their time, the minimum notice and the
booking horizon. A slot that does not exist on the clock (the spring-forward hour) or would
be ambiguous (the autumn hour that happens twice) is not offered. Opening hours that close
at 23:59 run to midnight (an agenda open all day has its last slot end at 00:00)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from .models import Absence, Agenda, Appointment, ConsultationType, OpeningHours

UTC = datetime.UTC
# ConsultationType.minutes is a PositiveSmallIntegerField: no appointment lasts longer.
LONGEST_APPOINTMENT = datetime.timedelta(minutes=32767)
# A time field cannot say 24:00: closing at this minute means closing at midnight.
MIDNIGHT_CLOSE = datetime.time(23, 59)


def _closing(day: datetime.date, closes: datetime.time) -> datetime.datetime:
    if closes >= MIDNIGHT_CLOSE:
        return datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min)
    return datetime.datetime.combine(day, closes)


@dataclass(frozen=True, order=True)
class Slot:
    starts_at: datetime.datetime
    ends_at: datetime.datetime


def _aware(naive: datetime.datetime, zone: ZoneInfo) -> datetime.datetime | None:
    """The instant of a wall-clock time, or None if that time does not exist or is ambiguous."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        return None  # ambiguous (autumn) or nonexistent (spring)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return None
    return first.astimezone(UTC)


def _overlaps(start: datetime.datetime, end: datetime.datetime, spans: list[tuple]) -> bool:
    return any(s < end and start < e for s, e in spans)


def free_slots(
    *,
    consultation_type: ConsultationType,
    first_day: datetime.date,
    days: int = 7,
    now: datetime.datetime | None = None,
    ignore_appointments: bool = False,
) -> list[Slot]:
    """`ignore_appointments`: the agenda's grid only (is this a bookable time at all?)."""
    agenda: Agenda = consultation_type.agenda
    zone = ZoneInfo(settings.TIME_ZONE)
    now = now or timezone.now()
    earliest = now + datetime.timedelta(hours=consultation_type.notice_hours)
    latest = now + datetime.timedelta(days=consultation_type.horizon_days)
    length = datetime.timedelta(minutes=consultation_type.minutes)
    start_range = datetime.datetime.combine(first_day, datetime.time.min, tzinfo=zone)
    end_range = start_range + datetime.timedelta(days=days + 1)
    hours: dict[int, list[tuple[datetime.time, datetime.time]]] = {}
    for opening in OpeningHours.objects.filter(agenda=agenda):
        hours.setdefault(opening.weekday, []).append((opening.opens, opening.closes))
    blocked = [
        (a.starts_at, a.ends_at)
        for a in Absence.objects.filter(
            agenda=agenda, ends_at__gt=start_range, starts_at__lt=end_range
        )
    ]
    if not ignore_appointments:
        # The lower bound on starts_at (no appointment lasts longer than a consultation type
        # can) keeps this an index range on (agenda, starts_at) instead of the whole history.
        blocked += list(
            Appointment.objects.filter(
                agenda=agenda,
                holds_slot=True,
                starts_at__gte=start_range - LONGEST_APPOINTMENT,
                starts_at__lt=end_range,
                ends_at__gt=start_range,
            ).values_list("starts_at", "ends_at")
        )
    slots: list[Slot] = []
    for offset in range(days):
        day = first_day + datetime.timedelta(days=offset)
        for opens, closes in sorted(hours.get(day.weekday(), [])):
            cursor = datetime.datetime.combine(day, opens)
            close = _closing(day, closes)
            while cursor + length <= close:
                start, end = _aware(cursor, zone), _aware(cursor + length, zone)
                cursor += length
                if start is None or end is None or end <= start:
                    continue
                if start < earliest or start > latest or _overlaps(start, end, blocked):
                    continue
                slots.append(Slot(start, end))
    return slots
