"""Free slots: opening hours, durations, absences, taken appointments, notice and horizon, and
the daylight-saving changes of Europe/Paris."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from carnet.scheduling.models import Absence, OpeningHours
from carnet.scheduling.slots import free_slots

from .factories import agenda_with_hours

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
MONDAY = datetime.date(2026, 12, 7)
LONG_BEFORE = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)


def _local(slots):
    return [s.starts_at.astimezone(PARIS).strftime("%a %H:%M") for s in slots]


def test_slots_follow_opening_hours_and_duration(establishment):
    consultation = agenda_with_hours(establishment, minutes=45)
    slots = free_slots(consultation_type=consultation, first_day=MONDAY, days=1, now=LONG_BEFORE)
    # 11:15 ends at 12:00 sharp: offered; nothing starts later.
    assert _local(slots) == ["Mon 09:00", "Mon 09:45", "Mon 10:30", "Mon 11:15"]
    assert all(s.ends_at - s.starts_at == datetime.timedelta(minutes=45) for s in slots)


def test_no_slot_on_closed_days_or_during_an_absence(establishment):
    consultation = agenda_with_hours(establishment)
    Absence.objects.create(
        agenda=consultation.agenda,
        starts_at=datetime.datetime(2026, 12, 7, 10, 0, tzinfo=PARIS),
        ends_at=datetime.datetime(2026, 12, 7, 11, 0, tzinfo=PARIS),
        reason="Réunion de service",
    )
    week = free_slots(consultation_type=consultation, first_day=MONDAY, days=7, now=LONG_BEFORE)
    monday = [s for s in _local(week) if s.startswith("Mon")]
    assert monday == ["Mon 09:00", "Mon 09:30", "Mon 11:00", "Mon 11:30"]
    assert not [s for s in _local(week) if s.startswith(("Sat", "Sun"))]


def test_notice_and_horizon(establishment):
    consultation = agenda_with_hours(establishment, notice_hours=48, horizon_days=4)
    now = datetime.datetime(2026, 12, 7, 8, 0, tzinfo=PARIS)
    slots = free_slots(consultation_type=consultation, first_day=MONDAY, days=7, now=now)
    days = {s.starts_at.astimezone(PARIS).date() for s in slots}
    assert days == {datetime.date(2026, 12, 9), datetime.date(2026, 12, 10)}


def _night_agenda(establishment):
    consultation = agenda_with_hours(establishment, minutes=60)
    OpeningHours.objects.filter(agenda=consultation.agenda).delete()
    for weekday in range(7):
        OpeningHours.objects.create(
            agenda=consultation.agenda,
            weekday=weekday,
            opens=datetime.time(0),
            closes=datetime.time(5),
        )
    return consultation


def test_spring_forward_the_missing_hour_is_not_offered(establishment):
    consultation = _night_agenda(establishment)
    day = datetime.date(2027, 3, 28)  # 02:00 -> 03:00 in Paris
    before = datetime.datetime(2027, 3, 20, tzinfo=datetime.UTC)
    slots = free_slots(consultation_type=consultation, first_day=day, days=1, now=before)
    assert _local(slots) == ["Sun 00:00", "Sun 03:00", "Sun 04:00"]
    # 01:00-02:00 would end at a time that does not exist; 02:00 does not exist.
    assert all(s.ends_at - s.starts_at == datetime.timedelta(hours=1) for s in slots)


def test_fall_back_the_repeated_hour_is_not_offered_twice(establishment):
    consultation = _night_agenda(establishment)
    day = datetime.date(2027, 10, 31)  # 03:00 -> 02:00 in Paris
    before = datetime.datetime(2027, 10, 20, tzinfo=datetime.UTC)
    slots = free_slots(consultation_type=consultation, first_day=day, days=1, now=before)
    starts = [s.starts_at for s in slots]
    assert len(starts) == len(set(starts))
    assert _local(slots) == ["Sun 00:00", "Sun 03:00", "Sun 04:00"]


def test_closing_at_23_59_runs_to_midnight(establishment):
    """An agenda open all day (an emergency department) has its last slot end at 00:00, and
    the next day's first slot start then: no gap at midnight."""
    consultation = agenda_with_hours(
        establishment,
        minutes=15,
        hours={d: [(datetime.time(0), datetime.time(23, 59))] for d in range(7)},
    )
    slots = free_slots(consultation_type=consultation, first_day=MONDAY, days=2, now=LONG_BEFORE)
    assert len(slots) == 2 * 96
    assert _local(slots)[94:98] == ["Mon 23:30", "Mon 23:45", "Tue 00:00", "Tue 00:15"]
    assert slots[95].ends_at == slots[96].starts_at
