"""The database itself refuses to change or remove audit rows (PostgreSQL and SQLite)."""

from django.db import migrations


def create_triggers(apps, schema_editor):
    from carnet.audit.triggers import install

    install(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    from carnet.audit.triggers import remove

    remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
