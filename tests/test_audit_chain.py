"""Tamper-evidence: someone with the database owner's rights (the triggers dropped) alters,
deletes, inserts or reorders audit entries; `carnet audit verify` names each."""

import hashlib

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from carnet.audit import triggers
from carnet.audit.chain import GENESIS, Record, append, canonical, write_anchor
from carnet.audit.models import Anchor, AuditEntry
from carnet.audit.verify import verify

pytestmark = pytest.mark.django_db
CHAIN_LENGTH = 12


@pytest.fixture
def chain(settings):
    """Twelve entries on one chain; returns the chain number."""
    settings.CARNET_AUDIT_CHAINS = 1
    _views("request", CHAIN_LENGTH)
    return 0


def _views(prefix: str, count: int) -> None:
    """`count` secretary's views of one patient each, as requests append them."""
    for n in range(count):
        append(
            Record(
                actor_id=7,
                actor="sec.moreau",
                role="secretary",
                action="patients.view",
                outcome="allowed",
                request_id=f"{prefix}-{n}",
                patients=[f"00000000-0000-4000-8000-{n:012d}"],
                client_ip="127.0.0.1",
            )
        )


def _attacker() -> None:
    """The attacker owns the database: the append-only triggers are the first to go."""
    triggers.remove(connection)


