"""FHIR API throughput: `GET /fhir/Patient/<id>` and `GET /fhir/Patient?family=&birthdate=`
through the whole stack (gunicorn workers on 127.0.0.1, middleware, bearer token, SMART
scope, guard boundary and decision, vault opening every sealed field, audit entry in the same
transaction; fhir.resources validation off, as in production) against a plain Django JSON
view of the same rows kept unencrypted (bench/plainapp), rendered with the same Patient
mapping, served by the same workers in the same run. Concurrent clients (threads, one
keep-alive-less HTTP connection per request, like gunicorn's sync workers want) hit one side
at a time, in alternating rounds.

The bench account is a backend service's service account (a practitioner of every
establishment) with a care relationship to every patient, the ordinary case: reading hundreds
of patients outside any relationship is exactly what the budgets stop. Search queries are
drawn from real identities and never match a canary.

    .venv/bin/python bench/fhir.py --db postgres --patients 5000 --clients 8 --seconds 15
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

ROOT = _common.ROOT


# --- served by the gunicorn workers --------------------------------------------------------


def _plain_card(row: Any) -> Any:
    from bench.plainapp.views import _card

    return _card(row)


def plain_patient(request: Any, patient_id: str) -> Any:
    """The plain side: one ordinary query, the same Patient mapping, json.dumps."""
    from django.http import HttpResponse, JsonResponse

    from bench.plainapp.models import PlainPatient
    from carnet.api.resources.patient import patient_resource

    row = (
        PlainPatient.objects.select_related("treating_doctor__user")
        .prefetch_related("identifiers__establishment")
        .filter(id=patient_id)
        .first()
    )
    if row is None:
        return JsonResponse({"resourceType": "OperationOutcome"}, status=404)
    body = json.dumps(patient_resource(_plain_card(row)), ensure_ascii=False)
    return HttpResponse(body, content_type="application/fhir+json; charset=utf-8")


def plain_search(request: Any) -> Any:
    import datetime

    from django.http import HttpResponse

    from bench.plainapp.models import PlainPatient
    from carnet.api.fhir import searchset
    from carnet.api.resources.patient import search_resource
    from carnet.patients.cards import SearchRow

    day = datetime.date.fromisoformat(request.GET["birthdate"])
    family = request.GET["family"].upper()
    rows = PlainPatient.objects.filter(
        birth_date=day, birth_surname__startswith=family
    ).prefetch_related("identifiers")[:11]
    resources = [
        search_resource(
            SearchRow(
                id=str(r.id),
                birth_surname=r.birth_surname,
                used_surname=r.used_surname,
                first_names=r.first_names,
                sex=r.sex,
                birth_date=r.birth_date,
                ipp=next((i.value for i in r.identifiers.all()), ""),
                status=r.status,
            ),
        )
        for r in rows[:10]
    ]
    bundle = searchset(
        base=request.build_absolute_uri("/bench/plain/fhir/"),
        resource_type="Patient",
        params=request.GET,
        resources=resources,
    )
    return HttpResponse(
        json.dumps(bundle, ensure_ascii=False), content_type="application/fhir+json"
    )


def __getattr__(name: str) -> Any:
    """This module is also the workers' URL conf (built once Django is ready)."""
    if name != "urlpatterns":
        raise AttributeError(name)
    from django.urls import path

    from bench.urls import urlpatterns as bench_urlpatterns
    from carnet.guard.http import public_view

    return [
        path("bench/plain/fhir/Patient/<uuid:patient_id>", public_view(plain_patient)),
        path("bench/plain/fhir/Patient", public_view(plain_search)),
        *bench_urlpatterns,
    ]


