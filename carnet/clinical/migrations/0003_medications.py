"""Loads the medication list shipped with Carnet (carnet/clinical/data/medications.json).
Running it again after the file changed adds and updates rows; it never deletes one that a
prescription may name (retired ones are marked inactive by hand)."""

import json
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data" / "medications.json"


def load(apps, schema_editor):
    Medication = apps.get_model("clinical", "Medication")
    for row in json.loads(DATA.read_text(encoding="utf-8")):
        Medication.objects.update_or_create(
            dci=row["dci"],
            strength=row["strength"],
            form=row["form"],
            defaults={"brand": row["brand"], "sensitive": row["sensitive"], "active": True},
        )


class Migration(migrations.Migration):
    dependencies = [("clinical", "0002_clinical_record")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
