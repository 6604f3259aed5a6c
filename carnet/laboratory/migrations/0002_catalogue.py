"""Loads the test catalogue (data/lab_tests.json) into LabTest, keyed by LOINC code: run
again, it updates the tests it knows and adds the new ones; a test that left the file is
kept (results point to it) but no longer offered."""

import json
from decimal import Decimal
from pathlib import Path

from django.db import migrations

CATALOGUE = Path(__file__).resolve().parents[1] / "data" / "lab_tests.json"


def _bound(pair, index):
    if not pair or pair[index] is None:
        return None
    return Decimal(str(pair[index]))


def load_catalogue(apps, schema_editor):
    LabTest = apps.get_model("laboratory", "LabTest")
    tests = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for rank, test in enumerate(tests):
        LabTest.objects.update_or_create(
            loinc=test["loinc"],
            defaults={
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
            },
        )
    LabTest.objects.exclude(loinc__in=[t["loinc"] for t in tests]).update(active=False)


class Migration(migrations.Migration):
    dependencies = [("laboratory", "0001_initial")]

    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]
