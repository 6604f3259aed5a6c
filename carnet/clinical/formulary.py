"""The data shipped for safe prescribing, read from carnet/clinical/data: the formulary (each
shipped medication's substance coded in ATC, its classes), the interaction pairs with the
levels of the ANSM thesaurus, and a CIM-10 subset for problem lists. Each file says its
source, date and how large a subset it is. Holds no patient data and reads no table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.translation import gettext_lazy as _

DATA = Path(__file__).resolve().parent / "data"

# The levels of the ANSM thesaurus, most serious first.
LEVELS = ("contraindication", "not_recommended", "precaution", "take_into_account")
LEVEL_LABELS = {
    "contraindication": _("Contraindication"),
    "not_recommended": _("Not recommended"),
    "precaution": _("Precaution for use"),
    "take_into_account": _("To take into account"),
}


@cache
def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def formulary() -> dict:
    return _load("formulary.json")


def interactions() -> dict:
    return _load("interactions.json")


def cim10() -> dict:
    return _load("cim10.json")


@dataclass(frozen=True)
class Substance:
    """What a medication is made of, for the checks: its ATC code, the ATC codes of its
    components (a combination), and its classes."""

    atc: str
    contains: frozenset[str]
    classes: frozenset[str]

    @property
    def codes(self) -> frozenset[str]:
        """Everything this medication can match: substances as "atc:", classes as "class:"."""
        return frozenset(
            {f"atc:{c}" for c in {self.atc, *self.contains} if c}
            | {f"class:{c}" for c in self.classes}
        )


def substance_of(dci: str) -> Substance:
    entry = formulary()["substances"].get(dci)
    if entry is None:
        return Substance(atc="", contains=frozenset(), classes=frozenset())
    return Substance(
        atc=entry["atc"],
        contains=frozenset(entry.get("contains", ())),
        classes=frozenset(entry.get("classes", ())),
    )


def class_label(key: str) -> str:
    return formulary()["classes"].get(key, {}).get("label", key)


def allergy_classes() -> frozenset[str]:
    return frozenset(k for k, v in formulary()["classes"].items() if v["allergy"])


def duplicate_classes() -> frozenset[str]:
    return frozenset(k for k, v in formulary()["classes"].items() if v["duplicate"])


@cache
def allergen_choices() -> tuple[tuple[str, str], ...]:
    """What an allergy can name and the checks can match: the classes first, then each
    substance (DCI) of the formulary."""
    data = formulary()
    classes = sorted((f"class:{k}", v["label"]) for k, v in data["classes"].items() if v["allergy"])
    # Not the substances that tell a sensitive category by themselves (an antiretroviral on
    # every chart's form would read as a hint): written out as another substance instead.
    telling = {m["dci"] for m in _load("medications.json") if m["sensitive"]}
    substances = {
        f"atc:{v['atc']}": dci
        for dci, v in data["substances"].items()
        if v["atc"] and dci not in telling
    }
    substances.update({f"atc:{code}": label for code, label in data["other_allergens"].items()})
    return tuple(classes) + tuple(sorted(substances.items(), key=lambda item: item[1]))


def allergen_label(code: str) -> str:
    return dict(allergen_choices()).get(code, "")


@dataclass(frozen=True)
class Interaction:
    level: str
    note: str


@cache
def _pairs() -> dict[frozenset[str], tuple[str, str]]:
    out: dict[frozenset[str], tuple[str, str]] = {}
    for pair in interactions()["pairs"]:
        out[frozenset({pair["a"], pair["b"]})] = (pair["level"], pair["note"])
    return out


def interaction_between(first: Substance, second: Substance) -> Interaction | None:
    """The most serious listed interaction between two medications, or None. A pair of one
    class with itself ("class:x" twice) applies to two different substances of that class."""
    found: list[tuple[str, str]] = []
    pairs = _pairs()
    for a in first.codes:
        for b in second.codes:
            hit = pairs.get(frozenset({a, b}))
            if hit is not None:
                found.append(hit)
    if not found:
        return None
    level, note = min(found, key=lambda hit: LEVELS.index(hit[0]))
    return Interaction(level=level, note=note)


@cache
def cim10_codes() -> dict[str, tuple[str, str]]:
    return {row["code"]: (row["label"], row["category"]) for row in cim10()["codes"]}
