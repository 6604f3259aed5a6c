"""PROTOTYPES, for measurement only: changes to Carnet's code suggested by the benchmarks,
applied by monkeypatching inside the benchmark process (`--prototype NAME[,NAME]`). Nothing
here changes the product; a run that uses one says so on every figure it prints.

- `key-with-patient`: patients.selectors.guarded_patient fetches the wrapped data key in the
  same query as the patient (a subquery) instead of a separate DataKey query when the first
  sealed field is opened.
- `verify-parallel`: audit.verify.verify() walks the chains in 2 worker processes (forked,
  one database connection each) instead of one after the other.
- `verify-db-stamp`: on PostgreSQL, verify() asks the database for the entry's time already
  written as chain.stamp writes it (to_char in UTC), instead of having psycopg parse a
  timestamptz into a datetime (a regex in Python) that stamp() then formats back to text.
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


def _key_with_patient() -> None:
    from django.db.models import OuterRef, Subquery

    from carnet.guard.boundary import admit_one
    from carnet.patients import selectors
    from carnet.patients.models import Patient
    from carnet.vault import keys as vault_keys
    from carnet.vault import scope as vault_scope
    from carnet.vault.models import DataKey

    def guarded_patient(actor, capability, patient_id):  # type: ignore[no-untyped-def]
        key = selectors.parse_patient_id(patient_id)
        keys = DataKey.objects.filter(owner=OuterRef("id"))
        patient = (
            selectors.with_relations(Patient.objects.filter(id=key))
            .annotate(
                _wrapped=Subquery(keys.values("wrapped")[:1]),
                _kek_version=Subquery(keys.values("kek_version")[:1]),
            )
            .first()
            if key
            else None
        )
        admit_one(actor, capability, selectors.subject_of(patient) if patient else None)
        assert patient is not None
        scope = vault_scope.current_scope()
        if scope is not None and patient._wrapped is not None:
            row = DataKey(
                owner=patient.id, wrapped=patient._wrapped, kek_version=patient._kek_version
            )
            scope.keys[str(patient.id)] = vault_keys._unwrap(row)
        return patient

    _set(selectors, "guarded_patient", guarded_patient)


def _chain_job(chain_id: int) -> tuple[int, list, int]:
    from carnet.audit import verify
    from carnet.audit.models import ChainHead

    report = verify.Report()
    head = ChainHead.objects.filter(chain=chain_id).first()
    verify._verify_chain(chain_id, head, lambda n: None, report)
    return report.entries, report.findings, 1


def _verify_parallel() -> None:
    import multiprocessing

    from django.db import connections

    from carnet.audit import verify
    from carnet.audit.models import AuditEntry, ChainHead

    def parallel_verify(progress=None):  # type: ignore[no-untyped-def]
        report = verify.Report()
        heads = set(ChainHead.objects.values_list("chain", flat=True))
        chains = sorted(heads | set(AuditEntry.objects.values_list("chain", flat=True).distinct()))
        connections.close_all()
        with multiprocessing.get_context("fork").Pool(2) as pool:
            for entries, findings, walked in pool.imap(_chain_job, chains):
                report.entries += entries
                report.findings += findings
                report.chains += walked
        connections.close_all()
        verify._verify_anchors(report)
        return report

    _set(verify, "verify", parallel_verify)


def _verify_db_stamp() -> None:
    import datetime

    from django.db import connection
    from django.db.models import CharField, F, Func

    from carnet.audit import chain, verify
    from carnet.audit.models import AuditEntry

    if connection.vendor != "postgresql":
        return
    # The database must write exactly what chain.stamp writes (its format has changed before).
    sample = datetime.datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    formats = {
        "2001-02-03T04:05:06.000007Z": 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"',
        "2001-02-03T04:05:06.000007+00:00": 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"',
    }
    pattern = formats.get(chain.stamp(sample))
    if pattern is None:
        raise SystemExit(
            f"verify-db-stamp does not know chain.stamp's format {chain.stamp(sample)}"
        )
    at_text = Func(
        F("at"),
        template=f"to_char(%(expressions)s AT TIME ZONE 'UTC', '{pattern}')",
        output_field=CharField(),
    )

    class Entries:
        class objects:  # noqa: N801 - stands in for AuditEntry.objects inside verify
            @staticmethod
            def filter(**lookups):  # type: ignore[no-untyped-def]
                return AuditEntry.objects.annotate(at_text=at_text).filter(**lookups)

            @staticmethod
            def values_list(*names, **options):  # type: ignore[no-untyped-def]
                return AuditEntry.objects.values_list(*names, **options)

    product_stamp = chain.stamp

    def stamp(at):  # type: ignore[no-untyped-def]
        return at if isinstance(at, str) else product_stamp(at)

    _set(verify, "FIELDS", tuple("at_text" if f == "at" else f for f in verify.FIELDS))
    _set(verify, "AuditEntry", Entries)
    _set(chain, "stamp", stamp)


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
    "key-with-patient": _key_with_patient,
    "verify-parallel": _verify_parallel,
    "verify-db-stamp": _verify_db_stamp,
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