def _sql(statement: str, params=()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _only_finding():
    report = verify()
    assert not report.ok
    return report.findings[0]


def test_an_untouched_log_verifies(chain, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        write_anchor()
    report = verify()
    assert report.ok, report.findings
    assert report.entries == CHAIN_LENGTH and report.anchors == 1


def test_the_database_refuses_update_and_delete(chain):
    for attempt in (
        lambda: AuditEntry.objects.filter(seq=3).update(reason="covered up"),
        lambda: AuditEntry.objects.filter(seq=3).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert AuditEntry.objects.count() == CHAIN_LENGTH


def test_an_altered_entry_is_named(chain):
    _attacker()
    _sql("UPDATE audit_auditentry SET patients = '' WHERE chain = 0 AND seq = 5")
    finding = _only_finding()
    assert (finding.kind, finding.seq) == ("altered", 5)


def test_a_deleted_entry_is_named(chain):
    _attacker()
    _sql("DELETE FROM audit_auditentry WHERE chain = 0 AND seq = 5")
    finding = _only_finding()
    assert (finding.kind, finding.seq) == ("deleted", 5)


def test_deleting_the_latest_entries_is_seen_from_the_chain_head(chain):
    _attacker()
    _sql("DELETE FROM audit_auditentry WHERE chain = 0 AND seq > 10")
    finding = _only_finding()
    assert (finding.kind, finding.seq) == ("deleted", 11)


def _forged_row(seq: int, prev_hash: str) -> list:
    entry = AuditEntry.objects.get(chain=0, seq=seq - 1)
    content = canonical(
        0,
        seq,
        entry.at,
        1,
        "intruder",
        "secretary",
        None,
        "patients.view",
        "allowed",
        "",
        0,
        "",
        "forged",
        None,
    )
    # Without the key the attacker can only use a plain hash.
    forged_hash = hashlib.sha256((prev_hash + "\x1e" + content).encode()).hexdigest()
    return [
        0,
        seq,
        entry.at,
        1,
        "intruder",
        "secretary",
        "patients.view",
        "allowed",
        "",
        0,
        "",
        "forged",
        prev_hash,
        forged_hash,
    ]


def _insert(row: list) -> None:
    _sql(
        "INSERT INTO audit_auditentry (chain, seq, at, actor_id, actor, role, action, outcome, "
        "patients, patient_count, reason, request_id, prev_hash, hash) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        row,
    )


def test_an_entry_slipped_into_the_middle_is_named(chain):
    _attacker()
    _sql("UPDATE audit_auditentry SET seq = seq + 1000 WHERE chain = 0 AND seq >= 5")
    _sql("UPDATE audit_auditentry SET seq = seq - 999 WHERE chain = 0 AND seq >= 1005")
    previous = AuditEntry.objects.get(chain=0, seq=4).hash
    _insert(_forged_row(5, previous))
    finding = _only_finding()
    assert (finding.kind, finding.seq) == ("inserted", 5)


def test_an_entry_appended_behind_the_head_is_named(chain):
    _attacker()
    last = AuditEntry.objects.get(chain=0, seq=CHAIN_LENGTH).hash
    _insert(_forged_row(CHAIN_LENGTH + 1, last))
    finding = _only_finding()
    assert finding.seq == CHAIN_LENGTH + 1 and finding.kind in {"inserted", "altered"}


def test_reordered_entries_are_named(chain):
    _attacker()
    _sql("UPDATE audit_auditentry SET seq = 1000 WHERE chain = 0 AND seq = 5")
    _sql("UPDATE audit_auditentry SET seq = 5 WHERE chain = 0 AND seq = 6")
    _sql("UPDATE audit_auditentry SET seq = 6 WHERE chain = 0 AND seq = 1000")
    finding = _only_finding()
    assert (finding.kind, finding.seq) == ("reordered", 5)


def test_a_rewritten_anchor_is_named(chain):
    anchor = write_anchor()
    _attacker()
    _sql("UPDATE audit_anchor SET heads = %s WHERE id = %s", ["0:3:" + GENESIS, anchor.id])
    finding = _only_finding()
    assert finding.kind == "anchor"
    assert Anchor.objects.count() == 1


def test_the_command_fails_loudly_on_tampering_and_passes_otherwise(chain, capsys):
    call_command("audit", "verify", "--no-progress")
    assert "audit log intact: 12 entries" in capsys.readouterr().out
    _attacker()
    _sql("UPDATE audit_auditentry SET actor = 'someone-else' WHERE chain = 0 AND seq = 2")
    with pytest.raises(SystemExit) as exit_info:
        call_command("audit", "verify", "--no-progress")
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "NOT intact" in out and "altered: chain 0 entry 2" in out


def test_the_stamp_format_never_changes():
    """Entries are hashed with this text: changing it would make every old entry "altered"."""
    import datetime

    from carnet.audit.chain import stamp

    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert (
        stamp(datetime.datetime(2026, 11, 24, 13, 5, 0, tzinfo=paris))
        == "2026-11-24T12:05:00.000000Z"
    )
    assert (
        stamp(datetime.datetime(2026, 11, 24, 12, 5, 0, 42, tzinfo=datetime.UTC))
        == "2026-11-24T12:05:00.000042Z"
    )


def _varied_records(count: int) -> None:
    """Entries as requests write them, and the odd ones: no account, no establishment, an
    IPv6 address, no address, accents, several patients, a reason."""
    for n in range(count):
        append(
            Record(
                actor_id=None if n % 5 == 0 else n,
                actor="système:import" if n % 5 == 0 else f"dr.lefèvre{n}",
                role="practitioner",
                establishment_id=None if n % 3 == 0 else 2,
                action="patients.view",
                outcome="allowed" if n % 4 else "refused",
                request_id=f"walk-{n}",
                patients={
                    f"00000000-0000-4000-8000-{n:012d}": "appointment",
                    "00000000-0000-4000-8000-999999999999": "",
                },
                reason="urgence vitale" if n % 6 == 0 else "",
                client_ip=("2001:db8::7" if n % 2 else "192.0.2.10") if n % 7 else None,
            )
        )


def test_the_walk_reads_each_entry_as_it_was_hashed(settings):
    """On PostgreSQL the database writes each entry's canonical text; it must be the very text
    chain.append hashed, for every kind of value."""
    from carnet.audit.chain import content_of
    from carnet.audit.verify import _walk_rows

    settings.CARNET_AUDIT_CHAINS = 3
    _varied_records(30)
    walked = {row[4]: row[1] for chain in range(3) for row in _walk_rows(chain, 0, with_time=True)}
    expected = {e.id: content_of(e) for e in AuditEntry.objects.all()}
    assert walked == expected and len(walked) == 30
    assert verify().ok


@pytest.mark.django_db(transaction=True)
def test_a_large_log_is_walked_by_several_processes_and_tampering_still_named(settings):
    settings.CARNET_AUDIT_CHAINS = 4
    settings.CARNET_AUDIT_VERIFY_PARALLEL_FROM = 0
    settings.CARNET_AUDIT_VERIFY_PROCESSES = 2
    _varied_records(40)
    told = []
    report = verify(progress=told.append, checkpoint=False)
    assert report.ok, report.findings
    assert (report.entries, report.chains, report.processes, sum(told)) == (40, 4, 2, 40)
    victim = AuditEntry.objects.filter(chain=2).order_by("seq")[3]
    _attacker()
    _sql("UPDATE audit_auditentry SET reason = 'effacé' WHERE id = %s", [victim.id])
    report = verify(checkpoint=False)
    assert [(f.kind, f.chain, f.seq) for f in report.findings] == [("altered", 2, victim.seq)]


def test_the_database_and_python_name_the_same_subject_problems(settings):
    """PostgreSQL compares the subject rows with their entries in SQL; it must name exactly
    what the row-by-row comparison names: rows deleted, reattributed, moved, or left behind."""
    from carnet.audit import verify as verify_module

    if connection.vendor != "postgresql":
        pytest.skip("the comparison in SQL is PostgreSQL's")
    settings.CARNET_AUDIT_CHAINS = 2
    _varied_records(30)
    entries = list(AuditEntry.objects.order_by("id").values_list("id", flat=True))
    _attacker()
    _sql("DELETE FROM audit_auditsubject WHERE entry_id = %s", [entries[3]])
    _sql("UPDATE audit_auditsubject SET actor_id = 99 WHERE entry_id = %s", [entries[5]])
    _sql("UPDATE audit_auditsubject SET relationship = 'x' WHERE entry_id = %s", [entries[8]])
    _sql(
        "UPDATE audit_auditsubject SET entry_id = entry_id + 100000 WHERE entry_id = %s",
        [entries[11]],
    )
    for ids in (None, entries):
        in_sql, by_row = verify_module.Report(), verify_module.Report()
        verify_module._verify_subjects_in_database(in_sql, ids)
        rows = verify_module._entries_by_id()
        verify_module._verify_subjects(by_row, rows, None if ids is None else ids)
        assert [str(f) for f in in_sql.findings] == [str(f) for f in by_row.findings]
        assert in_sql.subjects == by_row.subjects
        assert len(in_sql.findings) >= 4


def test_the_progress_total_is_what_the_walk_reads(chain, django_capture_on_commit_callbacks):
    """Counted from the chain heads and the checkpoint (a count of the whole table would take
    minutes at billions of rows): the full walk reads every entry, the incremental one the new."""
    from carnet.audit.verify import total_entries

    with django_capture_on_commit_callbacks(execute=True):
        write_anchor()
    full = verify()
    assert full.ok and total_entries() == full.entries == CHAIN_LENGTH
    _views("later", 3)
    with django_capture_on_commit_callbacks(execute=True):
        write_anchor()
    assert total_entries(incremental=True) == 3
    later = verify(incremental=True)
    assert later.ok and later.incremental and later.entries == 3
    assert total_entries() == CHAIN_LENGTH + 3
