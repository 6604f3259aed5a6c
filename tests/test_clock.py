"""The moments the suite can run at (tests/clock.py) are the hours they name, and a test runs
at the moment chosen: the check behind "the tests pass at every hour of the day"."""

import datetime
import time

import pytest
import time_machine
from django.utils import timezone

from . import clock, conftest

AFTER = datetime.datetime(2026, 12, 4, 22, 58, tzinfo=datetime.UTC)  # a Friday


def _real_now() -> datetime.datetime:
    """The machine's clock, which time-machine leaves alone behind its escape hatch."""
    hatch = time_machine.escape_hatch
    real = hatch.time.time() if hatch.is_travelling() else time.time()
    return datetime.datetime.fromtimestamp(real, datetime.UTC)


def test_the_named_moments_are_the_hours_they_name():
    sunday = clock.sunday_night(AFTER)
    assert (sunday.weekday(), sunday.hour, sunday.minute) == (6, 23, 55) and sunday > AFTER
    first = clock.month_start(AFTER)
    assert (first.year, first.month, first.day, first.hour, first.minute) == (2027, 1, 1, 0, 5)
    spring = clock.spring_forward(AFTER)
    assert spring.date() == datetime.date(2027, 3, 28) and spring.utcoffset().seconds == 7200
    # Two hours after midnight on the clock, one hour in fact: 02:00-03:00 never happened.
    midnight = datetime.datetime(2027, 3, 28, tzinfo=clock.PARIS)
    assert spring.astimezone(datetime.UTC) - midnight.astimezone(
        datetime.UTC
    ) == datetime.timedelta(hours=2, minutes=5)
    autumn = clock.fall_back(AFTER)
    assert autumn.date() == datetime.date(2027, 10, 31) and autumn.fold == 1
    assert autumn.utcoffset() == datetime.timedelta(hours=1)
    earlier = autumn.replace(fold=0)
    assert autumn.astimezone(datetime.UTC) - earlier.astimezone(datetime.UTC) == datetime.timedelta(
        hours=1
    )


def test_a_named_moment_is_always_ahead():
    for name, moment in clock.NAMED.items():
        for month in range(1, 13):
            after = datetime.datetime(2027, month, 28, 23, 59, tzinfo=clock.PARIS)
            assert moment(after) > after, (name, after)


def test_an_iso_moment_replays_a_run(monkeypatch):
    monkeypatch.setenv(clock.ENVIRONMENT, "2027-10-31T02:05:00+01:00")
    assert clock.chosen() == datetime.datetime(2027, 10, 31, 1, 5, tzinfo=datetime.UTC)
    monkeypatch.setenv(clock.ENVIRONMENT, "2027-10-31T02:05:00")
    with pytest.raises(SystemExit, match="offset"):
        clock.chosen()
    monkeypatch.setenv(clock.ENVIRONMENT, "tomorrow")
    with pytest.raises(SystemExit, match="sunday-night"):
        clock.chosen()


def test_each_test_starts_at_the_chosen_moment(_clock):
    if conftest.MOMENT is None:
        # The real clock: nothing shifted it.
        assert _clock is None and clock.chosen() is None
        assert abs(timezone.now().timestamp() - _real_now().timestamp()) < 30
        return
    assert _clock == conftest.MOMENT
    assert abs(timezone.now() - _clock) < datetime.timedelta(seconds=30)


@pytest.mark.working_hours(10, 30)
def test_a_working_hours_test_starts_the_next_day_at_that_time(_clock):
    local = timezone.localtime()
    assert (local.hour, local.minute) == (10, 30)
    started = conftest.MOMENT or _real_now()
    assert local.date() == started.astimezone(clock.PARIS).date() + datetime.timedelta(days=1)
