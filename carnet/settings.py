"""Settings, read from the environment (12-factor).

CARNET_ENV is `demo` (default: safe local defaults, secrets generated under var/), `test`,
or `production`, where Carnet refuses to start without SECRET_KEY, a key-encryption key and
allowed hosts. Nothing secret is ever read from the repository.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
ENV = os.environ.get("CARNET_ENV", "demo")
if ENV not in {"demo", "test", "production"}:
    raise ImproperlyConfigured(f"CARNET_ENV must be demo, test or production, not {ENV!r}")
PRODUCTION = ENV == "production"
VAR_DIR = Path(os.environ.get("CARNET_VAR_DIR", BASE_DIR / "var"))


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _local_secret_key() -> str:
    """Demo only: a random key kept in var/ with mode 0600, made on first start."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required in production")
    SECRET_KEY = "test-only-not-secret" if ENV == "test" else _local_secret_key()

DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1" and not PRODUCTION
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required in production")

# Key-encryption keys live outside the database and outside the repository's tracked files.
CARNET_KEK_FILE = os.environ.get("CARNET_KEK_FILE", "")
CARNET_KEK = os.environ.get("CARNET_KEK", "")
if not CARNET_KEK_FILE and not CARNET_KEK:
    if PRODUCTION:
        raise ImproperlyConfigured("CARNET_KEK_FILE (or CARNET_KEK) is required in production")
    CARNET_KEK_FILE = str(VAR_DIR / "keys" / "keyring.json")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "django_htmx",
    "csp",
    "oauth2_provider",
    # Below the interfaces: the three things every access goes through.
    "carnet.vault",
    "carnet.audit",
    "carnet.guard",
    # Domains.
    "carnet.organisations",
    "carnet.staff",
    "carnet.patients",
    "carnet.scheduling",
    "carnet.clinical",
    "carnet.laboratory",
    "carnet.sharing",
    # Interfaces.
    "carnet.web",
    "carnet.screen",
    "carnet.portal",
    "carnet.api",
    "carnet.cli",
]

MIDDLEWARE = [
    "carnet.metrics.middleware.MetricsMiddleware",
    "carnet.guard.http.MethodMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "carnet.guard.http.RequestIdMiddleware",
    "carnet.api.cors.SmartCorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "carnet.guard.http.SessionRefreshMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "carnet.guard.http.SecurityHeadersMiddleware",
    "carnet.guard.http.RouteGuardMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "carnet.urls"
WSGI_APPLICATION = "carnet.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "carnet.web.context.navigation",
            ],
        },
    }
]


