"""The patient's access history as a patient reads it: by day, and within a day by person
(an automatic task or a practitioner outside the establishment counting as one), the
patient's own acts apart. Grouping only: what the lines say comes from the audit, via the
guard."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from carnet.guard.incidents import OwnAccess


@dataclass
class PersonLines:
    """What one person (or the installation) did on the record that day, newest first."""

    name: str
    role_label: str
    outside_rpps: str
    automatic: bool
    lines: list[OwnAccess] = field(default_factory=list)
    refused: bool = False


@dataclass
class DayLines:
    day: datetime.date
    people: list[PersonLines] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(person.lines) for person in self.people)


def _person_key(line: OwnAccess) -> str:
    if line.outside_rpps:
        return f"outside:{line.outside_rpps}"
    if line.actor_id is not None and line.name:
        return f"account:{line.actor_id}"
    return "automatic"


def _by_day(lines: list[OwnAccess]) -> list[DayLines]:
    days: dict[datetime.date, DayLines] = {}
    people: dict[tuple[datetime.date, str], PersonLines] = {}
    for line in lines:  # newest first: days and people come in the order of their latest act
        day = timezone.localdate(line.at)
        group = days.setdefault(day, DayLines(day))
        key = (day, _person_key(line))
        person = people.get(key)
        if person is None:
            person = people[key] = PersonLines(
                name=line.name,
                role_label=line.role_label,
                outside_rpps=line.outside_rpps,
                automatic=key[1] == "automatic",
            )
            group.people.append(person)
        person.lines.append(line)
        person.refused = person.refused or line.outcome == "refused"
    return list(days.values())


def grouped_history(lines: list[OwnAccess]) -> tuple[list[DayLines], list[DayLines]]:
    """(what others did, by day and person; what the patient did, by day)."""
    others = [line for line in lines if not line.by_self]
    own = [line for line in lines if line.by_self]
    return _by_day(others), _by_day(own)
