"""Key rotation without losing a record or a search: the key-encryption key and the blind-index
key are rotated in batches, interrupted half way and resumed; readers open every record and
searches find everyone before, during and after; other processes pick the new version up;
a version is retired only once nothing needs it."""

import datetime
import json
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings
from stdnum.fr import nir as stdnum_nir

from carnet.audit import chain
from carnet.guard import canaries
from carnet.guard.actors import Actor, system_actor
from carnet.guard.boundary import Subject, admit_bulk, admit_one, boundary, system_job
from carnet.guard.policy import Capability, Role
from carnet.patients import search_keys
from carnet.patients.models import ExternalIdentifier, Patient
from carnet.patients.reindex import reindex_patients
from carnet.patients.selectors import SearchQuery, search_identities
from carnet.vault import blind, keyring, keys, rotation
from carnet.vault.models import DataKey, RotationState

from .factories import make_patient

ROOT = Path(__file__).resolve().parent.parent
FIRST_DAY = datetime.date(1950, 1, 1)


def reset_key_caches() -> None:
    keyring.reset_keyring_cache()
    blind.reset_cache()
    chain.reset_cache()
    canaries.reset_cache()


@contextmanager
def installation_keyring(folder: Path):
    """A keyring file of its own (a fresh random key), the shred journal beside it, and every
    cache that holds a derived key emptied on the way in and out."""
    path = folder / "keys" / "keyring.json"
    keyring.create_keyring_file(path)
    with override_settings(CARNET_KEK="", CARNET_KEK_FILE=str(path), CARNET_SHRED_JOURNAL=""):
        reset_key_caches()
        try:
            yield path
        finally:
            reset_key_caches()
    reset_key_caches()


@pytest.fixture
def keyring_path(tmp_path):
    with installation_keyring(tmp_path) as path:
        yield path


class Interrupted(Exception):
    pass


def interrupt_after(batches: int):
    calls = {"n": 0}

    def progress(_count: int) -> None:
        calls["n"] += 1
        if calls["n"] >= batches:
            raise Interrupted()

    return progress


def nir_for(day: datetime.date, order: int) -> str:
    body = f"{1 + order % 2}{day:%y%m}69123{order:03d}"
    return body + stdnum_nir.calc_check_digits(body)


def plant(establishment, count: int, tag: str = "ROT", start: int = 0) -> dict[str, dict]:
    """`count` patients with a surname, a birth date and a NIR of their own."""
    planted = {}
    for n in range(start, start + count):
        day = FIRST_DAY + datetime.timedelta(days=397 * n)
        surname = f"{tag}{chr(65 + n % 26)}{chr(65 + n // 26)}"
        nir = nir_for(day, n + 1)
        patient = make_patient(
            establishment, birth_surname=surname, birth_date=day, nir=nir, status="qualified"
        )
        planted[patient] = {"surname": surname, "day": day, "nir": nir}
    actor = system_actor("tests")
    with system_job(actor, "tests.read_ipps"):
        admit_bulk(actor, Capability.IMPORT_IDENTITIES)
        for identifier in ExternalIdentifier.objects.filter(patient_id__in=list(planted)):
            planted[str(identifier.patient_id)]["ipp"] = identifier.value
    return planted


def desk(establishment) -> Actor:
    return Actor(
        user_id=None,
        username="desk",
        role=Role.SECRETARY,
        establishment_ids=frozenset({establishment.pk}),
    )


def search(establishment, **criteria) -> list[str]:
    actor = desk(establishment)
    with boundary(actor, "tests.search"):
        return [
            row.id for row in search_identities(actor=actor, query=SearchQuery(**criteria)).rows
        ]


def found_by_every_search(establishment, planted: dict[str, dict]) -> dict[str, list[str]]:
    """What each way of searching misses (empty lists: everyone found, by every criterion)."""
    missed: dict[str, list[str]] = {"surname+date": [], "nir": [], "ipp": []}
    for patient, known in planted.items():
        if patient not in search(establishment, surname=known["surname"], birth_date=known["day"]):
            missed["surname+date"].append(patient)
        if search(establishment, nir=known["nir"]) != [patient]:
            missed["nir"].append(patient)
        if search(establishment, ipp=known["ipp"]) != [patient]:
            missed["ipp"].append(patient)
    return missed


def open_surname(establishment, patient_id: str) -> str:
    actor = desk(establishment)
    with boundary(actor, "tests.open"):
        patient = Patient.objects.get(id=patient_id)
        admit_one(
            actor, Capability.VIEW_IDENTITY, Subject(patient_id, frozenset({establishment.pk}))
        )
        return patient.birth_surname


def versions() -> dict[int, int]:
    return rotation.version_usage()


# --- Key-encryption key -------------------------------------------------------------------


