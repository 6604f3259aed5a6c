"""The append-only triggers again, on every audit table. On SQLite, 0003's change to the subject
table rebuilt it and took its triggers with it: the per-patient rows (who saw whom) could be
changed or deleted. Installing is idempotent on both databases."""

from django.db import migrations


def create_triggers(apps, schema_editor):
    from carnet.audit.triggers import install

    install(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_auditsubject_relationship_alter_auditentry_patients")]
    operations = [migrations.RunPython(create_triggers, migrations.RunPython.noop)]
