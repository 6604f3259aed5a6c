"""Backups in two parts kept apart, a restore that shreds again whoever was shredded since, and
a decommissioning after which nothing on disk opens a single identity: every file left is
searched for key material, and every piece found is tried on every wrapped key and sealed
value of the live database and of the backup."""

import base64
import contextlib
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.patients.services import import_identities
from carnet.vault import keys
from carnet.vault.models import DataKey
from carnet.vault.sealing import SealBroken, associated_data, unseal, unwrap_key

from .test_key_rotation import installation_keyring, open_surname
from .test_raw_database import _forms, _planted, _raw_dump

ROOT = Path(__file__).resolve().parent.parent
PLANTED = 30
SURNAME_PLACE = "patients.patient.birth_surname"


@pytest.fixture
def keyring_path(tmp_path):
    with installation_keyring(tmp_path / "live") as path:
        yield path


def _import(establishment, count: int = PLANTED) -> list[dict]:
    records = _planted(random.Random(11))[:count]
    actor = system_actor("tests")
    with system_job(actor, "tests.import"):
        import_identities(
            actor=actor, records=({**r, "establishment_ids": [establishment.pk]} for r in records)
        )
    return records


def _backup(tmp_path) -> tuple[Path, Path]:
    call_command(
        "backup",
        "--to",
        str(tmp_path / "db-backups"),
        "--keys-to",
        str(tmp_path / "key-backups"),
        "--no-progress",
        stdout=StringIO(),
    )
    (db_folder,) = (tmp_path / "db-backups").iterdir()
    (keys_folder,) = (tmp_path / "key-backups").iterdir()
    return db_folder, keys_folder


# --- Reading a database without Carnet -----------------------------------------------------


def _owner_text(value: object) -> str:
    return str(uuid.UUID(str(value)))


