"""Registering SMART clients (by the installation's operator, from the command line): an app
that acts for signed-in staff members, or a backend service that acts as its service account.
A service account is a staff account made for the service: nobody signs in with it (its
password is made unusable; an account with a second factor, a person's, is refused)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import Application

from carnet.staff.models import User

from . import assertions
from . import scopes as smart
from .auth import API_ROLES
from .models import ClientKind, SmartClient
from .oauth import CONTEXTS_OF_KIND


@dataclass(frozen=True)
class Registered:
    client_id: str
    client_secret: str  # empty for a public app; shown once, kept only hashed


def _checked_scopes(text: str, kind: str) -> str:
    asked = text.split()
    if not asked:
        raise ValidationError("Give the client's scopes.")
    wrong = [s for s in asked if not smart.is_known(s)]
    if wrong:
        raise ValidationError(f"Not SMART scopes: {' '.join(wrong)}")
    contexts = {s.context for s in smart.resource_scopes(asked)}
    if not contexts <= CONTEXTS_OF_KIND[kind]:
        allowed = "/, ".join(sorted(CONTEXTS_OF_KIND[kind])) + "/"
        raise ValidationError(f"A {kind} client's resource scopes are {allowed} only.")
    return " ".join(asked)


@transaction.atomic
def register_app(
    *, name: str, redirect_uris: str, scopes: str, confidential: bool = False
) -> Registered:
    secret = generate_client_secret() if confidential else ""
    application = Application(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uris,
        client_secret=secret,
        # OpenID Connect: its id_token is signed with Carnet's RSA key (the JWKS published).
        algorithm=Application.RS256_ALGORITHM,
    )
    application.full_clean(exclude=["client_secret", "user"])
    application.save()
    SmartClient.objects.create(
        application=application, kind=ClientKind.APP, scopes=_checked_scopes(scopes, ClientKind.APP)
    )
    return Registered(application.client_id, secret)


def _backend_keys(jwks: str, jwks_url: str, secret: bool) -> tuple[str, str]:
    given = [bool(jwks), bool(jwks_url), secret]
    if sum(given) != 1:
        raise ValidationError(
            "Give the backend's public keys (a JWKS or a JWKS URL), or ask for a client secret."
        )
    if secret and not settings.CARNET_SMART_CLIENT_SECRETS:
        raise ValidationError(
            "Client secrets are not allowed on this installation "
            "(CARNET_SMART_CLIENT_SECRETS): register the backend's public keys."
        )
    if jwks:
        try:
            keys = assertions.keyset(jwks)
        except ValueError as error:
            raise ValidationError(f"JWKS: {error}") from None
        return keys.export(private_keys=False), ""
    if jwks_url:
        if settings.PRODUCTION and not jwks_url.startswith("https://"):
            raise ValidationError("The JWKS URL must be HTTPS.")
        URLValidator(schemes=["http", "https"])(jwks_url)
    return "", jwks_url


@transaction.atomic
def register_backend(
    *,
    name: str,
    account: str,
    scopes: str,
    jwks: str = "",
    jwks_url: str = "",
    client_secret: bool = False,
) -> Registered:
    """A backend service acting as its service account. It authenticates with a JWT signed
    by its private key (SMART Backend Services: its public keys as a JWKS or a JWKS URL), or,
    where the installation allows it, with a client secret shown once."""
    keys, url = _backend_keys(jwks.strip(), jwks_url.strip(), client_secret)
    user = User.objects.filter(username=account).first()
    if user is None:
        raise ValidationError(f"No account {account!r}: an administrator creates it first.")
    if user.role not in API_ROLES:
        raise ValidationError(f"A {user.role} account cannot act through the API.")
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError(
            f"{account} has a second factor: it is a person's account, not a service account."
        )
    user.set_unusable_password()
    user.save(update_fields=["password"])
    # A client with keys still gets a random secret, never shown nor usable (Carnet refuses
    # secrets from a client with keys): an empty one would hash to a known value.
    secret = generate_client_secret()
    application = Application(
        name=name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
        user=user,
        algorithm="",
    )
    application.save()
    SmartClient.objects.create(
        application=application,
        kind=ClientKind.BACKEND,
        scopes=_checked_scopes(scopes, ClientKind.BACKEND),
        service_account=user,
        jwks=keys,
        jwks_url=url,
    )
    return Registered(application.client_id, secret if client_secret else "")


def remove(client_id: str) -> bool:
    """Removes a client; its tokens go with it."""
    deleted, _ = Application.objects.filter(client_id=client_id).delete()
    return bool(deleted)
