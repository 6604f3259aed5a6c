"""The moment the test suite runs at: the real clock by default, or the hour named by
`CARNET_TEST_CLOCK`, where code that reads "now" most often goes wrong (late on a Sunday, the
first minutes of a month, the nights Paris changes hour).

`CARNET_TEST_CLOCK` takes a name below or an ISO 8601 date-time with its offset; each test
then starts at that moment, with the clock running from there (the live server's thread and
the browser follow it). A named moment is the next one to come, so that data made with the
real clock (migrations) stays in the past; the suite prints the moment it chose, and that
ISO value replays the run.
"""

from __future__ import annotations

import datetime
import os
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
ENVIRONMENT = "CARNET_TEST_CLOCK"


def _last_sunday(year: int, month: int) -> datetime.date:
    day = datetime.date(year, month + 1, 1) - datetime.timedelta(days=1)
    return day - datetime.timedelta(days=(day.weekday() - 6) % 7)


def sunday_night(after: datetime.datetime) -> datetime.datetime:
    """23:55 on the next Sunday: the day, the week and the agenda all end within minutes."""
    local = after.astimezone(PARIS)
    day = local.date() + datetime.timedelta(days=(6 - local.weekday()) % 7 or 7)
    return datetime.datetime.combine(day, datetime.time(23, 55), tzinfo=PARIS)


def month_start(after: datetime.datetime) -> datetime.datetime:
    """00:05 on the first of the next month: yesterday is in another month (and year)."""
    local = after.astimezone(PARIS)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime.datetime(year, month, 1, 0, 5, tzinfo=PARIS)


def _next_change(after: datetime.datetime, month: int) -> datetime.date:
    year = after.astimezone(PARIS).year
    day = _last_sunday(year, month)
    if datetime.datetime.combine(day, datetime.time(0), tzinfo=PARIS) <= after:
        day = _last_sunday(year + 1, month)
    return day


def spring_forward(after: datetime.datetime) -> datetime.datetime:
    """03:05 on the last Sunday of March, just after 02:00 became 03:00: a day of 23 hours,
    and the hour between 02:00 and 03:00 never existed."""
    day = _next_change(after, 3)
    return datetime.datetime.combine(day, datetime.time(3, 5), tzinfo=PARIS)


def fall_back(after: datetime.datetime) -> datetime.datetime:
    """02:05 on the last Sunday of October, the second time: 03:00 went back to 02:00, so this
    local time happened twice (the later one, fold=1) and the day has 25 hours."""
    day = _next_change(after, 10)
    return datetime.datetime.combine(day, datetime.time(2, 5, fold=1), tzinfo=PARIS)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def next_day_at(after: datetime.datetime, hour: int, minute: int = 0) -> datetime.datetime:
    """That local time on the day after `after` (Paris)."""
    day = after.astimezone(PARIS).date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


NAMED = {
    "sunday-night": sunday_night,
    "month-start": month_start,
    "spring-forward": spring_forward,
    "fall-back": fall_back,
}


def chosen(after: datetime.datetime | None = None) -> datetime.datetime | None:
    """The moment asked by the environment (aware), or None for the real clock."""
    value = os.environ.get(ENVIRONMENT, "").strip()
    if not value:
        return None
    after = after or now()
    if value in NAMED:
        return NAMED[value](after)
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(
            f"{ENVIRONMENT}={value!r}: give one of {', '.join(NAMED)} or an ISO 8601 date-time"
        ) from None
    if moment.tzinfo is None:
        raise SystemExit(f"{ENVIRONMENT}={value!r}: give the offset too (+01:00, Z)")
    return moment
