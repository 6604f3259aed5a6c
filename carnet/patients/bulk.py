"""Inserting many rows at once for imports: PostgreSQL's COPY (a large INSERT is re-parsed
and compiled row by row, which made seeding a million patients slower than ten minutes);
`bulk_create` elsewhere. Values go through each field's own pre_save and preparation, so
sealed fields are sealed exactly as on save."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models
from django.db.models import AutoField


def insert_many(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs)
        return
    fields = [
        f for f in model._meta.concrete_fields if not (f.primary_key and isinstance(f, AutoField))
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"  # noqa: S608 - model names
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
