"""Verifying the audit log: every entry's keyed hash and link, every chain head, the anchors,
the per-patient subject rows against their entries, and the database against the witness
kept outside it (carnet/audit/witness.py). Reports the first problem of each chain as altered,
deleted, inserted, reordered or truncated; anchors, subjects and the witness each by name.

A chain intact from its first entry up to a witnessed head holds every earlier witnessed head
too (nobody without the key can build another chain that reaches the same hash), so only the
newest witnessed anchor's heads need looking up. Incremental verification starts from the last
checkpoint the witness holds (a verification that found nothing) instead of the first entry.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from . import witness
from .chain import ENTRY_COLUMNS, GENESIS, _base_mac, anchor_hash, canonical, entry_hash, stamp
from .models import Anchor, AuditEntry, AuditSubject, ChainHead

FIELDS = (*ENTRY_COLUMNS, "id")
PATIENTS, HASH, ID = 9, 15, 16


@dataclass
class Finding:
    # altered | deleted | inserted | reordered | truncated | anchor | subject | witness
    kind: str
    chain: int | None
    seq: int | None
    detail: str

    def __str__(self) -> str:
        if self.kind in ("subject", "witness") or self.chain is None:
            where = {"subject": "subjects", "witness": "witness"}.get(self.kind, "anchors")
        else:
            where = f"chain {self.chain} entry {self.seq}"
        return f"{self.kind}: {where}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    anchors: int = 0
    subjects: int = 0
    witnessed: int = 0
    incremental: bool = False
    processes: int = 1  # how many processes walked the chains
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


LOOKAHEAD = 1000
CHUNK = 5000


# A walked row: (seq, canonical content, prev_hash, hash, id, patients, actor_id, at).
SEQ, CONTENT, PREV, STORED, ROW_ID, ROW_PATIENTS, ROW_ACTOR, ROW_AT = range(8)


def _classify(
    chain: int, row: tuple, prev: str, expected_seq: int, ahead: list[tuple]
) -> Finding | None:
    """Names the first problem at `row`, using the rows just after it to tell an altered
    entry from one slipped in or moved (an attacker without the key cannot re-hash)."""
    seq, prev_hash, stored = row[SEQ], row[PREV], row[STORED]
    intact = entry_hash(prev_hash, row[CONTENT]) == stored
    if intact and prev_hash == prev and seq == expected_seq:
        return None
    if any(later[STORED] == prev_hash for later in ahead):
        return Finding("reordered", chain, seq, "follows an entry that now comes after it")
    if seq > expected_seq and prev_hash != prev and intact:
        return Finding(
            "deleted", chain, expected_seq, f"entries {expected_seq}..{seq - 1} are missing"
        )
    following = ahead[0] if ahead else None
    if not intact:
        if following is not None and following[PREV] == prev_hash and prev_hash == prev:
            return Finding("inserted", chain, seq, "an entry was slipped in before the next one")
        return Finding("altered", chain, seq, "content does not match its keyed hash")
    if prev_hash != prev:
        return Finding("deleted", chain, seq, "does not follow the entry before it")
    return Finding("inserted", chain, seq, f"expected position {expected_seq}")


# chain.stamp's text, written by PostgreSQL (checked against stamp() before it is trusted).
_PG_STAMP = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


@cache
def _database_writes_stamps() -> bool:
    """Whether this database can write each entry's canonical text itself (PostgreSQL, with
    the same time format as chain.stamp): the walk then only computes the keyed hashes."""
    if connection.vendor != "postgresql":
        return False
    sample = datetime.datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=datetime.UTC)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT to_char(%s AT TIME ZONE 'UTC', '{_PG_STAMP}')", [sample])
        return cursor.fetchone()[0] == stamp(sample)


def _canonical_sql(with_time: bool) -> str:
    table = AuditEntry._meta.db_table
    content = (
        "concat_ws(chr(31), chain::text, seq::text, "
        f"to_char(at AT TIME ZONE 'UTC', '{_PG_STAMP}'), coalesce(actor_id::text, ''), actor, "
        "role, coalesce(establishment_id::text, ''), action, outcome, patients, "
        "patient_count::text, reason, request_id, coalesce(host(client_ip), ''))"
    )
    at = "at" if with_time else "NULL"
    # The model's own table and columns; the chain and position are parameters.
    columns = f"seq, {content}, prev_hash, hash, id, patients, actor_id, {at}"
    return f"SELECT {columns} FROM {table} WHERE chain = %s AND seq > %s ORDER BY seq"  # noqa: S608


def _walk_rows(chain: int, after: int, with_time: bool) -> Iterator[tuple]:
    """A chain's entries after position `after`, in order, as walked rows."""
    if _database_writes_stamps():
        with connection.chunked_cursor() as cursor:
            cursor.execute(_canonical_sql(with_time), [chain, after])
            while rows := cursor.fetchmany(CHUNK):
                yield from rows
        return
    for row in (
        AuditEntry.objects.filter(chain=chain, seq__gt=after)
        .order_by("seq")
        .values_list(*FIELDS)
        .iterator(chunk_size=CHUNK)
    ):
        yield (
            row[1],
            canonical(*row[:14]),
            row[14],
            row[HASH],
            row[ID],
            row[PATIENTS],
            row[3],
            row[2],
        )


