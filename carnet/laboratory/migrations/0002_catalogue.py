"""Loads the test catalogue (data/lab_tests.json) into LabTest, keyed by LOINC code (see
carnet/laboratory/catalogue.py)."""

from django.db import migrations


def load_catalogue(apps, schema_editor):
    from carnet.laboratory import catalogue

    catalogue.load(apps.get_model("laboratory", "LabTest"))


class Migration(migrations.Migration):
    dependencies = [("laboratory", "0001_initial")]

    operations = [migrations.RunPython(load_catalogue, migrations.RunPython.noop)]
