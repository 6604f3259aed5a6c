"""Health endpoints for load balancers and supervisors: liveness (the process answers) and
readiness (it can serve: database reachable and migrated, keyring readable); and the metrics
for Prometheus. They carry no
patient data and no detail an attacker could use: each check says "ok" or "failed"."""

from __future__ import annotations

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from carnet import metrics
from carnet.guard.http import public_view
from carnet.vault.keyring import load_keyring

_migrated = False


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _migrations() -> None:
    """No migration left to apply. Once true, true for the life of the process (a deployment
    migrates before it starts the new code)."""
    global _migrated
    if _migrated:
        return
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise RuntimeError("migrations pending")
    _migrated = True


def _keyring() -> None:
    ring = load_keyring()
    ring.kek(ring.current)


CHECKS = {"database": _database, "migrations": _migrations, "keyring": _keyring}


@public_view
@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "live"})


@public_view
@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:  # noqa: BLE001 - any failure makes the server not ready
            results[name] = "failed"
        else:
            results[name] = "ok"
    ok = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "ready" if ok else "not ready", "checks": results}, status=200 if ok else 503
    )


@public_view
@never_cache
@require_GET
def prometheus(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape: only from the addresses in CARNET_METRICS_ALLOW (the connecting
    address, not a forwarded header); anyone else gets the ordinary not-found page."""
    if request.META.get("REMOTE_ADDR") not in settings.CARNET_METRICS_ALLOW:
        raise Http404
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