@dataclass
class _Walked:
    """What a chain walk leaves for the checks after it."""

    start_seq: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    hashes: dict[int, str] = field(default_factory=dict)  # seq -> hash, asked-for seqs only
    entries: dict[int, tuple[str, int | None, Any]] = field(default_factory=dict)


def _verify_chain(
    chain: int,
    head: ChainHead | None,
    tick: Callable[[int], None],
    report: Report,
    *,
    start: tuple[int, str] = (0, GENESIS),
    wanted: set[int] | frozenset[int] = frozenset(),
    keep_entries: bool = False,
) -> _Walked:
    """Walks one chain in order from `start` (seq, hash), holding a bounded window of rows."""
    expected_seq, prev = start[0] + 1, start[1]
    rows = _walk_rows(chain, start[0], keep_entries)
    buffer: deque[tuple] = deque()
    pending = 0
    finding: Finding | None = None
    walked = _Walked(start_seq=start[0], last_seq=start[0], last_hash=start[1])
    walked.hashes[start[0]] = start[1]
    base = _base_mac()
    while True:
        row = buffer.popleft() if buffer else next(rows, None)
        if row is None:
            break
        seq, prev_hash, stored = row[SEQ], row[PREV], row[STORED]
        if finding is None:
            # entry_hash(), inlined: this line runs once per entry of the log.
            mac = base.copy()
            mac.update(prev_hash.encode() + b"\x1e" + row[CONTENT].encode())
            if prev_hash != prev or seq != expected_seq or mac.hexdigest() != stored:
                buffer.extend(islice(rows, LOOKAHEAD - len(buffer)))
                finding = _classify(chain, row, prev, expected_seq, list(buffer))
        if seq in wanted:
            walked.hashes[seq] = stored
        if keep_entries:
            walked.entries[row[ROW_ID]] = (row[ROW_PATIENTS], row[ROW_ACTOR], row[ROW_AT])
        prev, expected_seq = stored, seq + 1
        report.entries += 1
        pending += 1
        if pending == CHUNK:
            tick(pending)
            pending = 0
    tick(pending)
    walked.last_seq, walked.last_hash = expected_seq - 1, prev
    last_seq = walked.last_seq
    if finding is None and head is not None:
        if head.seq > last_seq:
            finding = Finding(
                "deleted", chain, last_seq + 1, f"entries {last_seq + 1}..{head.seq} are missing"
            )
        elif head.seq < last_seq or head.hash != prev:
            finding = Finding("inserted", chain, head.seq + 1, "entries beyond the chain head")
    if finding is not None:
        report.findings.append(finding)
    return walked


