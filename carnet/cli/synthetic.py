"""Synthetic, reproducible demo data: a French group of establishments, its staff, and
patients with valid NIR keys, French addresses and phones, and some duplicates-to-be.
Faker fills pools once; patients are drawn from the pools, so a million take minutes."""

from __future__ import annotations

import datetime
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from faker import Faker
from stdnum.fr import nir as stdnum_nir

DEPARTMENTS = [
    "01", "06", "13", "21", "2A", "2B", "31", "33", "34", "35", "38", "42", "44", "59", "63",
    "67", "69", "69", "69", "71", "75", "75", "76", "92", "93", "94", "971", "974",
]  # fmt: skip
ABROAD = ["99350", "99352", "99351", "99109", "99134", "99127", "99139", "99132", "99100"]
COUNTRY_OF = {"99": "France"}
EMAIL_DOMAINS = ["example.fr", "example.org", "example.net"]


@dataclass(frozen=True)
class Pools:
    surnames: list[str]
    female_names: list[str]
    male_names: list[str]
    addresses: list[tuple[str, str, str]]


def make_pools(seed: int, size: int = 4000) -> Pools:
    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    return Pools(
        surnames=sorted({fake.last_name() for _ in range(size)}),
        female_names=sorted({fake.first_name_female() for _ in range(size // 4)}),
        male_names=sorted({fake.first_name_male() for _ in range(size // 4)}),
        addresses=[(fake.street_address(), fake.postcode(), fake.city()) for _ in range(size)],
    )


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-")).lower()


def _birthplace(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return rng.choice(ABROAD)
    department = rng.choice(DEPARTMENTS)
    if len(department) == 3:  # overseas: 97 + 3-digit commune (971xx)
        return department + f"{rng.randint(1, 34):02d}"
    return department + f"{rng.randint(1, 350):03d}"


def make_nir(sex: str, day: datetime.date, birthplace: str, rng: random.Random) -> str:
    sex_digit = 1 if sex == "M" else 2
    order = rng.randint(1, 999)
    body = f"{sex_digit}{day.year % 100:02d}{day.month:02d}{birthplace}{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def _variant(surname: str, rng: random.Random) -> str:
    """A spelling a tired desk might type for the same person."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", surname) if not unicodedata.combining(c)
    )
    choices = [
        plain.replace("-", " "),
        plain + plain[-1],
        plain[:-1] if len(plain) > 4 else plain + "E",
    ]
    return rng.choice([c for c in choices if c != surname] or [surname + "E"])


def identities(
    count: int,
    *,
    seed: int,
    establishment_ids: list[int],
    practitioner_ids: list[int],
    pools: Pools | None = None,
) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    pools = pools or make_pools(seed)
    today = timezone.localdate()
    recent: list[dict[str, Any]] = []
    for index in range(count):
        if recent and index % 97 == 96:
            original = rng.choice(recent)
            yield {
                **original,
                "birth_surname": _variant(original["birth_surname"], rng),
                "status": "provisional",
                "nir": "",
                "used_surname": "",
                "canary": False,
                "establishment_ids": [rng.choice(establishment_ids)],
            }
            continue
        sex = "F" if rng.random() < 0.52 else "M"
        names = pools.female_names if sex == "F" else pools.male_names
        surname = rng.choice(pools.surnames)
        first = rng.choice(names)
        second = rng.choice(names) if rng.random() < 0.6 else ""
        day = today - datetime.timedelta(days=rng.randint(0, 98 * 365))
        birthplace = _birthplace(rng)
        qualified = rng.random() < 0.7
        has_nir = qualified or rng.random() < 0.5
        street, postcode, city = rng.choice(pools.addresses)
        used = rng.choice(pools.surnames) if sex == "F" and rng.random() < 0.25 else ""
        record = {
            "status": "qualified" if qualified else "provisional",
            "sex": sex,
            "birth_surname": surname.upper(),
            "first_names": f"{first} {second}".strip(),
            "used_surname": used.upper(),
            "used_first_name": "",
            "birth_date": day,
            "birthplace_code": birthplace,
            "nir": make_nir(sex, day, birthplace, rng) if has_nir else "",
            "address_line": street,
            "postal_code": postcode,
            "city": city,
            "country": "France",
            "phone": f"+33{rng.choice('67')}{rng.randint(0, 99_999_999):08d}",
            "email": f"{_ascii(first)}.{_ascii(used or surname)}{rng.randint(1, 99)}"
            f"@{rng.choice(EMAIL_DOMAINS)}",
            "treating_doctor": rng.choice(practitioner_ids)
            if practitioner_ids and rng.random() < 0.3
            else None,
            # About one in five hundred is a canary: looks like anyone, is no one.
            "canary": rng.random() < 0.002,
            "establishment_ids": rng.sample(
                establishment_ids, k=1 if rng.random() < 0.8 else min(2, len(establishment_ids))
            ),
        }
        if len(recent) < 500:
            recent.append(record)
        else:
            recent[rng.randrange(500)] = record
        yield record
