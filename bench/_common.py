"""What every benchmark shares: a fresh database of its own (SQLite file under var/bench/ or a
PostgreSQL database created and dropped), a throwaway key-encryption key, Django started on
bench settings, percentiles, and the exact command line that reproduces a run.

Import this module before anything of Django's: it sets the environment that settings read.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import os
import secrets
import shlex
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR = Path(os.environ.get("BENCH_VAR_DIR", str(ROOT / "var" / "bench")))
PG_ADMIN_DSN = os.environ.get("BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parser(description: str, *, patients: int | None = None) -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=description)
    parse.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    if patients is not None:
        parse.add_argument("--patients", type=int, default=patients)
    parse.add_argument("--seed", type=int, default=2026, help="random seed (reproducible)")
    parse.add_argument(
        "--keep", action="store_true", help="keep the benchmark database (default: drop it)"
    )
    return parse


def command_line(script: str, args: argparse.Namespace) -> str:
    """The exact command that reproduces this run, every option spelled out."""
    parts = [".venv/bin/python", f"bench/{script}"]
    for name, value in sorted(vars(args).items()):
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                parts.append(flag)
        elif value is not None:
            parts += [flag, str(value)]
    return f"cd {ROOT} && " + " ".join(shlex.quote(p) for p in parts)


@dataclass
class BenchDatabase:
    vendor: str
    name: str
    url: str
    path: Path | None = None

    def size(self) -> str:
        if self.path is not None:
            total = sum(
                p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists()
            )
            return f"{total / 1e6:.0f} MB (file + WAL)"
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            return str(cursor.fetchone()[0])


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def bench_database(vendor: str, label: str, *, keep: bool = False) -> Iterator[BenchDatabase]:
    """Sets the environment, creates an empty database, starts Django and migrates; drops
    the database at the end (unless `keep`)."""
    BENCH_VAR.mkdir(parents=True, exist_ok=True)
    tag = f"{label}_{os.getpid()}"
    if vendor == "sqlite":
        path = BENCH_VAR / f"{tag}.sqlite3"
        db = BenchDatabase("sqlite", str(path), f"sqlite:///{path}", path)
    else:
        name = f"bench_carnet_{tag}"
        db = BenchDatabase("postgres", name, f"{PG_URL}/{name}")
        _pg_admin(f'CREATE DATABASE "{name}"')
    os.environ.update(
        {
            "CARNET_ENV": "test",
            "CARNET_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
            "CARNET_VAR_DIR": str(BENCH_VAR),
            "DATABASE_URL": db.url,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            # django.test.Client speaks as "testserver".
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "CARNET_LOG_LEVEL": "ERROR",
            # This run's own witness: each run has its own key, so another run's lines would
            # read as tampered with.
            "CARNET_AUDIT_WITNESS": str(BENCH_VAR / f"{tag}-audit-witness.jsonl"),
            # As in production: FHIR responses are validated by the tests, not per request.
            "CARNET_FHIR_VALIDATE_RESPONSES": "0",
        }
    )
    os.environ.pop("CARNET_KEK_FILE", None)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield db
    finally:
        # Drop first, print after: a closed pipe (`| head`) must not leave a database behind.
        from django.db import connections

        ending = load_line()
        connections.close_all()
        if not keep:
            Path(os.environ["CARNET_AUDIT_WITNESS"]).unlink(missing_ok=True)
        if keep:
            pass
        elif vendor == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{db.path}{suffix}").unlink(missing_ok=True)
        else:
            _pg_admin(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        with contextlib.suppress(OSError):
            print(f"at the end: {ending}" + (f"; kept database: {db.url}" if keep else ""))


def seed(
    patients: int, seed_value: int, batch: int = 2000, *, line: str = "", **options: object
) -> tuple[float, str]:
    """Runs Carnet's own `seed` command; returns wall seconds and its last line of output (or
    the first line containing `line`)."""
    from django.core.management import call_command

    out = io.StringIO()
    started = time.perf_counter()
    call_command(
        "seed",
        patients=patients,
        seed=seed_value,
        batch=batch,
        no_progress=True,
        stdout=out,
        **options,
    )
    elapsed = time.perf_counter() - started
    lines = [text for text in out.getvalue().splitlines() if text.strip()] or [""]
    return elapsed, next((text for text in lines if line and line in text), lines[-1])


def ordinary_patient_ids(ids_and_marks: list[tuple[object, object]]) -> list[str]:
    """Drops canaries (where Carnet plants them): a benchmark that touched one would have its
    account contained, which is the guard working, not the path being measured."""
    try:
        from carnet.guard.canaries import is_canary
    except ImportError:
        return [str(i) for i, _ in ids_and_marks]
    return [str(i) for i, mark in ids_and_marks if not is_canary(str(i), mark)]


def ids_and_marks(queryset: object) -> list[tuple[object, object]]:
    """(id, canary mark or None) of the patients in `queryset`."""
    from carnet.patients.models import Patient

    names = {f.name for f in Patient._meta.get_fields()}
    if "mark" in names:
        return list(queryset.values_list("id", "mark"))  # type: ignore[attr-defined]
    return [(i, None) for i in queryset.values_list("id", flat=True)]  # type: ignore[attr-defined]


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(fraction * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Summary:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    low: float
    high: float

    def line(self, label: str, unit: str = "ms") -> str:
        return (
            f"{label:<28} n={self.count:<6} mean={self.mean:8.2f} p50={self.p50:8.2f} "
            f"p95={self.p95:8.2f} p99={self.p99:8.2f} min={self.low:7.2f} "
            f"max={self.high:8.2f} {unit}"
        )


def summarise(values_ms: Sequence[float]) -> Summary:
    ordered = sorted(values_ms)
    return Summary(
        count=len(ordered),
        mean=statistics.fmean(ordered) if ordered else float("nan"),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        low=ordered[0] if ordered else float("nan"),
        high=ordered[-1] if ordered else float("nan"),
    )


def verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def print_profile(profile: object, limit: int = 25) -> None:
    """The hottest functions of a cProfile run: Carnet's own by cumulative time, then
    everything by own time and by cumulative time."""
    import pstats

    def show(title: str, order: str, strip: bool, *restrictions: object) -> None:
        print(f"\n--- cProfile: {title} ---")
        stream = io.StringIO()
        stats = pstats.Stats(profile, stream=stream)  # type: ignore[arg-type]
        if strip:
            stats.strip_dirs()
        stats.sort_stats(order).print_stats(*restrictions)
        text = stream.getvalue()
        start = text.find("   ncalls")
        body = text[start:] if start >= 0 else text
        print(body.replace(str(ROOT) + "/", "").rstrip())

    show(
        f"Carnet's functions, top {limit} by cumulative time",
        "cumulative",
        False,
        r"/carnet/",
        limit,
    )
    show(f"everything, top {limit} by own time", "tottime", True, limit)
    show(f"everything, top {limit} by cumulative time", "cumulative", True, limit)


def environment_line(db: BenchDatabase) -> str:
    import django

    return (
        f"database: {db.vendor} ({db.name}); Python {sys.version.split()[0]}; "
        f"Django {django.get_version()}; {os.cpu_count()} CPUs; {load_line()}"
    )


def load_line() -> str:
    """Other work on the machine skews rates (not ratios measured in one interleaved loop)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"