@dataclass(frozen=True)
class _Job:
    chain: int
    head: ChainHead | None
    start: tuple[int, str]
    wanted: frozenset[int]
    keep_entries: bool

    @property
    def size(self) -> int:
        return (self.head.seq if self.head else 0) - self.start[0]


def _walk_one(job: _Job, tick: Callable[[int], None], report: Report) -> _Walked:
    walked = _verify_chain(
        job.chain,
        job.head,
        tick,
        report,
        start=job.start,
        wanted=job.wanted,
        keep_entries=job.keep_entries,
    )
    report.chains += 1
    return walked


def _walk_chains(
    jobs: list[_Job], tick: Callable[[int], None], report: Report
) -> dict[int, _Walked]:
    """Every chain's walk: one after the other, or on a large log spread over the machine's
    cores (forked processes, one database connection each; chains are independent)."""
    workers = min(len(jobs), os.cpu_count() or 1, settings.CARNET_AUDIT_VERIFY_PROCESSES)
    if (
        workers < 2
        or connection.in_atomic_block  # uncommitted rows: only this connection sees them
        or sum(job.size for job in jobs) < settings.CARNET_AUDIT_VERIFY_PARALLEL_FROM
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return {job.chain: _walk_one(job, tick, report) for job in jobs}
    connections.close_all()
    report.processes = workers
    context = multiprocessing.get_context("fork")
    done = context.Value("q", 0)
    told = 0
    # The longest chains first, so that both workers end together.
    ordered = sorted(jobs, key=lambda job: -job.size)
    with context.Pool(workers, initializer=_child_started, initargs=(done,)) as pool:
        pending = pool.map_async(_walk_in_child, ordered, chunksize=1)
        while not pending.ready():
            pending.wait(0.25)
            now = done.value
            tick(now - told)
            told = now
        results = pending.get()
    tick(done.value - told)
    walked = {}
    for job, (chain_walked, child) in zip(ordered, results, strict=True):
        walked[job.chain] = chain_walked
        report.entries += child.entries
        report.chains += child.chains
        report.findings += child.findings
    report.findings.sort(key=lambda f: (f.chain is None, f.chain or 0))
    return walked


_done: Any = None


def _child_started(done: Any) -> None:
    global _done
    _done = done
    # Each worker opens its own connection; the parent's is never used across the fork.
    connections.close_all()


def _walk_in_child(job: _Job) -> tuple[_Walked, Report]:
    def tick(count: int) -> None:
        with _done.get_lock():
            _done.value += count

    child = Report()
    walked = _walk_one(job, tick, child)
    connections.close_all()
    return walked, child


def _heads(text: str) -> dict[int, tuple[int, str]]:
    found = {}
    for item in text.split():
        chain, seq, digest = item.split(":")
        found[int(chain)] = (int(seq), digest)
    return found


def _verify_anchors(report: Report, after: tuple[int, str] = (0, GENESIS)) -> Anchor | None:
    """The anchors' own chain from `after` (id, hash); returns the newest anchor."""
    prev = after[1]
    newest = None
    for anchor in Anchor.objects.filter(id__gt=after[0]).order_by("id").iterator():
        report.anchors += 1
        if anchor.prev_hash != prev or anchor_hash(prev, anchor.at, anchor.heads) != anchor.hash:
            report.findings.append(Finding("anchor", None, anchor.id, "anchor altered or removed"))
            return None
        prev = anchor.hash
        newest = anchor
    return newest


def _check_heads(
    report: Report, heads: dict[int, tuple[int, str]], walked: dict[int, _Walked], what: str
) -> None:
    """Each chain still holds the entry these heads named, with the same hash."""
    for chain, (seq, digest) in sorted(heads.items()):
        if not seq:
            continue
        have = walked.get(chain)
        if have is not None and seq < have.start_seq:
            continue  # behind the checkpoint: verified before, and the chain leads from it
        found = have.hashes.get(seq) if have else None
        if found == digest:
            continue
        last = have.last_seq if have else 0
        if last < seq:
            report.findings.append(
                Finding(
                    "truncated",
                    chain,
                    seq,
                    f"{what} saw entries up to {seq}; the chain now ends at {last}",
                )
            )
        else:
            report.findings.append(
                Finding("anchor", chain, seq, f"{what} no longer matches the chain")
            )


def parse_patients(text: str) -> list[tuple[str, str]]:
    items = []
    for part in text.split():
        patient, _, kind = part.partition(":")
        items.append((patient, kind))
    return sorted(items)


def _subject_rows(ids: Iterable[int] | None) -> Iterator[tuple[int, str, str, Any, Any]]:
    query = AuditSubject.objects.all()
    if ids is not None:
        ids = sorted(ids)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            yield from (
                (e, str(p), r, a, t)
                for e, p, r, a, t in AuditSubject.objects.filter(entry_id__in=chunk)
                .order_by("entry_id", "patient_id")
                .values_list("entry_id", "patient_id", "relationship", "actor_id", "at")
            )
        return
    yield from (
        (e, str(p), r, a, t)
        for e, p, r, a, t in query.order_by("entry_id", "patient_id")
        .values_list("entry_id", "patient_id", "relationship", "actor_id", "at")
        .iterator(chunk_size=CHUNK)
    )


def _entries_by_id() -> Iterator[tuple[int, tuple[str, int | None, Any]]]:
    rows = (
        AuditEntry.objects.exclude(patients="")
        .order_by("id")
        .values_list("id", "patients", "actor_id", "at")
        .iterator(chunk_size=CHUNK)
    )
    for entry_id, patients, actor_id, at in rows:
        yield entry_id, (patients, actor_id, at)


def _subjects_sql(scoped: bool) -> tuple[str, str]:
    """PostgreSQL (the models' own table names; the ids are a parameter): the entries whose
    subject rows do not say what the entry says (patients and relationships, in the entry's
    own text and order; account; time), with the number of rows checked; and the rows that
    point at no entry naming a patient."""
    entries = AuditEntry._meta.db_table
    subjects = AuditSubject._meta.db_table
    only_s = "WHERE s.entry_id = ANY(%(ids)s)" if scoped else ""
    only_e = "AND e.id = ANY(%(ids)s)" if scoped else ""
    named = (
        "CASE WHEN s.relationship = '' THEN s.patient_id::text "
        "ELSE s.patient_id::text || ':' || s.relationship END"
    )
    grouped = (
        f"SELECT s.entry_id, count(*) AS n, string_agg({named}, ' ' ORDER BY "  # noqa: S608
        's.patient_id::text COLLATE "C", s.relationship COLLATE "C") AS patients, '
        "bool_and(s.actor_id IS NOT DISTINCT FROM e.actor_id AND s.at = e.at) AS attributed "
        f"FROM {subjects} s JOIN {entries} e ON e.id = s.entry_id {only_s} GROUP BY s.entry_id"
    )
    compared = (
        "SELECT e.id, coalesce(g.n, 0) AS n, g.patients IS NOT DISTINCT FROM e.patients AS same, "  # noqa: S608
        "coalesce(g.attributed, true) AS attributed, sum(coalesce(g.n, 0)) OVER () AS total "
        f"FROM {entries} e LEFT JOIN ({grouped}) g ON g.entry_id = e.id "
        f"WHERE e.patients <> '' {only_e}"
    )
    problems = f"SELECT id, n, same, total FROM ({compared}) c WHERE NOT (same AND attributed)"  # noqa: S608
    orphans = (
        f"SELECT s.entry_id FROM {subjects} s LEFT JOIN {entries} e ON e.id = s.entry_id "  # noqa: S608
        f"{only_s or 'WHERE true'} AND (e.id IS NULL OR e.patients = '') ORDER BY s.entry_id"
    )
    return problems, orphans


def _verify_subjects_in_database(report: Report, ids: list[int] | None) -> None:
    problems_sql, orphans_sql = _subjects_sql(ids is not None)
    params = {"ids": ids} if ids is not None else {}
    with connection.cursor() as cursor:
        cursor.execute(problems_sql, params)
        bad = cursor.fetchall()
        cursor.execute(orphans_sql, params)
        orphans = [row[0] for row in cursor.fetchall()]
        if not bad:
            # No problem row carries the total: count the rows checked on their own.
            only = "WHERE entry_id = ANY(%(ids)s)" if ids is not None else ""
            table = AuditSubject._meta.db_table
            cursor.execute(f"SELECT count(*) FROM {table} {only}", params)  # noqa: S608
            report.subjects = cursor.fetchone()[0] - len(orphans)
        else:
            report.subjects = int(bad[0][3])
    # Every problem in entry order (a row left behind is one each); the first 20 are named.
    details = {entry_id: (n, same) for entry_id, n, same, _ in bad}
    problems = sorted([(entry_id, None) for entry_id in orphans] + list(details.items()))
    shown = problems[:20]
    named = [entry_id for entry_id, detail in shown if detail is not None and not detail[1]]
    have_rows: dict[int, list[tuple[str, str]]] = {}
    for entry_id, patient, relationship in AuditSubject.objects.filter(
        entry_id__in=named
    ).values_list("entry_id", "patient_id", "relationship"):
        have_rows.setdefault(entry_id, []).append((str(patient), relationship))
    texts = dict(AuditEntry.objects.filter(id__in=named).values_list("id", "patients"))
    for entry_id, detail in shown:
        if detail is None:
            text = f"row for entry {entry_id} that names no such patient"
        elif detail[1]:
            text = f"entry {entry_id}: rows attributed to another account or time"
        else:
            missing = len(set(parse_patients(texts[entry_id])) - set(have_rows.get(entry_id, [])))
            text = f"entry {entry_id}: {missing} patient rows missing or changed, {detail[0]} found"
        report.findings.append(Finding("subject", None, None, text))
    if len(problems) > 20:
        report.findings.append(Finding("subject", None, None, f"{len(problems)} problems in all"))


def _verify_subjects(
    report: Report, entries: Iterator[tuple[int, tuple[str, int | None, Any]]], ids: list | None
) -> None:
    """Each entry's subject rows say exactly what the (hashed) entry says: the same patients,
    relationships, account and time; no row points at an entry that does not name it."""
    subjects = _subject_rows(ids)
    current = next(subjects, None)
    problems = 0

    def note(detail: str) -> None:
        nonlocal problems
        problems += 1
        if problems <= 20:
            report.findings.append(Finding("subject", None, None, detail))

    for entry_id, (patients, actor_id, at) in entries:
        while current is not None and current[0] < entry_id:
            note(f"row for entry {current[0]} that names no such patient")
            current = next(subjects, None)
        rows = []
        while current is not None and current[0] == entry_id:
            rows.append(current)
            current = next(subjects, None)
        report.subjects += len(rows)
        expected = parse_patients(patients)
        have = sorted((p, r) for _, p, r, _, _ in rows)
        if have != expected:
            missing = len(set(expected) - set(have))
            note(f"entry {entry_id}: {missing} patient rows missing or changed, {len(have)} found")
        elif any(a != actor_id or t != at for _, _, _, a, t in rows):
            note(f"entry {entry_id}: rows attributed to another account or time")
    if ids is None:
        while current is not None:
            note(f"row for entry {current[0]} that names no such patient")
            current = next(subjects, None)
    if problems > 20:
        report.findings.append(Finding("subject", None, None, f"{problems} problems in all"))


def verify(
    progress: Callable[[int], None] | None = None,
    *,
    incremental: bool = False,
    checkpoint: bool = True,
) -> Report:
    """Walks every chain (from the witness's last checkpoint when `incremental`), the anchors,
    the subject rows and the witness. `progress(n)` is told of each n entries read. A sound
    full or incremental walk writes a new checkpoint to the witness (unless `checkpoint` is
    False)."""
    tick = progress or (lambda n: None)
    report = Report()
    seen = witness.read()
    report.witnessed = len(seen.anchors)
    for problem in seen.broken:
        report.findings.append(Finding("witness", None, None, problem))
    point = seen.checkpoint if incremental else None
    report.incremental = point is not None
    starts = _heads(point["heads"]) if point else {}
    heads = {h.chain: h for h in ChainHead.objects.all()}
    chains = sorted(
        set(heads)
        | set(starts)
        | set(AuditEntry.objects.values_list("chain", flat=True).distinct())
    )
    newest_witnessed = seen.anchors[max(seen.anchors)] if seen.anchors else None
    newest_stored = Anchor.objects.order_by("-id").values_list("heads", flat=True).first()
    wanted_heads = [_heads(newest_witnessed["heads"]) if newest_witnessed else {}]
    wanted_heads.append(_heads(newest_stored) if newest_stored else {})
    jobs: list[_Job] = []
    for chain in chains:
        start = starts.get(chain, (0, GENESIS))
        if (
            start[0]
            and not AuditEntry.objects.filter(chain=chain, seq=start[0], hash=start[1]).exists()
        ):
            report.findings.append(
                Finding("truncated", chain, start[0], "the last verified entry is gone")
            )
            continue
        wanted = frozenset(h[chain][0] for h in wanted_heads if chain in h)
        jobs.append(_Job(chain, heads.get(chain), start, wanted, report.incremental))
    walked = _walk_chains(jobs, tick, report)
    after = (int(point["anchor"]), str(point["anchor_hash"])) if point else (0, GENESIS)
    if point and not Anchor.objects.filter(id=after[0], hash=after[1]).exists():
        report.findings.append(Finding("anchor", None, after[0], "the verified anchor is gone"))
    newest = _verify_anchors(report, after)
    _check_witness(report, seen, walked, newest, after)
    if _database_writes_stamps():
        _verify_subjects_in_database(
            report, [i for w in walked.values() for i in w.entries] if report.incremental else None
        )
    elif report.incremental:
        ids = [i for w in walked.values() for i in w.entries]
        entries = iter(
            sorted((i, e) for w in walked.values() for i, e in w.entries.items() if e[0])
        )
        _verify_subjects(report, entries, ids)
    else:
        _verify_subjects(report, _entries_by_id(), None)
    if report.ok and checkpoint and newest is not None:
        _checkpoint(newest)
    return report


def _check_witness(
    report: Report,
    seen: witness.Witnessed,
    walked: dict[int, _Walked],
    newest: Anchor | None,
    after: tuple[int, str],
) -> None:
    if newest is not None:
        _check_heads(report, _heads(newest.heads), walked, f"anchor {newest.id}")
    if not seen.anchors:
        if newest is not None and not seen.exists:
            report.findings.append(
                Finding(
                    "witness",
                    None,
                    None,
                    f"{witness.witness_path()} is missing while the database holds anchors",
                )
            )
        return
    stored = dict(
        Anchor.objects.filter(id__in=list(seen.anchors), id__gte=after[0]).values_list("id", "hash")
    )
    gone = [i for i in seen.anchors if i >= after[0] and stored.get(i) != seen.anchors[i]["hash"]]
    if gone:
        report.findings.append(
            Finding(
                "anchor",
                None,
                min(gone),
                f"{len(gone)} witnessed anchors deleted or changed in the database "
                f"(first: anchor {min(gone)})",
            )
        )
    last = seen.anchors[max(seen.anchors)]
    _check_heads(report, _heads(last["heads"]), walked, f"the witness (anchor {last['id']})")


def _checkpoint(newest: Anchor) -> None:
    witness.witness_verified(
        newest.id,
        newest.heads,
        newest.hash,
        stamp(timezone.now()),
    )


def total_entries(*, incremental: bool = False) -> int:
    """How many entries a verification will walk, for its progress bar: from the chain heads
    (and the witness's checkpoint when incremental), never a count of the whole table."""
    heads = dict(ChainHead.objects.values_list("chain", "seq"))
    point = witness.read().checkpoint if incremental else None
    starts = _heads(point["heads"]) if point else {}
    return sum(max(0, seq - starts.get(chain, (0, ""))[0]) for chain, seq in heads.items())
