"""PROTOTYPES, for measurement only: changes to Carnet's code suggested by the benchmarks,
applied by monkeypatching inside the benchmark process (`--prototype NAME[,NAME]`). Nothing
here changes the product; a run that uses one says so on every figure it prints.

- `seed-copy`: on PostgreSQL, patients.services.import_identities writes its rows (data keys,
  patients, identifiers, care relationships) with COPY instead of bulk INSERTs, which Django
  compiles row by row and psycopg re-parses in Python for every batch (a 2,000-row INSERT is
  far past psycopg's 4,096-character statement cache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

APPLIED: list[str] = []
# (object, attribute, product's value, prototype's value) for every patched attribute.
_PATCHES: list[tuple[Any, str, Any, Any]] = []


def _set(owner: Any, name: str, value: Any) -> None:
    _PATCHES.append((owner, name, getattr(owner, name), value))
    setattr(owner, name, value)


def switch(on: bool) -> None:
    """Puts the prototypes' code (on) or the product's own code (off) in place, so that one
    loop can interleave both and compare them under the same load."""
    for owner, name, product, prototype in _PATCHES:
        setattr(owner, name, prototype if on else product)


_COPIED = {"vault.datakey", "patients.patient", "patients.externalidentifier"}
_COPIED_GUARD = {"guard.carerelationship"}


def _seed_copy() -> None:
    from django.db import connection
    from django.db.models import AutoField
    from django.db.models.query import QuerySet

    product_bulk_create = QuerySet.bulk_create

    def copy_create(self, objs, *args, **kwargs):  # type: ignore[no-untyped-def]
        label = self.model._meta.label_lower
        if connection.vendor != "postgresql" or label not in _COPIED | _COPIED_GUARD:
            return product_bulk_create(self, objs, *args, **kwargs)
        objs = list(objs)
        fields = [
            f
            for f in self.model._meta.concrete_fields
            if not (f.primary_key and isinstance(f, AutoField))
        ]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        table = quote(self.model._meta.db_table)
        sql = f"COPY {table} ({columns}) FROM STDIN"  # noqa: S608 - names from the models
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for obj in objs:
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
                )
        return objs

    _set(QuerySet, "bulk_create", copy_create)


PROTOTYPES: dict[str, Callable[[], None]] = {
    "seed-copy": _seed_copy,
}


def apply(names: str) -> str:
    """Applies the comma-separated prototypes; returns the label to print with figures."""
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in PROTOTYPES:
            raise SystemExit(f"unknown prototype {name!r}: choose from {', '.join(PROTOTYPES)}")
        PROTOTYPES[name]()
        APPLIED.append(name)
    return label()


def label() -> str:
    if not APPLIED:
        return ""
    return f"PROTOTYPE (monkeypatched in this process, not the product): {', '.join(APPLIED)}"
