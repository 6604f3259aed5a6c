"""Verifying the audit chains: every entry's keyed hash, every link, every chain head and
anchor. Reports the first problem of each chain as altered, deleted, inserted or reordered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

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


def _verify_chain(
    chain: int, head: ChainHead | None, tick: Callable[[int], None], report: Report
) -> dict[int, str]:
    expected_seq, prev = 1, GENESIS
    seen: dict[str, int] = {}
    hashes: dict[int, str] = {}
    rows = (
        AuditEntry.objects.filter(chain=chain)
        .order_by("seq")
        .values_list(*FIELDS)
        .iterator(chunk_size=5000)
    )
    pending = 0
    finding: Finding | None = None
    for row in rows:
        seq, prev_hash, stored = row[1], row[14], row[15]
        recomputed = entry_hash(prev_hash, canonical(*row[:14]))
        if finding is None:
            if seq > expected_seq and prev_hash != prev:
                finding = Finding(
                    "deleted", chain, expected_seq, f"entries {expected_seq}..{seq - 1} are missing"
                )
            elif recomputed != stored:
                finding = Finding("altered", chain, seq, "content does not match its hash")
            elif prev_hash != prev:
                kind = (
                    "reordered" if prev_hash in seen and seen[prev_hash] != seq - 1 else "inserted"
                )
                if prev_hash not in seen and seq == expected_seq:
                    kind = "inserted"
                finding = Finding(kind, chain, seq, "does not follow the entry before it")
            elif seq != expected_seq:
                finding = Finding("inserted", chain, seq, f"expected position {expected_seq}")
        seen[stored] = seq
        hashes[seq] = stored
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
    return hashes


def verify(progress: Callable[[int], None] | None = None) -> Report:
    """Walks every chain, then the anchors. `progress(n)` is told of each n entries read."""
    tick = progress or (lambda n: None)
    report = Report()
    heads = {h.chain: h for h in ChainHead.objects.all()}
    chains = sorted(set(heads) | set(AuditEntry.objects.values_list("chain", flat=True).distinct()))
    hashes_by_chain = {}
    for chain in chains:
        hashes_by_chain[chain] = _verify_chain(chain, heads.get(chain), tick, report)
        report.chains += 1
    prev = GENESIS
    for anchor in Anchor.objects.order_by("id"):
        report.anchors += 1
        if anchor.prev_hash != prev or anchor_hash(prev, anchor.at, anchor.heads) != anchor.hash:
            report.findings.append(Finding("anchor", None, anchor.id, "anchor altered or removed"))
            break
        for item in anchor.heads.split():
            chain_text, seq_text, digest = item.split(":")
            chain, seq = int(chain_text), int(seq_text)
            if seq and hashes_by_chain.get(chain, {}).get(seq) != digest:
                report.findings.append(
                    Finding("anchor", chain, seq, f"anchor {anchor.id} no longer matches the chain")
                )
        prev = anchor.hash
    return report


def total_entries() -> int:
    return AuditEntry.objects.count()
