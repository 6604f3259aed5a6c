"""Backups in two parts kept apart: the database (sealed values and wrapped data keys, useless
alone) and the keys folder (the keyring and the shred journal, useless alone). Restoring
puts the database back, installs the keys only where none are, and merges the journals; the
caller then replays the journal (shredding again whoever was shredded since the backup).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from . import journal
from .decommission import KEYRING_COPY, record_key_backup
from .keyring import (
    keyring_file,
    keyring_locked,
    read_keyring_file,
    reset_keyring_cache,
    write_keyring_file,
)

MANIFEST = "manifest.json"
SQLITE_FILE = "carnet.sqlite3"
PG_FILE = "carnet.pgdump"
# Written by `migrate` itself: a database holding only these is still empty.
BOOKKEEPING = {"django_migrations", "django_content_type", "auth_permission"}

Progress = Callable[[int, int], None]  # (done, total)

DATABASE_README = """\
Carnet database backup, {stamp} ({vendor}).

This folder holds the database only: every identifying and clinical value in it is sealed
with a data key per patient, and those data keys are wrapped by the key-encryption keys of
the keys folder written at the same time:

    {keys_folder}

Keep the two apart, on different media in different places: whoever holds both holds the
patients; one alone opens nothing.

Restore (Carnet stopped, into an empty database; --force to overwrite one):

    carnet restore --from {db_folder} --keys-from {keys_folder}

Restoring replays the shred journal: patients whose keys were destroyed after this backup
(retention, erasure) are shredded again before the database is used.
"""

KEYS_README = """\
Carnet keys backup, {stamp}.

This folder holds the key-encryption keyring ({keyring}) and the shred journal
({journal}) of the installation when the database backup kept here was taken:

    {db_folder}

