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

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.utils import timezone

from . import witness
from .chain import GENESIS, anchor_hash, canonical, entry_hash, stamp
from .models import Anchor, AuditEntry, AuditSubject, ChainHead

FIELDS = (
    "chain",
    "seq",
    "at",
    "actor_id",
    "actor",
    "role",
    "establishment_id",
    "action",
    "outcome",
    "patients",
    "patient_count",
    "reason",
    "request_id",
    "client_ip",
    "prev_hash",
    "hash",
    "id",
)
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
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


LOOKAHEAD = 1000
CHUNK = 5000


def _classify(row: tuple, prev: str, expected_seq: int, ahead: list[tuple]) -> Finding | None:
    """Names the first problem at `row`, using the rows just after it to tell an altered
    entry from one slipped in or moved (an attacker without the key cannot re-hash)."""
    chain, seq, prev_hash, stored = row[0], row[1], row[14], row[15]
    intact = entry_hash(prev_hash, canonical(*row[:14])) == stored
    if intact and prev_hash == prev and seq == expected_seq:
        return None
    if any(later[15] == prev_hash for later in ahead):
        return Finding("reordered", chain, seq, "follows an entry that now comes after it")
    if seq > expected_seq and prev_hash != prev and intact:
        return Finding(
            "deleted", chain, expected_seq, f"entries {expected_seq}..{seq - 1} are missing"
        )
    following = ahead[0] if ahead else None
    if not intact:
        if following is not None and following[14] == prev_hash and prev_hash == prev:
            return Finding("inserted", chain, seq, "an entry was slipped in before the next one")
        return Finding("altered", chain, seq, "content does not match its keyed hash")
    if prev_hash != prev:
        return Finding("deleted", chain, seq, "does not follow the entry before it")
    return Finding("inserted", chain, seq, f"expected position {expected_seq}")


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
    rows = iter(
        AuditEntry.objects.filter(chain=chain, seq__gt=start[0])
        .order_by("seq")
        .values_list(*FIELDS)
        .iterator(chunk_size=CHUNK)
    )
    buffer: deque[tuple] = deque()
    pending = 0
    finding: Finding | None = None
    walked = _Walked(start_seq=start[0], last_seq=start[0], last_hash=start[1])
    walked.hashes[start[0]] = start[1]
    while True:
        row = buffer.popleft() if buffer else next(rows, None)
        if row is None:
            break
        seq, prev_hash, stored = row[1], row[14], row[HASH]
        if finding is None and (
            prev_hash != prev
            or seq != expected_seq
            or entry_hash(prev_hash, canonical(*row[:14])) != stored
        ):
            buffer.extend(islice(rows, LOOKAHEAD - len(buffer)))
            finding = _classify(row, prev, expected_seq, list(buffer))
        if seq in wanted:
            walked.hashes[seq] = stored
        if keep_entries:
            walked.entries[row[ID]] = (row[PATIENTS], row[3], row[2])
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
    walked: dict[int, _Walked] = {}
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
        wanted = {h[chain][0] for h in wanted_heads if chain in h}
        walked[chain] = _verify_chain(
            chain,
            heads.get(chain),
            tick,
            report,
            start=start,
            wanted=wanted,
            keep_entries=report.incremental,
        )
        report.chains += 1
    after = (int(point["anchor"]), str(point["anchor_hash"])) if point else (0, GENESIS)
    if point and not Anchor.objects.filter(id=after[0], hash=after[1]).exists():
        report.findings.append(Finding("anchor", None, after[0], "the verified anchor is gone"))
    newest = _verify_anchors(report, after)
    _check_witness(report, seen, walked, newest, after)
    if report.incremental:
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


def total_entries() -> int:
    return AuditEntry.objects.count()
