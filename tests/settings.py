"""Test settings: Carnet's settings with a throwaway key, a fast password hasher, and an
on-disk SQLite test database (so attacking tests can read its raw bytes)."""

import base64
import os
import secrets

os.environ.setdefault("CARNET_ENV", "test")
os.environ.setdefault("CARNET_KEK", base64.b64encode(secrets.token_bytes(32)).decode())

from carnet.settings import *  # noqa: E402,F403
from carnet.settings import BASE_DIR, DATABASES  # noqa: E402

# Argon2id is tested on its own; the rest of the suite needs speed, not hashing cost.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    test_dir = BASE_DIR / "var" / "test"
    test_dir.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(test_dir / f"carnet-{os.getpid()}.sqlite3")}

# Shredding is journaled beside the keyring; the tests' key is in the environment, so the
# journal goes to the tests' own folder rather than var/keys (the demo's).
CARNET_SHRED_JOURNAL = str(BASE_DIR / "var" / "test" / f"shred-journal-{os.getpid()}.jsonl")

# Carnet is French first (carnet.settings.LANGUAGE_CODE); tests read messages in English
# unless they ask for French (tests/test_i18n.py checks the French pages).
LANGUAGE_CODE = "en"
