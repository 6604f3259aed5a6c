"""Production refuses to start without its secrets, and passes Django's deployment check."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CARNET_", "DJANGO_"))}
    clean["DJANGO_SETTINGS_MODULE"] = "carnet.settings"
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.fixture
def production(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    signing = tmp_path / "oidc.pem"
    signing.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "CARNET_OIDC_KEY_FILE": str(signing),
        "CARNET_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "carnet.example.fr",
        "CARNET_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }


def test_the_deployment_check_is_clean_in_production(production):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **production)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY is required"),
        ("CARNET_KEK", "CARNET_KEK_FILE (or CARNET_KEK) is required"),
        ("DJANGO_ALLOWED_HOSTS", "DJANGO_ALLOWED_HOSTS is required"),
        ("CARNET_OIDC_KEY_FILE", "CARNET_OIDC_KEY_FILE (the id_token signing key) is required"),
    ],
)
def test_production_refuses_to_start_without_its_secrets(production, missing, message):
    env = {k: v for k, v in production.items() if k != missing}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr
