"""Database triggers that refuse UPDATE and DELETE on the audit tables (PostgreSQL, SQLite).
Installed by a migration; someone with the database owner's rights can still drop them, which
is why the entries are also hash-chained with a key kept outside the database."""

from __future__ import annotations

from typing import Any

TABLES = ("audit_auditentry", "audit_auditsubject", "audit_anchor")

_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION carnet_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % refused on %', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
"""


def install(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_POSTGRES_FUNCTION, None)
            for table in TABLES:
                cursor.execute(
                    f"CREATE OR REPLACE TRIGGER {table}_append_only "
                    f"BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION carnet_audit_append_only();",
                    None,
                )
        elif connection.vendor == "sqlite":
            for table in TABLES:
                for operation in ("update", "delete"):
                    cursor.execute(
                        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{operation} "
                        f"BEFORE {operation.upper()} ON {table} "
                        "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
                    )


def remove(connection: Any) -> None:
    with connection.cursor() as cursor:
        for table in TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};", None)
            elif connection.vendor == "sqlite":
                for operation in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation};")
        if connection.vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS carnet_audit_append_only();", None)
