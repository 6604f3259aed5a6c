"""Loads the catalogue again (data/lab_tests.json and data/lab_limits.json): plausibility
limits, computed tests (LDL by Friedewald, eGFR by CKD-EPI 2021)."""

from django.db import migrations


def load_catalogue(apps, schema_editor):
    from carnet.laboratory import catalogue

    catalogue.load(apps.get_model("laboratory", "LabTest"))


class Migration(migrations.Migration):
    dependencies = [("laboratory", "0003_validation_limits_corrections_alerts")]

    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]
