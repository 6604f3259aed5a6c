"""Verifying the audit chains: every entry's keyed hash, every link, every chain head and
anchor. Reports the first problem of each chain as altered, deleted, inserted or reordered."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice

from .chain import GENESIS, anchor_hash, canonical, entry_hash
from .models import Anchor, AuditEntry, ChainHead

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


@dataclass
class Finding:
    kind: str  # altered | deleted | inserted | reordered | truncated | anchor
    chain: int | None
    seq: int | None
    detail: str

    def __str__(self) -> str:
        where = f"chain {self.chain} entry {self.seq}" if self.chain is not None else "anchors"
        return f"{self.kind}: {where}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    chains: int = 0
    anchors: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


LOOKAHEAD = 1000


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


def _verify_chain(
    chain: int, head: ChainHead | None, tick: Callable[[int], None], report: Report
) -> None:
    """Walks one chain in order, holding only a bounded window of rows."""
    expected_seq, prev = 1, GENESIS
    rows = iter(
        AuditEntry.objects.filter(chain=chain)
        .order_by("seq")
        .values_list(*FIELDS)
        .iterator(chunk_size=5000)
    )
    buffer: deque[tuple] = deque()
    pending = 0
    finding: Finding | None = None
    while True:
        row = buffer.popleft() if buffer else next(rows, None)
        if row is None:
            break
        seq, prev_hash, stored = row[1], row[14], row[15]
        if finding is None and (
            prev_hash != prev
            or seq != expected_seq
            or entry_hash(prev_hash, canonical(*row[:14])) != stored
        ):
            buffer.extend(islice(rows, LOOKAHEAD - len(buffer)))
            finding = _classify(row, prev, expected_seq, list(buffer))
        prev, expected_seq = stored, seq + 1
        report.entries += 1
        pending += 1
        if pending == 5000:
            tick(pending)
            pending = 0
    tick(pending)
    last_seq = expected_seq - 1
    if finding is None and head is not None:
        if head.seq > last_seq:
            finding = Finding(
                "deleted", chain, last_seq + 1, f"entries {last_seq + 1}..{head.seq} are missing"
            )
        elif head.seq < last_seq or head.hash != prev:
            finding = Finding("inserted", chain, head.seq + 1, "entries beyond the chain head")
    if finding is not None:
        report.findings.append(finding)


def _verify_anchors(report: Report) -> None:
    prev = GENESIS
    for anchor in Anchor.objects.order_by("id").iterator():
        report.anchors += 1
        if anchor.prev_hash != prev or anchor_hash(prev, anchor.at, anchor.heads) != anchor.hash:
            report.findings.append(Finding("anchor", None, anchor.id, "anchor altered or removed"))
            return
        for item in anchor.heads.split():
            chain_text, seq_text, digest = item.split(":")
            chain, seq = int(chain_text), int(seq_text)
            if not seq:
                continue
            stored = AuditEntry.objects.filter(chain=chain, seq=seq).values_list("hash", flat=True)
            if list(stored) != [digest]:
                report.findings.append(
                    Finding("anchor", chain, seq, f"anchor {anchor.id} no longer matches the chain")
                )
        prev = anchor.hash


def verify(progress: Callable[[int], None] | None = None) -> Report:
    """Walks every chain, then the anchors. `progress(n)` is told of each n entries read."""
    tick = progress or (lambda n: None)
    report = Report()
    heads = {h.chain: h for h in ChainHead.objects.all()}
    chains = sorted(set(heads) | set(AuditEntry.objects.values_list("chain", flat=True).distinct()))
    for chain in chains:
        _verify_chain(chain, heads.get(chain), tick, report)
        report.chains += 1
    _verify_anchors(report)
    return report


def total_entries() -> int:
    return AuditEntry.objects.count()
