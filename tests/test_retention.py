"""Data with a lifetime: the legal terms (R1112-7), the activity other domains report, and the
retention job that crypto-shreds what is past its term: tombstones, an audit entry naming the
ids, a journal outside the database, no search that meets a shredded record, canaries kept."""

import datetime
import json
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from carnet.audit.models import AuditEntry
from carnet.guard.actors import system_actor
from carnet.patients import retention
from carnet.patients.models import ExternalIdentifier, Patient
from carnet.patients.retention import RetentionRules, apply_retention, kept_until
from carnet.scheduling.models import Appointment, AppointmentState
from carnet.vault import journal
from carnet.vault.keys import Shredded
from carnet.vault.models import DataKey

from .factories import agenda_with_hours, make_patient
from .test_key_rotation import installation_keyring, open_surname, search

pytestmark = pytest.mark.django_db
RULES = RetentionRules()
D = datetime.date
BORN = D(1960, 1, 1)


@pytest.fixture
def keyring_path(tmp_path):
    with installation_keyring(tmp_path) as path:
        yield path


@pytest.mark.parametrize(
    ("last", "born", "died", "until", "why"),
    [
        (D(2000, 3, 1), D(1950, 6, 1), None, D(2020, 3, 1), "20 years after the last visit"),
        (D(2007, 1, 10), D(2005, 6, 1), None, D(2033, 6, 1), "a child: to the 28th birthday"),
        (D(2000, 1, 1), D(1950, 1, 1), D(2005, 1, 1), D(2015, 1, 1), "died within 10 years"),
        (D(2000, 1, 1), D(1950, 1, 1), D(2012, 1, 1), D(2020, 1, 1), "died after 10 years"),
        (D(2010, 1, 1), D(2005, 1, 1), D(2012, 1, 1), D(2022, 1, 1), "a child who died"),
        (D(2010, 1, 1), D(1950, 1, 1), D(2012, 2, 29), D(2022, 3, 1), "29 February: the later"),
    ],
)
def test_the_terms_follow_r1112_7(last, born, died, until, why):
    assert kept_until(last_activity=last, birth_date=born, died_on=died, rules=RULES) == until, why


def test_the_terms_come_from_settings():
    with override_settings(
        CARNET_RETENTION={
            "years_after_last_activity": 30,
            "until_age": 30,
            "years_after_death": 5,
            "death_within_years": 5,
        }
    ):
        rules = retention.retention_rules()
    assert rules == RetentionRules(30, 30, 5, 5)
    assert kept_until(last_activity=D(2000, 1, 1), birth_date=None, died_on=None, rules=rules) == D(
        2030, 1, 1
    )


def _aged(patient_id: str, years: int) -> None:
    Patient.objects.filter(pk=patient_id).update(
        created_at=timezone.now() - datetime.timedelta(days=365 * years + 10)
    )


def _appointment(consultation, patient_id: str, years_ago: int, state: str) -> None:
    starts = timezone.now() - datetime.timedelta(days=365 * years_ago)
    Appointment.objects.create(
        agenda=consultation.agenda,
        consultation_type=consultation,
        patient_id=patient_id,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=20),
        state=state,
        holds_slot=False,
    )


@pytest.fixture
def population(keyring_path, establishment, monkeypatch):
    """Patients on each side of their term; a fake clinical domain and a fake death register
    report what they know, as the real ones will from their AppConfig.ready."""
    consultation = agenda_with_hours(establishment)
    today = timezone.localdate()
    made = {}

    def patient(name: str, *, years: int, born: D = BORN, **extra) -> str:
        made[name] = make_patient(establishment, birth_surname=name, birth_date=born, **extra)
        _aged(made[name], years)
        return made[name]

    patient("FORGOTTEN", years=30)
    _appointment(consultation, patient("VISITED", years=30), 5, AppointmentState.DONE)
    _appointment(
        consultation, patient("CANCELLED", years=30), 5, AppointmentState.CANCELLED_BY_PATIENT
    )
    patient("STILLYOUNG", years=21, born=today.replace(year=today.year - 27))
    patient("DIEDEARLY", years=30)
    patient("SEENBYCLINIC", years=30)
    patient("CANARY", years=30, canary=True)
    patient("NEWCOMER", years=0)

    clinic_visits = {made["SEENBYCLINIC"]: timezone.now() - datetime.timedelta(days=400)}
    deaths = {made["DIEDEARLY"]: today - datetime.timedelta(days=365 * 11)}
    visits_of_the_dead = {made["DIEDEARLY"]: today - datetime.timedelta(days=365 * 12)}
    monkeypatch.setattr(
        retention,
        "_ACTIVITY_SOURCES",
        [
            *retention._ACTIVITY_SOURCES,
            lambda ids: {p: clinic_visits[str(p)] for p in ids if str(p) in clinic_visits},
            lambda ids: {
                p: visits_of_the_dead[str(p)] for p in ids if str(p) in visits_of_the_dead
            },
        ],
    )
    monkeypatch.setattr(
        retention,
        "_DEATH_SOURCES",
        [lambda ids: {p: deaths[str(p)] for p in ids if str(p) in deaths}],
    )
    return made


