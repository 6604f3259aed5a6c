"""The vault's promises: values are sealed per patient and per place, open only where the
guard handed the patient over, and are gone for good once the data key is shredded."""

import base64
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from carnet.guard.actors import Actor
from carnet.guard.boundary import Subject, admit_one, boundary
from carnet.guard.policy import Capability, Role
from carnet.patients.models import Patient
from carnet.vault import keyring
from carnet.vault.keys import Shredded, shred
from carnet.vault.scope import OpeningRefused, opening_scope
from carnet.vault.sealing import SealBroken, new_data_key, seal, unseal, unwrap_key, wrap_key

from .factories import make_patient

pytestmark = pytest.mark.django_db


def _open(patient_id: str, field: str):
    """Opens one field as a secretary of the patient's establishment would, via the guard."""
    establishments = frozenset(
        Patient.objects.get(id=patient_id).identifiers.values_list("establishment_id", flat=True)
    )
    actor = Actor(
        user_id=None, username="desk", role=Role.SECRETARY, establishment_ids=establishments
    )
    with boundary(actor, "tests.open"):
        patient = Patient.objects.get(id=patient_id)
        admit_one(actor, Capability.VIEW_IDENTITY, Subject(patient_id, establishments))
        return getattr(patient, field)


def _db_id(patient_id: str) -> str:
    return patient_id.replace("-", "") if connection.vendor == "sqlite" else patient_id


def _raw(patient_id: str, column: str) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM patients_patient WHERE id = %s", [_db_id(patient_id)])
        return bytes(cursor.fetchone()[0])


def _write_raw(patient_id: str, column: str, value: bytes) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE patients_patient SET {column} = %s WHERE id = %s", [value, _db_id(patient_id)]
        )


def test_a_sealed_value_round_trips_and_is_not_plaintext(establishment):
    patient = make_patient(establishment, birth_surname="LEFÈVRE")
    assert _open(patient, "birth_surname") == "LEFÈVRE"
    raw = _raw(patient, "birth_surname_sealed")
    assert b"LEF" not in raw and len(raw) >= 1 + 12 + 16 + 16


def test_a_value_moved_to_another_patients_row_fails_to_open(establishment):
    alice = make_patient(establishment, birth_surname="ALICE")
    bob = make_patient(establishment, birth_surname="BOBBY")
    _write_raw(bob, "birth_surname_sealed", _raw(alice, "birth_surname_sealed"))
    with pytest.raises(SealBroken):
        _open(bob, "birth_surname")
    assert _open(alice, "birth_surname") == "ALICE"


def test_a_value_moved_to_another_column_of_the_same_row_fails_to_open(establishment):
    patient = make_patient(establishment, birth_surname="MARTIN", city="Lyon")
    _write_raw(patient, "city_sealed", _raw(patient, "birth_surname_sealed"))
    with pytest.raises(SealBroken):
        _open(patient, "city")


def test_an_altered_ciphertext_fails_to_open(establishment):
    patient = make_patient(establishment)
    raw = bytearray(_raw(patient, "email_sealed"))
    raw[-1] ^= 1
    _write_raw(patient, "email_sealed", bytes(raw))
    with pytest.raises(SealBroken):
        _open(patient, "email")


def test_nothing_opens_outside_what_the_guard_handed_over(establishment):
    patient_id = make_patient(establishment)
    patient = Patient.objects.get(id=patient_id)
    with pytest.raises(OpeningRefused):
        patient.birth_surname  # noqa: B018 - no scope at all
    with opening_scope():
        fresh = Patient.objects.get(id=patient_id)
        with pytest.raises(OpeningRefused):
            fresh.birth_surname  # noqa: B018 - a scope, but the guard admitted nobody


def test_shredding_the_data_key_makes_every_value_unreadable(establishment):
    patient = make_patient(establishment, birth_surname="OUBLIE")
    assert _open(patient, "birth_surname") == "OUBLIE"
    assert shred(patient)
    for field in ("birth_surname", "first_names", "email", "birth_date", "city", "phone"):
        with pytest.raises(Shredded):
            _open(patient, field)
    # The ciphertext is still in the database, and still useless.
    assert _raw(patient, "birth_surname_sealed")


def test_a_wrapped_data_key_moved_to_another_patient_fails_to_unwrap():
    kek = keyring.load_keyring().kek(1)
    data_key = new_data_key()
    wrapped = wrap_key(kek, data_key, "patient-a", 1)
    assert unwrap_key(kek, wrapped, "patient-a", 1) == data_key
    with pytest.raises(SealBroken):
        unwrap_key(kek, wrapped, "patient-b", 1)
    with pytest.raises(SealBroken):
        unwrap_key(b"\x00" * 32, wrapped, "patient-a", 1)


def test_sealing_pads_so_lengths_say_little():
    key = new_data_key()
    short = seal(key, b"LI", b"aad")
    longer = seal(key, b"LEFEBVRE", b"aad")
    assert len(short) == len(longer)
    assert unseal(key, longer, b"aad") == b"LEFEBVRE"


def test_a_keyring_file_readable_by_others_is_refused(tmp_path, settings):
    path = tmp_path / "keys" / "keyring.json"
    keyring.create_keyring_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    document = json.loads(path.read_text())
    assert len(base64.b64decode(document["keys"]["1"])) == 32
    settings.CARNET_KEK = ""
    settings.CARNET_KEK_FILE = str(path)
    keyring.reset_keyring_cache()
    try:
        assert keyring.load_keyring().current == 1
        path.chmod(0o644)
        keyring.reset_keyring_cache()
        with pytest.raises(ImproperlyConfigured, match="chmod 600"):
            keyring.load_keyring()
        with pytest.raises(FileExistsError):
            keyring.create_keyring_file(path)
    finally:
        keyring.reset_keyring_cache()


def test_a_withdrawn_owner_opens_nothing_even_with_its_key_kept(establishment):
    from carnet.vault.scope import admit, withdraw

    patient_id = make_patient(establishment, birth_surname="RETIRE")
    with opening_scope():
        admit(patient_id)
        assert Patient.objects.get(id=patient_id).birth_surname == "RETIRE"
        withdraw(patient_id, keep_key=True)
        with pytest.raises(OpeningRefused):
            Patient.objects.get(id=patient_id).birth_surname  # noqa: B018


@pytest.mark.django_db
def test_binary_content_seals_with_the_owners_key_and_its_place():
    import uuid

    from carnet.vault import keys, scope

    owner = str(uuid.uuid4())
    with scope.opening_scope():
        scope.admit(owner)
        keys.create_data_key(owner)
        content = b"%PDF-1.7\n\x00\xff binary"
        blob = keys.seal_bytes(owner, "document.content", content)
        assert content not in blob
        assert keys.open_bytes(owner, "document.content", blob) == content
        with pytest.raises(Exception):  # noqa: B017 - any failure to open is the point
            keys.open_bytes(owner, "document.other", blob)