def application() -> Any:
    """gunicorn's app factory: bench settings, this module as the URL conf."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.ROOT_URLCONF = "bench.fhir"
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


# --- the run ------------------------------------------------------------------------------


def service_token(port: int, ids: list[str]) -> str:
    """A backend service acting as a practitioner of every establishment, related to every
    patient; its token over HTTP (client credentials)."""
    import base64

    from bench.chart_read import relate_all
    from carnet.api.clients import register_backend
    from carnet.guard.policy import Role
    from carnet.organisations.models import Establishment
    from carnet.staff.services import create_account

    user = create_account(
        approved=True,
        username="bench.fhir",
        password="bench-" + secrets.token_urlsafe(18),
        role=Role.PRACTITIONER,
        first_name="Bench",
        last_name="FHIR",
        establishments=list(Establishment.objects.all()),
    )
    print(relate_all(user, ids))
    service = register_backend(
        name="bench", account="bench.fhir", scopes="system/Patient.rs", client_secret=True
    )
    pair = base64.b64encode(f"{service.client_id}:{service.client_secret}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(
        "POST",
        "/fhir/oauth/token/",
        body=urlencode({"grant_type": "client_credentials", "scope": "system/Patient.rs"}),
        headers={
            "Authorization": f"Basic {pair}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    answer = connection.getresponse()
    body = answer.read()
    if answer.status != 200:
        raise SystemExit(f"token endpoint answered {answer.status}: {body[:300]!r}")
    return json.loads(body)["access_token"]


def search_queries(rng: random.Random, limit: int = 2000) -> list[tuple[str, str]]:
    """(surname prefix, birth date) of real identities, from the plain copy; none that a
    canary would also match."""
    from bench.plainapp.models import PlainPatient
    from carnet.guard.canaries import is_canary
    from carnet.patients.models import Patient
    from carnet.vault.blind import normalise

    marks = dict(Patient.objects.values_list("id", "mark"))
    canaries = {str(i) for i, m in marks.items() if is_canary(str(i), m)}
    rows = list(
        PlainPatient.objects.values_list("id", "birth_surname", "used_surname", "birth_date")
    )
    taken = set()
    for pid, birth, used, day in rows:
        if str(pid) in canaries:
            taken |= {(birth[:3].upper(), day), ((used or birth)[:3].upper(), day)}
    queries = [
        (birth[:3].upper(), day.isoformat())
        for pid, birth, _, day in rows
        if str(pid) not in canaries
        and (birth[:3].upper(), day) not in taken
        and len(normalise(birth[:3])) == 3
    ]
    rng.shuffle(queries)
    return queries[:limit]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workers: int, port: int) -> subprocess.Popen:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen(
        [
            gunicorn,
            "--chdir",
            str(ROOT),
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.fhir:application()",
        ],
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start within 60 s")


def hammer(port: int, paths: list[str], token: str, clients: int, seconds: float, limit: int):
    """`clients` threads request the paths round-robin until `seconds` or `limit` requests;
    returns (requests, failures, elapsed seconds, latencies in ms)."""
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "failed": 0, "latencies": []}
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}

    def work() -> None:
        while time.perf_counter() < deadline:
            with lock:
                if state["next"] >= limit:
                    return
                path = paths[state["next"] % len(paths)]
                state["next"] += 1
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                connection.request("GET", path, headers=headers)
                answer = connection.getresponse()
                answer.read()
                ok = answer.status == 200
            except OSError:
                ok = False
            finally:
                connection.close()
            with lock:
                state["done"] += 1
                state["failed"] += 0 if ok else 1
                state["latencies"].append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return state["done"], state["failed"], time.perf_counter() - started, state["latencies"]


# Where a guarded read's time goes: (label, file ending, function), cumulative per request.
PHASES = (
    ("bearer token, account and actor", "carnet/api/auth.py", "grant_for"),
    ("  of which actor and memberships", "carnet/staff/actors.py", "actor_for_account"),
    ("patient rows (identity, identifiers, wrapped key)", "django/db/models/query.py", "first"),
    ("guard decision (canary, relationship, reach, budget)", "carnet/guard/boundary.py", "_decide"),
    ("  of which care relationships", "carnet/guard/relationships.py", "kinds_for"),
    ("  of which exposure budget", "carnet/guard/budgets.py", "charge"),
    ("vault: unwrap the data key", "carnet/vault/keys.py", "data_key"),
    ("vault: open sealed fields (AES-GCM)", "carnet/vault/keys.py", "open_value"),
    ("audit append (entry, head, subjects)", "carnet/audit/chain.py", "append"),
    ("fhir.resources validation", "carnet/api/fhir.py", "validated"),
    ("JSON rendering", "json/__init__.py", "dumps"),
    ("whole request in Django", "django/core/handlers/base.py", "get_response"),
)


def _cumulative(profile: Any, suffix: str, name: str) -> tuple[float, int]:
    import pstats

    total, calls = 0.0, 0
    for (filename, _, function), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if function == name and filename.endswith(suffix):
            total += row[3]
            calls += row[1]
    return total, calls


def profile_requests(paths: dict[str, list[str]], token: str, count: int) -> None:
    """In this process, through Django's test client: statements per request for each side and
    kind, then a cProfile of `count` guarded reads split into the phases above."""
    import cProfile

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = "bench.fhir"
    clear_url_caches()
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_ACCEPT": "application/fhir+json"}
    print(f"\n--- statements per request (mean of {count}, after one warm-up) ---")
    for label, some in paths.items():
        client.get(some[0], **headers)
        with CaptureQueriesContext(connection) as captured:
            for path in some[1 : count + 1]:
                assert client.get(path, **headers).status_code == 200, path
        done = len(some[1 : count + 1])
        print(f"{label:<16} {len(captured.captured_queries) / done:5.1f} statements")
    reads = paths["read guarded"][1 : count + 1]
    profile = cProfile.Profile()
    profile.enable()
    for path in reads:
        client.get(path, **headers)
    profile.disable()
    print(f"\n--- where a guarded Patient read's time goes (cProfile, {len(reads)} reads) ---")
    for label, suffix, name in PHASES:
        seconds, calls = _cumulative(profile, suffix, name)
        print(f"{label:<55} {seconds * 1000 / len(reads):7.3f} ms  ({calls} calls)")
    from carnet.api.fhir import validated

    body = json.loads(client.get(reads[0], **headers).content)
    started = time.perf_counter()
    for _ in range(200):
        validated(body)
    each = (time.perf_counter() - started) / 200 * 1000
    print(f"{'(fhir.resources validation of one Patient, if it were on)':<55} {each:7.3f} ms")
    _common.print_profile(profile, 20)


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=5000)
    parse.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parse.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers")
    parse.add_argument("--seconds", type=float, default=15, help="per side and kind, per round")
    parse.add_argument("--rounds", type=int, default=2, help="alternating rounds per kind")
    parse.add_argument("--max-requests", type=int, default=20000, help="bound per side and round")
    parse.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also count statements and profile N requests in this process, after the run",
    )
    args = parse.parse_args()
    rng = random.Random(args.seed)

    with _common.bench_database(args.db, "fhir", keep=args.keep) as db:
        print(_common.environment_line(db))
        seconds, said = _common.seed(args.patients, args.seed)
        print(f"seeded: {said} (whole command {seconds:.1f} s)")
        from bench.chart_read import copy_to_plain
        from carnet.patients.models import Patient

        print(f"copied {copy_to_plain()} identities in clear to the plain table")
        ids = _common.ordinary_patient_ids(_common.ids_and_marks(Patient.objects.all()))
        queries = search_queries(rng)
        print(f"{len(ids)} patients to read, {len(queries)} search queries (no canary matches)")
        from django.db import connections

        port = free_port()
        token_ids = list(ids)
        server = None
        try:
            server = start_server(args.workers, port)
            token = service_token(port, token_ids)
            connections.close_all()
            rng.shuffle(ids)
            kinds = {
                "read": (
                    [f"/fhir/Patient/{i}" for i in ids],
                    [f"/bench/plain/fhir/Patient/{i}" for i in ids],
                ),
                "search": (
                    [
                        "/fhir/Patient?" + urlencode({"family": f, "birthdate": d})
                        for f, d in queries
                    ],
                    [
                        "/bench/plain/fhir/Patient?" + urlencode({"family": f, "birthdate": d})
                        for f, d in queries
                    ],
                ),
            }
            # Warm both sides (imports, connections, caches) before timing.
            for guarded_paths, plain_paths in kinds.values():
                hammer(port, guarded_paths, token, args.clients, 3, 200)
                hammer(port, plain_paths, token, args.clients, 3, 200)
            totals: dict[tuple[str, str], list] = {}
            for _ in range(args.rounds):
                for kind, (guarded_paths, plain_paths) in kinds.items():
                    for side, paths in (("guarded", guarded_paths), ("plain", plain_paths)):
                        done, failed, elapsed, latencies = hammer(
                            port, paths, token, args.clients, args.seconds, args.max_requests
                        )
                        row = totals.setdefault((kind, side), [0, 0, 0.0, []])
                        row[0] += done
                        row[1] += failed
                        row[2] += elapsed
                        row[3] += latencies
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
        print(
            f"{args.clients} concurrent clients, {args.workers} gunicorn workers, 127.0.0.1, "
            f"{args.rounds} alternating rounds of {args.seconds:.0f} s per side"
        )
        for kind in kinds:
            rates = {}
            for side in ("guarded", "plain"):
                done, failed, elapsed, latencies = totals[(kind, side)]
                rates[side] = done / elapsed
                summary = _common.summarise(latencies)
                print(
                    f"{kind:<6} {side:<7} {rates[side]:8.1f} req/s  ({done} requests, {failed} "
                    f"not 200)  latency p50 {summary.p50:.1f} ms, p95 {summary.p95:.1f} ms"
                )
                if failed:
                    print(f"  WARNING: {failed} {side} {kind} requests did not answer 200")
            print(
                f"{kind:<6} guarded/plain throughput ratio {rates['guarded'] / rates['plain']:.2f} "
                f"(plain is {rates['plain'] / rates['guarded']:.1f}x faster)"
            )
        if args.profile:
            profile_requests(
                {
                    f"{kind} {side}": paths
                    for kind, (guarded_paths, plain_paths) in kinds.items()
                    for side, paths in (("guarded", guarded_paths), ("plain", plain_paths))
                },
                token,
                args.profile,
            )
    print(f"reproduce: {_common.command_line('fhir.py', args)}")


if __name__ == "__main__":
    main()