DUE = {"FORGOTTEN", "CANCELLED", "DIEDEARLY"}


def test_the_job_shreds_exactly_what_is_past_its_term(
    population, establishment, keyring_path, monkeypatch
):
    opened: list[str] = []
    real_birth_dates = retention._birth_dates

    def spying(ids):
        opened.extend(ids)
        return real_birth_dates(ids)

    monkeypatch.setattr(retention, "_birth_dates", spying)
    report = apply_retention(actor=system_actor("tests"), batch_size=3)
    names = {v: k for k, v in population.items()}
    shredded = {
        names[str(o)]
        for o in DataKey.objects.filter(wrapped__isnull=True).values_list("owner", flat=True)
    }
    assert shredded == DUE
    assert (report.examined, report.shredded, report.kept) == (8, 3, 5)
    # Birth dates were opened only where the 20 years had passed without the death rule.
    assert {names[o] for o in opened} == {"FORGOTTEN", "CANCELLED", "STILLYOUNG"}

    for name, patient_id in population.items():
        if name in DUE:
            with pytest.raises(Shredded):
                open_surname(establishment, patient_id)
            tombstone = DataKey.objects.get(owner=patient_id)
            assert tombstone.wrapped is None and tombstone.shredded_at is not None
            assert Patient.objects.filter(pk=patient_id).exists(), "the sealed row stays"
        else:
            assert open_surname(establishment, patient_id) == name

    # The audit names the shredded ids, nothing else of them.
    entries = AuditEntry.objects.filter(action=retention.ACTION)
    assert entries.count() == 3  # 8 patients, batches of 3
    named = {p for e in entries for p in e.patients.split()}
    assert named == {f"{population[n]}:shredded" for n in DUE}
    assert not any(n in e.reason or n in e.patients for e in entries for n in population)

    # The journal beside the keyring: owner ids and times, flushed, private.
    path = keyring_path.with_name(journal.NAME)
    assert path.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert {line["owner"] for line in lines} == {population[n] for n in DUE}
    assert all(set(line) == {"owner", "at", "mac"} for line in lines)

    again = apply_retention(actor=system_actor("tests"))
    assert (again.examined, again.shredded) == (5, 0)


def test_a_shredded_record_is_found_by_no_search(population, establishment):
    apply_retention(actor=system_actor("tests"))
    forgotten = population["FORGOTTEN"]
    patient = Patient.objects.get(pk=forgotten)
    assert all(getattr(patient, c) is None for c in retention.BLIND_COLUMNS)
    assert set(
        ExternalIdentifier.objects.filter(patient_id=forgotten).values_list("bi_value", flat=True)
    ) == {retention.NO_INDEX}
    # Searching it raises nothing (a candidate that cannot open would): it is simply not there.
    assert search(establishment, surname="FORGOTTEN", birth_date=D(1960, 1, 1)) == []
    assert search(establishment, surname="VISITED", birth_date=D(1960, 1, 1)) == [
        population["VISITED"]
    ]


def test_a_canary_is_never_shredded(population, establishment):
    apply_retention(
        actor=system_actor("tests"), today=timezone.localdate() + datetime.timedelta(days=365 * 80)
    )
    canary = DataKey.objects.get(owner=population["CANARY"])
    assert canary.wrapped is not None
    assert DataKey.objects.filter(wrapped__isnull=False).count() == 1


def test_dry_run_and_limit(population):
    out = StringIO()
    call_command("retention", "--dry-run", "--no-progress", stdout=out)
    assert "past their term: 3 (dry run: nothing shredded)" in out.getvalue()
    assert not DataKey.objects.filter(wrapped__isnull=True).exists()
    assert not AuditEntry.objects.filter(action=retention.ACTION).exclude(patients="").exists()

    out = StringIO()
    call_command("retention", "--limit", "2", "--no-progress", stdout=out)
    assert DataKey.objects.filter(wrapped__isnull=True).count() == 2
    assert "stopped at --limit 2" in out.getvalue()
    call_command("retention", "--no-progress", stdout=StringIO())
    assert DataKey.objects.filter(wrapped__isnull=True).count() == 3


def test_appointments_register_themselves_as_an_activity_source():
    from carnet.scheduling.apps import last_appointments

    assert last_appointments in retention._ACTIVITY_SOURCES


def test_the_journal_shows_a_line_taken_out(keyring_path, establishment):
    owners = [make_patient(establishment, birth_surname=f"GONE{n}") for n in "ABC"]
    from carnet.vault.keys import shred_many

    assert shred_many(owners) == 3
    path = journal.journal_path()
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])
    read = journal.read([path])
    assert set(read.entries) == {json.loads(lines[0])["owner"], json.loads(lines[2])["owner"]}
    assert len(read.broken) == 1 and ":2:" in read.broken[0]
    os.chmod(path, 0o600)