def _database(url: str) -> dict:
    """sqlite:///path or postgres://user:password@host:port/name."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = unquote(parsed.path)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path[1:] if path.startswith("//") else path,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": os.environ.get("CARNET_TEST_SQLITE", "")},
        }
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parsed.path.lstrip("/"),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": int(os.environ.get("CARNET_DB_CONN_MAX_AGE", "60")),
            "CONN_HEALTH_CHECKS": True,
        }
    raise ImproperlyConfigured(f"unsupported DATABASE_URL scheme {parsed.scheme!r}")


DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'carnet.sqlite3'}")
DATABASES = {"default": _database(DATABASE_URL)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].pop("TEST")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "staff.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2id at OWASP's first setting (m=19 MiB, t=2, p=1), a bounded number at once per process
# (carnet/staff/hashers.py); hashes made with Django's heavier default still verify and are
# rewritten at the next sign-in.
PASSWORD_HASHERS = [
    "carnet.staff.hashers.BoundedArgon2Hasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:dashboard"

# Throttling and lockout of password guessing, per account and per client address; the counts
# live in the database so every application server sees them.
AXES_FAILURE_LIMIT = int(os.environ.get("CARNET_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("CARNET_LOGIN_COOLOFF_MINUTES", "30")))
# The first parameter locks one account, the second one address at a much higher bar (see
# carnet/staff/throttle.py): in that order.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "carnet.staff.throttle.SignInThrottle"
CARNET_LOGIN_ADDRESS_LIMIT = int(os.environ.get("CARNET_LOGIN_ADDRESS_LIMIT", "100"))
AXES_LOCKOUT_TEMPLATE = "web/login_locked.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("CARNET_PROXY_COUNT", "0")) or None
OTP_TOTP_ISSUER = "Carnet"
OTP_TOTP_THROTTLE_FACTOR = 1

# Sessions end after 30 idle minutes, and with the browser. The expiry moves on with use, saved
# at most once a minute (guard.http.SessionRefreshMiddleware), not at every request.
SESSION_COOKIE_AGE = int(os.environ.get("CARNET_SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "carnet.web.views.errors.csrf_failure"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION
# The load balancer asks the application servers themselves, in plain HTTP on the private side.
SECURE_REDIRECT_EXEMPT = [r"^health/(live|ready)$", r"^metrics$"]
# Who may read /metrics (Prometheus): addresses of the scrapers, as seen by the application
# server itself (the public reverse proxy refuses /metrics and /health/).
CARNET_METRICS_ALLOW = _env_list("CARNET_METRICS_ALLOW", "127.0.0.1,::1")
SECURE_HSTS_SECONDS = 63072000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "carnet" / "locale"]
USE_I18N = True
TIME_ZONE = os.environ.get("CARNET_TIME_ZONE", "Europe/Paris")
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

EMAIL_BACKEND = os.environ.get(
    "CARNET_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
# Appointment reminders and confirmations: SMS through a backend class (console for the demo;
# nothing until a gateway is configured in production) and the patient portal's address, the
# only link a message carries.
CARNET_SMS_BACKEND = os.environ.get(
    "CARNET_SMS_BACKEND",
    "carnet.scheduling.messaging.DisabledSmsBackend"
    if PRODUCTION
    else "carnet.scheduling.messaging.ConsoleSmsBackend",
)
CARNET_PORTAL_URL = os.environ.get("CARNET_PORTAL_URL", "http://127.0.0.1:8000/portal/")
# The staff pages' address, for the links Carnet e-mails to staff (enrolment).
CARNET_SITE_URL = os.environ.get("CARNET_SITE_URL", "http://127.0.0.1:8000/")

# Audit: entries are spread over parallel hash chains so that requests do not queue on one
# head; an anchor entry binds all heads together.
CARNET_AUDIT_CHAINS = int(os.environ.get("CARNET_AUDIT_CHAINS", "8"))
# Anchors are written on the way by each process (after this many entries or seconds, and at
# once after a containment) and by the scheduler; each goes to the witness file outside the
# database (beside the keyring, or CARNET_AUDIT_WITNESS). 0 leaves it to the scheduler.
CARNET_AUDIT_ANCHOR_ENTRIES = int(os.environ.get("CARNET_AUDIT_ANCHOR_ENTRIES", "500"))
CARNET_AUDIT_ANCHOR_SECONDS = int(os.environ.get("CARNET_AUDIT_ANCHOR_SECONDS", "120"))
CARNET_AUDIT_WITNESS = os.environ.get("CARNET_AUDIT_WITNESS", "")
# `carnet audit verify` walks the chains in this many processes (at most one per core) once
# there are this many entries to walk; below it, one process is quicker than starting others.
CARNET_AUDIT_VERIFY_PROCESSES = int(os.environ.get("CARNET_AUDIT_VERIFY_PROCESSES", "2"))
CARNET_AUDIT_VERIFY_PARALLEL_FROM = int(
    os.environ.get("CARNET_AUDIT_VERIFY_PARALLEL_FROM", "100000")
)

# Data with a lifetime (carnet/patients/retention.py): French hospital records, Code de la santé
# publique art. R1112-7: 20 years after the last stay or consultation, at least until the 28th
# birthday, 10 years after a death within 10 years of the last visit. Then crypto-shredding,
# journaled outside the database (beside the keyring unless CARNET_SHRED_JOURNAL says where).
CARNET_RETENTION = {
    "years_after_last_activity": int(os.environ.get("CARNET_RETENTION_YEARS", "20")),
    "until_age": int(os.environ.get("CARNET_RETENTION_UNTIL_AGE", "28")),
    "years_after_death": int(os.environ.get("CARNET_RETENTION_YEARS_AFTER_DEATH", "10")),
    "death_within_years": int(os.environ.get("CARNET_RETENTION_DEATH_WITHIN_YEARS", "10")),
}
CARNET_SHRED_JOURNAL = os.environ.get("CARNET_SHRED_JOURNAL", "")

# SMART on FHIR authorisation (django-oauth-toolkit): authorization code with PKCE (S256) for
# apps acting for a signed-in staff member, client credentials for backend services acting as
# their service account (carnet/api/README.md). Tokens are short, kept only as digests, and
# revoked when the guard contains the account; every scope is checked on top of the guard.
OAUTH2_PROVIDER = {
    "OAUTH2_VALIDATOR_CLASS": "carnet.api.oauth.SmartValidator",
    "SCOPES_BACKEND_CLASS": "carnet.api.oauth.SmartScopes",
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("CARNET_API_TOKEN_SECONDS", "900")),
    "REFRESH_TOKEN_EXPIRE_SECONDS": int(os.environ.get("CARNET_API_REFRESH_SECONDS", "28800")),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "REQUEST_APPROVAL_PROMPT": "force",
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if PRODUCTION else ["http", "https"],
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}
# OpenID Connect (SMART's openid fhirUser): id_tokens signed with an RSA key kept outside the
# database, like the key-encryption key; its public half is published at /fhir/oauth/jwks/.
CARNET_OIDC_KEY_FILE = os.environ.get("CARNET_OIDC_KEY_FILE", "")


def _oidc_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def new_key() -> bytes:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    if CARNET_OIDC_KEY_FILE:
        return Path(CARNET_OIDC_KEY_FILE).read_text()
    if PRODUCTION:
        raise ImproperlyConfigured("CARNET_OIDC_KEY_FILE (the id_token signing key) is required")
    if ENV == "test":
        return new_key().decode()
    path = VAR_DIR / "keys" / "oidc-signing-key.pem"
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_key())
    return path.read_text()


OAUTH2_PROVIDER["OIDC_ENABLED"] = True
OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"] = _oidc_key()
OAUTH2_PROVIDER["ID_TOKEN_EXPIRE_SECONDS"] = OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"]
# Backend services authenticate with private_key_jwt; a shared secret only where the
# installation allows it (always outside production, where it is opt-in).
CARNET_SMART_CLIENT_SECRETS = (
    os.environ.get("CARNET_SMART_CLIENT_SECRETS", "0" if PRODUCTION else "1") == "1"
)
# Model names, not secrets (ruff's S105 matches the word "TOKEN").
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105
# The IPP's identifier system, per establishment ({finess}); set it to the establishment's
# registered OID where it has one.
CARNET_FHIR_IPP_SYSTEM = os.environ.get("CARNET_FHIR_IPP_SYSTEM", "urn:carnet:ipp:finess:{finess}")
# Every resource leaving the API is checked against fhir.resources' models in the tests and the
# demo; in production the serializers' shapes are the ones the tests validated, and the check
# (the largest share of a read's time) stays off the hot path. Bodies received are always
# validated (api/fhir.parse_resource), whatever this says.
CARNET_FHIR_VALIDATE_RESPONSES = (
    os.environ.get("CARNET_FHIR_VALIDATE_RESPONSES", "0" if PRODUCTION else "1") == "1"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Query strings carry search criteria (a NIR, a name): never written (carnet/api/logs.py).
    "filters": {"no_query_strings": {"()": "carnet.api.logs.DropQueryStrings"}},
    "formatters": {
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["no_query_strings"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["no_query_strings"],
        },
    },
    "loggers": {
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["no_query_strings"],
        },
        **{
            name: {"filters": ["no_query_strings"]}
            for name in ("django.request", "carnet", "gunicorn.access", "gunicorn.error")
        },
    },
    "root": {"handlers": ["console"], "level": os.environ.get("CARNET_LOG_LEVEL", "WARNING")},
}