def test_kek_rotation_interrupted_half_way_resumes_and_every_record_opens_throughout(
    keyring_path, establishment
):
    planted = plant(establishment, 25)
    assert versions() == {1: 25}

    started = rotation.start_kek_rotation()
    assert (started.version, started.resumed, started.left) == (2, False, 25)
    with pytest.raises(Interrupted):
        rotation.rewrap_data_keys(batch_size=4, progress=interrupt_after(3))
    assert versions() == {1: 13, 2: 12}

    # Half way: rows on either version open, in this process and in a fresh one.
    for cached in (True, False):
        if not cached:
            reset_key_caches()
        assert {p: open_surname(establishment, p) for p in planted} == {
            p: known["surname"] for p, known in planted.items()
        }

    resumed = rotation.start_kek_rotation()
    assert (resumed.version, resumed.resumed, resumed.left) == (2, True, 13)
    report = rotation.rewrap_data_keys(batch_size=4)
    assert (report.rewrapped, report.left) == (13, 0)
    assert versions() == {2: 25}
    assert sorted(keyring.load_keyring().keys) == [1, 2]
    assert RotationState.objects.get(kind="kek").finished_at is not None
    reset_key_caches()
    assert all(open_surname(establishment, p) == k["surname"] for p, k in planted.items())
    assert found_by_every_search(establishment, planted) == {
        "surname+date": [],
        "nir": [],
        "ipp": [],
    }


def test_the_keyring_file_is_replaced_atomically_and_stays_private(keyring_path, establishment):
    plant(establishment, 3)
    before = keyring_path.stat().st_ino
    call_command("keys", "rotate-kek", "--no-progress", stdout=StringIO())
    assert keyring_path.stat().st_ino != before, "written in place, not renamed over"
    assert keyring_path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in keyring_path.parent.iterdir() if p.name.endswith(".tmp")] == []
    document = json.loads(keyring_path.read_text())
    assert document["current"] == 2 and sorted(document["keys"]) == ["1", "2"]


def test_a_shredded_data_key_is_never_given_a_key_back_by_the_rotation(
    keyring_path, establishment, monkeypatch
):
    shredded_before, shredded_during, *others = plant(establishment, 4)
    assert keys.shred(shredded_before)
    real_unwrap = rotation.unwrap_key

    def unwrap_then_shred(kek, wrapped, owner, version):
        # Retention shreds this patient between the rotation's read and its write.
        raw = real_unwrap(kek, wrapped, owner, version)
        if owner == shredded_during:
            assert keys.shred(owner)
        return raw

    monkeypatch.setattr(rotation, "unwrap_key", unwrap_then_shred)
    rotation.start_kek_rotation()
    rotation.rewrap_data_keys(batch_size=10)
    for owner in (shredded_before, shredded_during):
        row = DataKey.objects.get(owner=owner)
        assert row.wrapped is None and row.shredded_at is not None
    assert versions() == {2: 2}


def test_retire_refuses_while_anything_needs_the_version(keyring_path, establishment):
    planted = plant(establishment, 9)
    rotation.start_kek_rotation()
    rotation.rewrap_data_keys()
    rotation.start_kek_rotation()
    with pytest.raises(Interrupted):
        rotation.rewrap_data_keys(batch_size=4, progress=interrupt_after(1))
    assert versions() == {2: 5, 3: 4}

    with pytest.raises(rotation.RotationRefused, match="still wraps 5 data keys"):
        rotation.retire_version(2)
    with pytest.raises(CommandError, match="still wraps 5 data keys"):
        call_command("keys", "retire", "--version", "2")
    with pytest.raises(rotation.RotationRefused, match="blind indexes.*audit chain"):
        rotation.retire_version(1)
    with pytest.raises(rotation.RotationRefused, match="current"):
        rotation.retire_version(3)
    with pytest.raises(rotation.RotationRefused, match="not in the keyring"):
        rotation.retire_version(7)
    assert sorted(json.loads(keyring_path.read_text())["keys"]) == ["1", "2", "3"]

    rotation.start_kek_rotation()
    rotation.rewrap_data_keys()
    call_command("keys", "retire", "--version", "2", stdout=StringIO())
    assert sorted(json.loads(keyring_path.read_text())["keys"]) == ["1", "3"]
    reset_key_caches()
    assert all(open_surname(establishment, p) == k["surname"] for p, k in planted.items())


@pytest.mark.django_db(transaction=True)
def test_two_rotations_started_at_once_add_one_new_version(keyring_path, establishment):
    plant(establishment, 1)
    started = []

    def second_operator() -> None:
        try:
            started.append(rotation.start_kek_rotation())
        finally:
            connection.close()

    with keyring.keyring_locked():
        other = threading.Thread(target=second_operator)
        other.start()
        time.sleep(0.3)
        assert other.is_alive(), "the second rotation did not wait for the keyring's lock"
        # Meanwhile the first one adds version 2.
        ring = keyring.reload_keyring()
        mine = keyring.new_key()
        keyring.write_keyring_file(
            keyring_path, ring.replace(keys={**ring.keys, 2: mine}, current=2)
        )
    other.join(10)
    assert (started[0].version, started[0].resumed) == (2, True)
    assert keyring.reload_keyring().keys == {1: ring.keys[1], 2: mine}