Keep it apart from that backup (another medium, another place, other people's hands): the
database without these keys cannot be read; with them, it can.

Restore:

    carnet restore --from {db_folder} --keys-from {keys_folder}

The keyring is copied into place only when the installation has none; the journal is merged
into the installation's and replayed. Decommissioning (`carnet decommission`) overwrites and
deletes the keys in this folder if it can still reach it; otherwise destroy it yourself.
"""


class BackupRefused(Exception):
    """A backup or restore that would put keys and data together, or overwrite data."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=False)
    path.chmod(0o700)
    return path


@dataclass(frozen=True)
class Backup:
    db_folder: Path
    keys_folder: Path
    database_file: Path
    size: int


def take_backup(*, to: Path, keys_to: Path, progress: Progress | None = None) -> Backup:
    to, keys_to = to.resolve(), keys_to.resolve()
    if _inside(keys_to, to) or _inside(to, keys_to):
        raise BackupRefused(
            "--keys-to must not be inside the database backup folder (nor the reverse): keys "
            "and database are kept apart, or the backup is as good as the live installation"
        )
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    db_folder = _private_folder(to / stamp)
    keys_folder = _private_folder(keys_to / stamp)
    database_file = _dump(db_folder, progress)
    size = database_file.stat().st_size
    digest = hashlib.sha256()
    with database_file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    manifest = {
        "vendor": connection.vendor,
        "taken_at": timezone.now().isoformat(),
        "file": database_file.name,
        "sha256": digest.hexdigest(),
        "size": size,
    }
    (db_folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    names = {"stamp": stamp, "db_folder": db_folder, "keys_folder": keys_folder}
    (db_folder / "README.txt").write_text(DATABASE_README.format(vendor=connection.vendor, **names))
    _copy_keys(keys_folder)
    (keys_folder / "README.txt").write_text(
        KEYS_README.format(keyring=_keyring_note(), journal=journal.NAME, **names)
    )
    record_key_backup(keys_folder)
    return Backup(db_folder, keys_folder, database_file, size)


def _keyring_note() -> str:
    if settings.CARNET_KEK:
        return (
            "NOT HERE: the key comes from the CARNET_KEK environment variable; back it up yourself"
        )
    return KEYRING_COPY


def _copy_private(source: Path, target: Path) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle, source.open("rb") as original:
        shutil.copyfileobj(original, handle)
        handle.flush()
        os.fsync(handle.fileno())


def _copy_keys(folder: Path) -> None:
    if not settings.CARNET_KEK:
        _copy_private(keyring_file(), folder / KEYRING_COPY)
    live_journal = journal.journal_path()
    if live_journal.exists():
        _copy_private(live_journal, folder / journal.NAME)


def _dump(folder: Path, progress: Progress | None) -> Path:
    if connection.vendor == "sqlite":
        target = folder / SQLITE_FILE
        _sqlite_copy(Path(connection.settings_dict["NAME"]), target, progress)
        target.chmod(0o600)
        return target
    if connection.vendor == "postgresql":
        target = folder / PG_FILE
        tables = len(connection.introspection.table_names())
        command = [_tool("pg_dump"), "--format=custom", "--verbose", "--file", str(target)]
        _run(command + _pg_options(), "dumping contents of table", tables, progress)
        target.chmod(0o600)
        return target
    raise BackupRefused(f"no backup for {connection.vendor} databases")


def _sqlite_copy(source: Path, target: Path, progress: Progress | None) -> None:
    def step(_status: int, remaining: int, total: int) -> None:
        if progress:
            progress(total - remaining, total)

    with closing(sqlite3.connect(source)) as origin, closing(sqlite3.connect(target)) as copy:
        origin.backup(copy, pages=1024, progress=step)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupRefused(
            f"{name} was not found on PATH: install the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client, the server's major version or newer)"
        )
    return found


def _pg_options() -> list[str]:
    db = connection.settings_dict
    options = ["--no-owner", "--dbname", db["NAME"]]
    for flag, value in (("--host", db["HOST"]), ("--port", db["PORT"]), ("--username", db["USER"])):
        if value:
            options += [flag, str(value)]
    return options


def _run(command: list[str], marker: str, total: int, progress: Progress | None) -> None:
    environment = dict(os.environ)
    if connection.settings_dict.get("PASSWORD"):
        environment["PGPASSWORD"] = connection.settings_dict["PASSWORD"]
    process = subprocess.Popen(  # noqa: S603 - a fixed tool and our own arguments
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment
    )
    assert process.stderr is not None
    done, errors = 0, []
    for line in process.stderr:
        if marker in line:
            done += 1
            if progress:
                progress(min(done, total), total)
        elif "error" in line.lower():
            errors.append(line.strip())
    if process.wait():
        raise BackupRefused(f"{Path(command[0]).name} failed: {' '.join(errors[-3:])}")


# --- Restore --------------------------------------------------------------------------


def holds_data() -> list[str]:
    """Tables with rows, `migrate`'s own bookkeeping aside."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            if table in BOOKKEEPING:
                continue
            cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # noqa: S608
            if cursor.fetchone():
                found.append(table)
    return found


@dataclass(frozen=True)
class Restored:
    database_file: Path
    keyring_installed: bool
    journal_merged: int


def restore_backup(
    *, source: Path, keys_from: Path, force: bool = False, progress: Progress | None = None
) -> Restored:
    manifest = _manifest(source)
    if manifest["vendor"] != connection.vendor:
        raise BackupRefused(
            f"this is a {manifest['vendor']} backup; the database configured is {connection.vendor}"
        )
    copy = keys_from / KEYRING_COPY
    if not settings.CARNET_KEK and not keyring_file().exists() and not copy.exists():
        raise BackupRefused(f"no keyring in {keys_from} and none installed: nothing would open")
    filled = holds_data()
    if filled and not force:
        raise BackupRefused(
            f"the database is not empty ({len(filled)} tables hold rows, e.g. "
            f"{', '.join(filled[:3])}): restore into an empty database, or give --force"
        )
    installed = _install_keys(keys_from)
    merged = _merge_journal(keys_from / journal.NAME)
    database_file = source / manifest["file"]
    if connection.vendor == "sqlite":
        target = Path(connection.settings_dict["NAME"])
        connections.close_all()
        _sqlite_copy(database_file, target, progress)
    else:
        has_tables = bool(connection.introspection.table_names())
        command = [_tool("pg_restore"), "--verbose", "--single-transaction", "--exit-on-error"]
        if has_tables:
            command += ["--clean", "--if-exists"]
        items = _pg_data_items(database_file)
        _run(
            [*command, *_pg_options(), str(database_file)],
            "processing data for table",
            items,
            progress,
        )
        connections.close_all()
    return Restored(database_file, installed, merged)


def _manifest(source: Path) -> dict:
    path = source / MANIFEST
    if not path.exists():
        raise BackupRefused(f"{source} is not a Carnet database backup (no {MANIFEST})")
    manifest = json.loads(path.read_text())
    digest = hashlib.sha256()
    with (source / manifest["file"]).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != manifest["sha256"]:
        raise BackupRefused(f"{manifest['file']} does not match its manifest (damaged or altered)")
    return manifest


def _pg_data_items(dump: Path) -> int:
    listing = subprocess.run(  # noqa: S603
        [_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in listing.splitlines() if " TABLE DATA " in line)


def _install_keys(keys_from: Path) -> bool:
    """The installation's own keyring wins (a version retired since the backup stays retired:
    that is what retiring is for); the backup's is installed only where there is none."""
    if settings.CARNET_KEK:
        return False
    copy = keys_from / KEYRING_COPY
    with keyring_locked() as live:
        if live.exists() or not copy.exists():
            return False
        write_keyring_file(live, read_keyring_file(copy))
    reset_keyring_cache()
    return True


def _merge_journal(copy: Path) -> int:
    """Owners the backup's journal names and the installation's does not (a lost journal) are
    journaled again, so the next restore replays them too."""
    if not copy.exists():
        return 0
    live = journal.journal_path()
    known = journal.read([live]).entries if live.exists() else {}
    missing = [owner for owner in journal.read([copy]).entries if owner not in known]
    return journal.record(missing)


def replay_paths(keys_from: Path | None) -> list[Path]:
    paths = [journal.journal_path()]
    if keys_from is not None:
        paths.append(keys_from / journal.NAME)
    return paths
