"""The production path: `carnet serve` (gunicorn with the project's config) started as a real
process on 127.0.0.1, answering the health endpoints and serving the collected static files;
readiness says "not ready" when a dependency fails, without telling why."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http on 127.0.0.1
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.fixture
def served(tmp_path):
    """A fresh installation (its own SQLite database and keyring) served by `carnet serve`."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CARNET_", "DATABASE_URL"))},
        "DJANGO_SETTINGS_MODULE": "carnet.settings",
        "CARNET_VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'carnet.sqlite3'}",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    for step in (["keys", "init"], ["migrate", "--verbosity", "0"]):
        subprocess.run(manage + step, env=env, check=True, capture_output=True, cwd=tmp_path)
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    server = subprocess.Popen(
        manage + ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(base + "/health/live")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            log.seek(0)
            pytest.fail("carnet serve did not answer within 60 s:\n" + log.read())
        yield base, log
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_carnet_serve_runs_gunicorn_with_static_files_and_health(served):
    base, log = served
    status, body, _ = _get(base + "/health/live")
    assert status == 200 and json.loads(body) == {"status": "live"}
    status, body, headers = _get(base + "/health/ready")
    assert status == 200, body
    assert json.loads(body) == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "keyring": "ok"},
    }
    assert "no-store" in headers.get("Cache-Control", "")
    # Static files collected and served by whitenoise from the application server.
    status, css, _ = _get(base + "/static/web/carnet.css")
    assert status == 200 and len(css) > 100
    # The sign-in page answers through the same server.
    assert _get(base + "/login/")[0] == 200
    log.seek(0)
    output = log.read()
    assert "gunicorn" in output.lower() or "Booting worker" in output
    # Query strings never reach the access log.
    _get(base + "/login/?next=/patients/secret-value")
    time.sleep(0.5)
    log.seek(0)
    assert "secret-value" not in log.read()
    assert "No directory at" not in output  # whitenoise found its static folder
    # Prometheus' scrape adds up the workers' samples: requests by interface, no path, no id.
    status, scraped, headers = _get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    text = scraped.decode()
    assert 'carnet_http_requests_total{interface="staff",method="GET",route="web:login"' in text
    assert 'carnet_http_requests_total{interface="health"' in text
    assert "secret-value" not in text and "/login/" not in text


@pytest.mark.django_db
def test_readiness_fails_closed_and_says_only_which_check(client, monkeypatch):
    from carnet.web.views import health

    assert client.get("/health/ready").status_code == 200

    def broken():
        raise OSError("/secret/path/keyring.json: permission denied")

    monkeypatch.setitem(health.CHECKS, "keyring", broken)
    answer = client.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "migrations": "ok", "keyring": "failed"},
    }
    assert b"secret" not in answer.content
    # Liveness does not depend on the keyring or the database.
    assert client.get("/health/live").status_code == 200


@pytest.mark.django_db
def test_health_endpoints_refuse_other_methods(client):
    assert client.post("/health/ready").status_code == 405
    assert client.post("/health/live").status_code == 405


@pytest.mark.django_db
def test_metrics_count_guard_decisions_without_naming_anyone(client, establishment):
    from django.urls import reverse

    from carnet.guard.policy import Role

    from .conftest import signed_in_client
    from .factories import UserFactory, make_patient

    def sample(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = client.get("/metrics").content.decode()
    patient = make_patient(establishment, birth_surname="METRIQUE")
    secretary = UserFactory(role=Role.SECRETARY, establishments=[establishment])
    staff = signed_in_client(secretary)
    assert staff.get(reverse("web:patient_detail", args=[patient])).status_code == 200
    after = client.get("/metrics").content.decode()
    allowed = 'carnet_guard_decisions_total{outcome="allowed"}'
    assert sample(after, allowed) > sample(before, allowed)
    assert sample(after, "carnet_audit_append_seconds_count") > sample(
        before, "carnet_audit_append_seconds_count"
    )
    assert 'route="web:patient_detail"' in after
    assert str(patient) not in after and "METRIQUE" not in after
    assert secretary.username not in after


@pytest.mark.django_db
def test_metrics_are_not_for_the_outside(client):
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    # A forwarded header does not make an outsider local.
    outsider = client.get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert outsider.status_code == 404