def test_a_key_from_the_environment_is_not_rotated():
    with pytest.raises(CommandError, match="CARNET_KEK"):
        call_command("keys", "rotate-kek")


_SECOND_PROCESS = """
import sys, django
django.setup()
from carnet.vault import keyring, keys
from carnet.vault.models import DataKey
keyring.RECHECK_SECONDS = 3600  # only meeting an unknown version may make it read the file
print("versions", sorted(keyring.load_keyring().keys), flush=True)
owner, wrapped, version = sys.stdin.readline().split()
row = DataKey(owner=owner, wrapped=bytes.fromhex(wrapped), kek_version=int(version))
print("key", keys._unwrap(row).hex(), flush=True)
"""


def test_another_process_reads_the_keyring_again_when_it_meets_a_new_version(
    keyring_path, establishment
):
    (patient,) = plant(establishment, 1)
    environment = {
        k: v for k, v in os.environ.items() if k not in {"CARNET_KEK", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(
        CARNET_ENV="test",
        CARNET_KEK_FILE=str(keyring_path),
        DJANGO_SETTINGS_MODULE="carnet.settings",
    )
    other = subprocess.Popen(
        [sys.executable, "-c", _SECOND_PROCESS],
        cwd=ROOT,
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().split() == ["versions", "[1]"]
        rotation.start_kek_rotation()
        rotation.rewrap_data_keys()
        row = DataKey.objects.get(owner=patient)
        assert row.kek_version == 2
        other.stdin.write(f"{patient} {bytes(row.wrapped).hex()} 2\n")
        other.stdin.flush()
        answer = other.stdout.readline().split()
        assert answer == ["key", keys._unwrap(row).hex()], other.stderr.read()
    finally:
        other.kill()
        other.wait()


def test_a_cached_keyring_is_looked_at_again_within_seconds(keyring_path, monkeypatch):
    ring = keyring.load_keyring()
    changed = ring.replace(keys={**ring.keys, 2: keyring.new_key()}, index_next=2)
    keyring.write_keyring_file(keyring_path, changed)
    assert keyring.load_keyring().index_next is None, "cached: no stat on every call"
    monkeypatch.setattr(keyring, "RECHECK_SECONDS", 0.05)
    time.sleep(0.1)
    assert keyring.load_keyring().index_next == 2
    assert blind.search_versions() == (1, 2) and blind.write_version() == 2


# --- Blind-index key ----------------------------------------------------------------------


def test_index_rotation_interrupted_half_way_finds_everyone_during_and_after(
    keyring_path, establishment
):
    planted = plant(establishment, 25)
    portal_name = blind.exact_index("portal.email", "marie@example.fr")
    actor = system_actor("tests-keys")
    with pytest.raises(Interrupted):
        reindex_patients(actor=actor, batch_size=4, settle_seconds=0, progress=interrupt_after(3))
    ring = keyring.reload_keyring()
    assert (ring.index, ring.index_next, ring.exact) == (1, 2, 1)
    state = RotationState.objects.get(kind="index")
    assert state.done == 12 and state.cursor and state.finished_at is None

    def carries(version: int) -> set[str]:
        rows = Patient.objects.values_list("id", "bi_birth_date")
        return {
            str(pid)
            for pid, key in rows
            if str(pid) in planted
            and key == search_keys.birth_date_key(planted[str(pid)]["day"], version)
        }

    assert len(carries(2)) == 12 and len(carries(1)) == 13, "half the rows on each version"

    # During: a patient created now is indexed with the new key, and everyone is found.
    planted.update(plant(establishment, 1, tag="NEW", start=25))
    newcomer = next(p for p, k in planted.items() if k["surname"].startswith("NEW"))
    assert newcomer in carries(2)
    assert found_by_every_search(establishment, planted) == {
        "surname+date": [],
        "nir": [],
        "ipp": [],
    }

    report = reindex_patients(actor=actor, batch_size=4, settle_seconds=0)
    assert report.resumed and report.to_version == 2
    ring = keyring.reload_keyring()
    assert (ring.index, ring.index_next) == (2, None)
    assert carries(2) == set(planted)
    assert blind.search_versions() == (2,)
    assert found_by_every_search(establishment, planted) == {
        "surname+date": [],
        "nir": [],
        "ipp": [],
    }
    # The portal's sign-in digests were never recomputable: they kept their version.
    assert blind.exact_index("portal.email", "marie@example.fr") == portal_name
    with pytest.raises(rotation.RotationRefused, match="exact digests"):
        rotation.retire_version(1)


def test_the_keys_commands_rotate_the_index_and_report(keyring_path, establishment):
    planted = plant(establishment, 5)
    call_command("keys", "rotate-index", "--settle", "0", "--no-progress", stdout=StringIO())
    status = StringIO()
    call_command("keys", "status", stdout=status)
    text = status.getvalue()
    assert "blind index from v2" in text and "v1: " in text
    assert "blind-index key rotation v1 -> v2: 5 done, finished" in text
    assert found_by_every_search(establishment, planted) == {
        "surname+date": [],
        "nir": [],
        "ipp": [],
    }
