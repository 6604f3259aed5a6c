"""The test catalogue's source, data/lab_tests.json, loaded into LabTest keyed by LOINC code:
loading again updates the tests it knows and adds new ones; a test gone from the file stays
(results point to it) but is no longer offered. Used by the data migration (with the
migration's model) and wherever a database lost its rows (a test flush)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parent / "data" / "lab_tests.json"
# Plausibility limits by LOINC code, kept apart with where they come from.
LIMITS = SOURCE.with_name("lab_limits.json")


def _bound(pair: list | None, index: int) -> Decimal | None:
    if not pair or pair[index] is None:
        return None
    return Decimal(str(pair[index]))


def load(model: Any) -> int:
    """Loads the catalogue into `model` (LabTest, or its historical version); returns how
    many tests the file holds."""
    tests = json.loads(SOURCE.read_text(encoding="utf-8"))
    plausible = json.loads(LIMITS.read_text(encoding="utf-8"))["plausible"]
    # A historical model (an earlier migration) lacks the later columns: set only its own.
    known = {f.name for f in model._meta.get_fields()}
    for rank, test in enumerate(tests):
        defaults = {
            "code": test["code"],
            "name_fr": test["name_fr"],
            "name_en": test["name_en"],
            "section": test["section"],
            "specimen": test["specimen"],
            "result_type": test["result_type"],
            "unit": test.get("unit", ""),
            "decimals": test.get("decimals", 0),
            "low": _bound(test.get("range"), 0),
            "high": _bound(test.get("range"), 1),
            "low_female": _bound(test.get("range_female"), 0),
            "high_female": _bound(test.get("range_female"), 1),
            "low_male": _bound(test.get("range_male"), 0),
            "high_male": _bound(test.get("range_male"), 1),
            "critical_low": _bound(test.get("critical"), 0),
            "critical_high": _bound(test.get("critical"), 1),
            "answers": test.get("answers", []),
            "sensitive_category": test.get("sensitive", ""),
            "rank": rank,
            "active": True,
            "plausible_low": _bound(plausible.get(test["loinc"]), 0),
            "plausible_high": _bound(plausible.get(test["loinc"]), 1),
            "computed": test.get("computed", ""),
        }
        model.objects.update_or_create(
            loinc=test["loinc"], defaults={k: v for k, v in defaults.items() if k in known}
        )
    model.objects.exclude(loinc__in=[t["loinc"] for t in tests]).update(active=False)
    return len(tests)


def ensure_loaded() -> None:
    """Loads the catalogue if the table is empty."""
    from .models import LabTest

    if not LabTest.objects.exists():
        load(LabTest)
