"""The audit survives its own database: someone who owns the database (triggers dropped, heads
and anchors rewritten at will) truncates a chain, deletes anchors, wipes the whole log, deletes
the containment entry, deletes or re-attributes the per-patient rows. The witness kept outside
the database, the chain and the subject check name each; the incident report is unchanged."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from carnet.audit import triggers, witness
from carnet.audit.chain import Record, append, write_anchor
from carnet.audit.models import Anchor, AuditEntry, AuditSubject, ChainHead
from carnet.audit.verify import verify
from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.guard.incidents import exposure_report, report_rows

pytestmark = pytest.mark.django_db
PATIENT = "00000000-0000-4000-8000-{:012d}"


@pytest.fixture
def log(settings, django_capture_on_commit_callbacks):
    """Two chains of entries by account 7, each naming a patient; anchored (and so witnessed)
    half way and at the end, as the application does by itself."""
    settings.CARNET_AUDIT_CHAINS = 2
    settings.CARNET_AUDIT_ANCHOR_ENTRIES = 0
    settings.CARNET_AUDIT_ANCHOR_SECONDS = 0

    def entries(first, last):
        for n in range(first, last):
            append(
                Record(
                    actor_id=7,
                    actor="sec.moreau",
                    role="secretary",
                    action="patients.view",
                    outcome="allowed",
                    request_id=f"request-{n}",
                    patients={PATIENT.format(n): "outside"},
                    client_ip="127.0.0.1",
                )
            )

    with django_capture_on_commit_callbacks(execute=True):
        entries(0, 10)
        write_anchor()
        entries(10, 20)
        write_anchor()
    return entries


def _attacker():
    triggers.remove(connection)


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _kinds(report):
    return {finding.kind for finding in report.findings}


def test_an_untouched_witnessed_log_verifies(log):
    report = verify()
    assert report.ok, report.findings
    assert report.witnessed == 2 and report.subjects == 20


def test_a_truncated_chain_with_its_head_rewound_is_named(log):
    _attacker()
    chain = AuditEntry.objects.order_by("-id").first().chain
    last = ChainHead.objects.get(chain=chain).seq
    _sql("DELETE FROM audit_auditentry WHERE chain = %s AND seq > %s", [chain, last - 3])
    kept = AuditEntry.objects.get(chain=chain, seq=last - 3)
    _sql(
        "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE chain = %s",
        [kept.seq, kept.hash, chain],
    )
    # ... and the anchors that named the lost entries.
    _sql("DELETE FROM audit_anchor WHERE id = (SELECT MAX(id) FROM audit_anchor)")
    report = verify()
    assert not report.ok
    assert {"truncated", "anchor"} <= _kinds(report), report.findings
    assert any(f.kind == "truncated" and f.chain == chain for f in report.findings)


def test_deleting_the_newest_anchor_is_named(log):
    _attacker()
    _sql("DELETE FROM audit_anchor WHERE id = (SELECT MAX(id) FROM audit_anchor)")
    report = verify()
    assert "anchor" in _kinds(report), report.findings


def test_wiping_the_whole_log_with_its_heads_is_named(log):
    _attacker()
    for table in ("audit_auditsubject", "audit_auditentry", "audit_anchor", "audit_chainhead"):
        _sql(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    report = verify()
    assert not report.ok
    assert {"truncated", "anchor"} <= _kinds(report), report.findings


def test_deleting_a_containment_entry_is_named(log, django_capture_on_commit_callbacks):
    """A containment anchors the log at once: removing its entry afterwards truncates a
    witnessed chain."""
    from carnet.guard.actors import Actor
    from carnet.guard.containment import contain

    intruder = Actor(user_id=None, username="intruder", role="secretary")
    with django_capture_on_commit_callbacks(execute=True):
        contain(intruder, "patients.view", reason="exposure budget: 16 patients in a hour")
    entry = AuditEntry.objects.get(outcome="contained")
    assert json.loads(Path(witness.witness_path()).read_text().splitlines()[-1])["kind"] == "anchor"
    _attacker()
    _sql("DELETE FROM audit_auditentry WHERE id = %s", [entry.id])
    before = AuditEntry.objects.filter(chain=entry.chain, seq=entry.seq - 1).first()
    _sql(
        "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE chain = %s",
        [entry.seq - 1, before.hash if before else "0" * 64, entry.chain],
    )
    _sql("DELETE FROM audit_anchor WHERE id = (SELECT MAX(id) FROM audit_anchor)")
    report = verify()
    assert "truncated" in _kinds(report), report.findings


def test_deleted_or_reattributed_subject_rows_are_named_and_change_no_report(log):
    actor = system_actor("tests")

    def report():
        with system_job(actor, "tests.report"):
            return report_rows(
                exposure_report(
                    actor=actor,
                    account_id=7,
                    start=AuditEntry.objects.order_by("at").first().at,
                    end=AuditEntry.objects.order_by("at").last().at.replace(year=2100),
                )
            )

    before = [row["patient_id"] for row in report()]
    assert len(before) == 20
    _attacker()
    _sql("DELETE FROM audit_auditsubject WHERE patient_id IN (%s, %s)", [_db_uuid(3), _db_uuid(4)])
    _sql("UPDATE audit_auditsubject SET actor_id = 8 WHERE patient_id = %s", [_db_uuid(5)])
    _sql(
        "UPDATE audit_auditsubject SET patient_id = %s WHERE patient_id = %s",
        [_db_uuid(99), _db_uuid(6)],
    )
    found = verify()
    assert "subject" in _kinds(found), found.findings
    assert sum(1 for f in found.findings if f.kind == "subject") >= 4
    # The breach list is read from the hashed entries, not from these rows.
    assert [row["patient_id"] for row in report()] == before


def _db_uuid(n):
    value = PATIENT.format(n)
    return value if connection.vendor == "postgresql" else value.replace("-", "")


def test_the_subject_rows_refuse_update_and_delete(log):
    for attempt in (
        lambda: AuditSubject.objects.update(actor_id=8),
        lambda: AuditSubject.objects.all().delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            attempt()
    assert AuditSubject.objects.filter(actor_id=7).count() == 20


def test_a_witness_line_taken_out_or_the_file_removed_is_named(log):
    path = Path(witness.witness_path())
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[1:]))
    assert "witness" in _kinds(verify(checkpoint=False))
    path.unlink()
    assert "witness" in _kinds(verify(checkpoint=False))


def test_verification_goes_on_from_its_last_checkpoint(log, django_capture_on_commit_callbacks):
    assert verify().ok  # full, writes a checkpoint
    with django_capture_on_commit_callbacks(execute=True):
        log(20, 25)
        write_anchor()
    later = verify(incremental=True)
    assert later.ok and later.incremental, later.findings
    assert later.entries == 5
    # Still sees a truncation after the checkpoint.
    _attacker()
    newest = AuditEntry.objects.order_by("-id").first()
    _sql("DELETE FROM audit_auditentry WHERE id = %s", [newest.id])
    before = AuditEntry.objects.get(chain=newest.chain, seq=newest.seq - 1)
    _sql(
        "UPDATE audit_chainhead SET seq = %s, hash = %s WHERE chain = %s",
        [before.seq, before.hash, newest.chain],
    )
    _sql("DELETE FROM audit_anchor WHERE id = (SELECT MAX(id) FROM audit_anchor)")
    assert not verify(incremental=True).ok


def test_anchors_are_written_and_witnessed_without_anyone_running_a_command(
    settings, django_capture_on_commit_callbacks
):
    settings.CARNET_AUDIT_ANCHOR_ENTRIES = 5
    settings.CARNET_AUDIT_ANCHOR_SECONDS = 0
    actor = system_actor("tests")
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(12):
            with system_job(actor, f"tests.step{n}"):
                pass
    assert Anchor.objects.count() >= 2
    assert len(witness.read().anchors) == Anchor.objects.count()
    assert verify().ok


def test_a_restore_is_told_to_the_witness(log):
    """Putting back an older database is not an attack: the restore says so to the witness,
    which then expects what the backup holds."""
    kept = Anchor.objects.order_by("id").first()
    _attacker()
    newest = Anchor.objects.order_by("-id").first()
    _sql("DELETE FROM audit_anchor WHERE id = %s", [newest.id])
    assert not verify(checkpoint=False).ok
    witness.witness_restore(kept.id, "2026-01-01T00:00:00.000000Z")
    seen = witness.read()
    assert list(seen.anchors) == [kept.id]
    report = verify(checkpoint=False)
    assert report.ok, report.findings


def test_the_command_reads_the_witness(log, capsys):
    call_command("audit", "verify", "--no-progress", "--full")
    assert "audit log intact" in capsys.readouterr().out
    _attacker()
    _sql("DELETE FROM audit_anchor")
    with pytest.raises(SystemExit):
        call_command("audit", "verify", "--no-progress")
    assert "witnessed anchors deleted" in capsys.readouterr().out


def test_the_witness_lives_outside_the_database():
    assert settings.CARNET_AUDIT_WITNESS
    assert not str(witness.witness_path()).endswith(".sqlite3")