def _sqlite_rows(path: Path) -> tuple[list[tuple], list[tuple]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        data_keys = db.execute("SELECT owner, wrapped, kek_version FROM vault_datakey").fetchall()
        sealed = db.execute("SELECT id, birth_surname_sealed FROM patients_patient").fetchall()
    return data_keys, sealed


def _pg_rows(dsn: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(dsn) as db:
        data_keys = db.execute("SELECT owner, wrapped, kek_version FROM vault_datakey").fetchall()
        sealed = db.execute("SELECT id, birth_surname_sealed FROM patients_patient").fetchall()
    return data_keys, sealed


def _copy_block(sql: str, table: str) -> list[dict]:
    """The rows of one table in pg_restore's plain SQL output (COPY ... FROM stdin)."""
    match = re.search(rf"COPY public\.{table} \(([^)]*)\) FROM stdin;\n(.*?)\n\\\.\n", sql, re.S)
    if match is None:
        return []
    columns = [c.strip().strip('"') for c in match.group(1).split(",")]
    rows = []
    for line in match.group(2).splitlines():
        values = [None if v == "\\N" else v for v in line.split("\t")]
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _bytea(text: str | None) -> bytes | None:
    return None if text is None else bytes.fromhex(text.removeprefix("\\\\x"))


def _pg_dump_rows(sql: str) -> tuple[list[tuple], list[tuple]]:
    data_keys = [
        (r["owner"], _bytea(r["wrapped"]), int(r["kek_version"]))
        for r in _copy_block(sql, "vault_datakey")
    ]
    sealed = [
        (r["id"], _bytea(r["birth_surname_sealed"])) for r in _copy_block(sql, "patients_patient")
    ]
    return data_keys, sealed


def _pg_restore_sql(dump: Path) -> str:
    return subprocess.run(
        [shutil.which("pg_restore"), "--file", "-", str(dump)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _backup_bytes_and_rows(db_folder: Path) -> tuple[bytes, list[tuple], list[tuple]]:
    if connection.vendor == "sqlite":
        path = db_folder / "carnet.sqlite3"
        return path.read_bytes(), *_sqlite_rows(path)
    sql = _pg_restore_sql(db_folder / "carnet.pgdump")
    return sql.encode(), *_pg_dump_rows(sql)


def _live_rows() -> tuple[list[tuple], list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT owner, wrapped, kek_version FROM vault_datakey")
        data_keys = [(o, None if w is None else bytes(w), v) for o, w, v in cursor.fetchall()]
        cursor.execute("SELECT id, birth_surname_sealed FROM patients_patient")
        sealed = [(i, None if b is None else bytes(b)) for i, b in cursor.fetchall()]
    return data_keys, sealed


# --- Key material ------------------------------------------------------------------------


def _key_material(*roots: Path) -> set[bytes]:
    """Every 32-byte value any file under `roots` could hold: base64 or hex tokens, JSON
    strings, files of exactly 32 bytes; and the key in this process's environment."""
    found: set[bytes] = set()
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file():
                continue
            content = path.read_bytes()
            if len(content) == 32:
                found.add(content)
            text = content.decode("latin-1")
            for token in re.findall(r"[A-Za-z0-9+/]{43}=", text):
                found.add(base64.b64decode(token))
            for token in re.findall(r"\b[0-9a-fA-F]{64}\b", text):
                found.add(bytes.fromhex(token))
    if os.environ.get("CARNET_KEK"):
        found.add(base64.b64decode(os.environ["CARNET_KEK"]))
    return found


def _identities_readable(
    candidates: set[bytes], data_keys: list[tuple], sealed: list[tuple]
) -> int:
    """Patients whose surname opens with anything found: each candidate tried as a
    key-encryption key (every version) on every wrapped data key, and as a data key itself."""
    opened_keys: dict[str, set[bytes]] = {}
    for owner, wrapped, _version in data_keys:
        if wrapped is None:
            continue
        owner = _owner_text(owner)
        for candidate in candidates:
            for version in range(1, 6):
                with contextlib.suppress(SealBroken, ValueError):
                    opened_keys.setdefault(owner, set()).add(
                        unwrap_key(candidate, wrapped, owner, version)
                    )
    readable = 0
    for patient_id, blob in sealed:
        if blob is None:
            continue
        owner = _owner_text(patient_id)
        for key in opened_keys.get(owner, set()) | candidates:
            try:
                unseal(key, blob, associated_data(owner, SURNAME_PLACE))
            except (SealBroken, ValueError):
                continue
            readable += 1
            break
    return readable


# --- Backup and restore ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_backup_keeps_database_and_keys_apart(keyring_path, establishment, tmp_path):
    with pytest.raises(CommandError, match="must not be inside"):
        call_command(
            "backup", "--to", str(tmp_path / "b"), "--keys-to", str(tmp_path / "b" / "keys")
        )
    db_folder, keys_folder = _backup(tmp_path)
    for folder in (db_folder, keys_folder):
        assert folder.stat().st_mode & 0o777 == 0o700
        assert "apart" in (folder / "README.txt").read_text()
    assert (keys_folder / "keyring.json").read_bytes() == keyring_path.read_bytes()
    assert (keys_folder / "keyring.json").stat().st_mode & 0o777 == 0o600
    assert not list(db_folder.glob("keyring*"))
    manifest = json.loads((db_folder / "manifest.json").read_text())
    assert manifest["vendor"] == connection.vendor
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", "--from", str(db_folder), "--keys-from", str(keys_folder))


@contextlib.contextmanager
def _fresh_database(tmp_path):
    """An empty database of the same kind as the tests', and its DATABASE_URL."""
    if connection.vendor == "sqlite":
        path = tmp_path / "restored.sqlite3"
        yield f"sqlite:///{path}", path
        return
    settings = connection.settings_dict
    name = f"{settings['NAME']}_restored"
    admin = f"postgresql://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}", None
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_carnet(*args: str, database_url: str, keyring: Path, var: Path) -> str:
    environment = {
        k: v for k, v in os.environ.items() if k not in {"CARNET_KEK", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(
        CARNET_ENV="test",
        DATABASE_URL=database_url,
        CARNET_KEK_FILE=str(keyring),
        CARNET_VAR_DIR=str(var),
        DJANGO_SETTINGS_MODULE="carnet.settings",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_a_restored_backup_is_shredded_again_before_use(keyring_path, establishment, tmp_path):
    records = _import(establishment, 6)
    surnames = {r["birth_surname"] for r in records}
    db_folder, keys_folder = _backup(tmp_path)
    victim = str(DataKey.objects.order_by("owner").values_list("owner", flat=True).first())
    assert keys.shred(victim)
    with pytest.raises(keys.Shredded):
        open_surname(establishment, victim)

    with _fresh_database(tmp_path) as (url, path):
        out = _run_carnet(
            "restore",
            "--from",
            str(db_folder),
            "--keys-from",
            str(keys_folder),
            "--no-progress",
            database_url=url,
            keyring=keyring_path,
            var=tmp_path / "var",
        )
        assert "1 shredded again" in out
        restored = (
            _sqlite_rows(path) if path else _pg_rows(url.replace("postgres://", "postgresql://"))
        )

    ring = json.loads(keyring_path.read_text())["keys"]
    candidates = {base64.b64decode(k) for k in ring.values()}
    data_keys, sealed = restored
    victim_rows = [row for row in data_keys if _owner_text(row[0]) == victim]
    assert victim_rows and victim_rows[0][1] is None, "the victim's key came back with the backup"
    others_data_keys = [row for row in data_keys if _owner_text(row[0]) != victim]
    others_sealed = [row for row in sealed if _owner_text(row[0]) != victim]
    victim_sealed = [row for row in sealed if _owner_text(row[0]) == victim]
    assert _identities_readable(candidates, others_data_keys, others_sealed) == len(surnames) - 1
    assert _identities_readable(candidates, data_keys, victim_sealed) == 0

    # Control: the backup itself still holds the victim's key, the replay is what removed it.
    _, backup_keys, _ = _backup_bytes_and_rows(db_folder)
    assert any(_owner_text(o) == victim and w is not None for o, w, _ in backup_keys)


# --- Decommissioning ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_decommission_refuses_a_wrong_name_and_a_key_it_cannot_destroy(establishment, tmp_path):
    with pytest.raises(CommandError, match="CARNET_KEK"):
        call_command("decommission", "--confirm", establishment.group.name, "--out", str(tmp_path))
    with pytest.raises(CommandError, match="type that name exactly"):
        call_command("decommission", "--confirm", "Clinique du Parc", "--out", str(tmp_path))
    assert DataKey.objects.filter(wrapped__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_after_decommissioning_nothing_on_disk_opens_an_identity(
    keyring_path, establishment, tmp_path
):
    records = _import(establishment)
    db_folder, keys_folder = _backup(tmp_path)
    backup_bytes, backup_keys, backup_sealed = _backup_bytes_and_rows(db_folder)
    # Control: before, the keys on disk open every identity, in the live database and the backup.
    before = _key_material(tmp_path)
    assert _identities_readable(before, *_live_rows()) == PLANTED
    assert _identities_readable(before, backup_keys, backup_sealed) == PLANTED

    out = StringIO()
    call_command(
        "decommission",
        "--confirm",
        establishment.group.name,
        "--out",
        str(tmp_path / "certificate"),
        "--no-progress",
        stdout=out,
    )

    assert not keyring_path.exists() and not (keys_folder / "keyring.json").exists()
    assert DataKey.objects.filter(wrapped__isnull=False).count() == 0
    after = _key_material(tmp_path)
    assert _identities_readable(after, *_live_rows()) == 0
    assert _identities_readable(after, backup_keys, backup_sealed) == 0
    live_dump = _raw_dump()
    assert establishment.name.encode() in live_dump, "the dump read is not this database"
    for record in records:
        for field in ("birth_surname", "nir", "phone", "email"):
            for form in _forms(record[field]):
                assert form not in live_dump and form not in backup_bytes, (field, form)

    (certificate,) = (tmp_path / "certificate").glob("*.json")
    payload = json.loads(certificate.read_text())["certificate"]
    assert payload["installation"] == establishment.group.name
    assert (payload["patients"], payload["data_keys_destroyed"]) == (PLANTED, PLANTED)
    assert payload["keyring_versions_destroyed"] == [1]
    assert payload["key_backups_destroyed"] == [str(keys_folder)]
    assert payload["audit"]["heads"] and payload["audit"]["anchor"]["hash"]
    public = certificate.with_suffix(".pub").read_text().strip()
    assert f"public key (Ed25519): {public}" in out.getvalue()
    assert "PRIVATE" not in "".join(p.read_text() for p in certificate.parent.iterdir())

    verified = StringIO()
    call_command(
        "decommission", "verify", str(certificate), "--public-key", public, stdout=verified
    )
    assert "signature valid" in verified.getvalue()
    document = json.loads(certificate.read_text())
    document["certificate"]["patients"] = 3
    certificate.write_text(json.dumps(document))
    with pytest.raises(SystemExit):
        call_command("decommission", "verify", str(certificate), stdout=StringIO())
