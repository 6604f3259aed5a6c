"""On PostgreSQL, an exclusion constraint: no two slot-holding appointments of one agenda
overlap in time, whatever the application does. (SQLite relies on immediate transactions and
the overlap check in `book_appointment`, plus the unique start.)"""

from django.db import migrations


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist", None)
    schema_editor.execute(
        "ALTER TABLE scheduling_appointment ADD CONSTRAINT appointment_no_overlap "
        "EXCLUDE USING gist (agenda_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        "WHERE (holds_slot)",
        None,
    )


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_no_overlap",
            None,
        )


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]
    operations = [migrations.RunPython(add_constraint, drop_constraint)]
