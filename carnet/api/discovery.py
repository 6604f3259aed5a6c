"""What the API says about itself, generated from the registry and the OAuth settings: the
CapabilityStatement (/fhir/metadata), SMART's /.well-known/smart-configuration, the OpenAPI
description of the non-FHIR JSON endpoints, and a documentation page. All public: they carry
no patient data."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from jwcrypto import jwk

from carnet.guard.http import public_view

from . import scopes as smart
from .fhir import FHIR_VERSION, instant, outcome, respond
from .oauth import issuer_of
from .registry import load

SMART_CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-standalone-patient",
    "sso-openid-connect",
    "permission-patient",
    "permission-user",
    "permission-offline",
    "permission-v1",
    "permission-v2",
]
SIGNING = ["RS384", "ES384"]
OPERATIONS = [
    (
        "export",
        "$export",
        "Bulk export (system, Patient, Group) through a security officer's approval.",
    ),
]


def _absolute(request: HttpRequest, name: str) -> str:
    return request.build_absolute_uri(reverse(name))


def oauth_uris(request: HttpRequest) -> dict[str, str]:
    return {
        "authorize": _absolute(request, "api:authorize"),
        "token": _absolute(request, "api:token"),
        "revoke": _absolute(request, "api:revoke"),
        "introspect": _absolute(request, "api:introspect"),
    }


def issuer(request: HttpRequest) -> str:
    return issuer_of(request.build_absolute_uri("/"))


EXPORT_DEFINITION = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
COMMON_SEARCH = [
    {"name": "_id", "type": "token", "documentation": "Carnet's id of the resource."},
]


def _search_params(definition: Any) -> list[dict[str, str]]:
    declared = [
        {"name": p.name, "type": p.type, "documentation": p.documentation}
        for p in definition.search
        if p.name not in ("_count", "_offset")
    ]
    names = {p["name"] for p in declared}
    return declared + [p for p in COMMON_SEARCH if p["name"] not in names]


def _resource_entry(definition: Any) -> dict[str, Any]:
    sortable = sorted(definition.sortable)
    documentation = definition.documentation
    if "search" in definition.interactions:
        documentation += (
            " Searches take _count, _offset, _summary, _elements, _total"
            + (f", _sort ({', '.join(sortable)})" if sortable else "")
            + "; other parameters are ignored unless Prefer: handling=strict."
        )
    entry: dict[str, Any] = {
        "type": definition.type,
        "documentation": documentation,
        "interaction": [
            {"code": "search-type" if i == "search" else i} for i in definition.interactions
        ],
        "versioning": "versioned-update" if "update" in definition.interactions else "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalCreate": definition.conditional_create,
        "conditionalRead": "full-support" if definition.conditional_read else "not-supported",
        "conditionalUpdate": False,
        "conditionalDelete": "not-supported",
    }
    if "search" in definition.interactions:
        entry["searchParam"] = _search_params(definition)
        if definition.includes:
            entry["searchInclude"] = [f"{definition.type}:{p}" for p in definition.includes]
    if definition.profile:
        entry["profile"] = definition.profile
    if definition.type in ("Patient", "Group"):
        entry["operation"] = [
            {
                "name": "export",
                "definition": EXPORT_DEFINITION
                + ("patient-export" if definition.type == "Patient" else "group-export"),
            }
        ]
    return entry


def capability_statement(request: HttpRequest) -> dict[str, Any]:
    uris = oauth_uris(request)
    resources = [_resource_entry(d) for d in sorted(load().values(), key=lambda d: d.type)]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(timezone.now()),
        "publisher": "Carnet",
        "kind": "instance",
        "software": {"name": "Carnet"},
        "implementation": {
            "description": "Carnet FHIR API",
            "url": request.build_absolute_uri("/fhir/"),
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json"],
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Every response goes through Carnet's guard: the same care relationships, "
                    "exposure budgets and containment as the staff pages. SMART scopes only narrow "
                    "what the account's role allows."
                ),
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": k, "valueUri": v} for k, v in uris.items()],
                        }
                    ],
                },
                "resource": resources,
                "operation": [
                    {
                        "name": name,
                        "definition": EXPORT_DEFINITION + "export",
                        "documentation": doc,
                    }
                    for name, _, doc in OPERATIONS
                ],
            }
        ],
    }


def _auth_methods() -> list[str]:
    methods = ["private_key_jwt", "none"]
    if settings.CARNET_SMART_CLIENT_SECRETS:
        methods[1:1] = ["client_secret_basic", "client_secret_post"]
    return methods


def smart_configuration(request: HttpRequest) -> dict[str, Any]:
    uris = oauth_uris(request)
    resource_scopes = [f"{c}/*.{p}" for c in smart.CONTEXTS for p in ("rs", "cruds")]
    capabilities = [
        c
        for c in SMART_CAPABILITIES
        if c != "client-confidential-symmetric" or settings.CARNET_SMART_CLIENT_SECRETS
    ]
    return {
        "issuer": issuer(request),
        "jwks_uri": _absolute(request, "api:jwks"),
        "authorization_endpoint": uris["authorize"],
        "token_endpoint": uris["token"],
        "revocation_endpoint": uris["revoke"],
        "introspection_endpoint": uris["introspect"],
        "userinfo_endpoint": _absolute(request, "api:userinfo"),
        "token_endpoint_auth_methods_supported": _auth_methods(),
        "token_endpoint_auth_signing_alg_values_supported": SIGNING,
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "scopes_supported": sorted(smart.OTHER_SCOPES) + resource_scopes,
        "capabilities": capabilities,
    }


def openid_configuration(request: HttpRequest) -> dict[str, Any]:
    """OpenID Connect discovery, at the issuer's /.well-known/openid-configuration."""
    smart_config = smart_configuration(request)
    return {
        "issuer": smart_config["issuer"],
        "authorization_endpoint": smart_config["authorization_endpoint"],
        "token_endpoint": smart_config["token_endpoint"],
        "userinfo_endpoint": smart_config["userinfo_endpoint"],
        "jwks_uri": smart_config["jwks_uri"],
        "scopes_supported": ["openid", "fhirUser"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": smart_config[
            "token_endpoint_auth_methods_supported"
        ],
        "token_endpoint_auth_signing_alg_values_supported": SIGNING,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "fhirUser"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }


@public_view
def metadata(request: HttpRequest) -> HttpResponse:
    return respond(capability_statement(request))


@public_view
def well_known(request: HttpRequest) -> HttpResponse:
    return JsonResponse(smart_configuration(request))


@public_view
def openid_well_known(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openid_configuration(request))


@public_view
def jwks(request: HttpRequest) -> HttpResponse:
    """The public half of the id_token signing key (kid: its RFC 7638 thumbprint, as
    django-oauth-toolkit puts it in each id_token's header)."""
    key = jwk.JWK.from_pem(settings.OAUTH2_PROVIDER["OIDC_RSA_PRIVATE_KEY"].encode())
    public = {"alg": "RS256", "use": "sig", "kid": key.thumbprint()}
    public.update(key.export_public(as_dict=True))
    return JsonResponse({"keys": [public]})


def openapi(request: HttpRequest) -> dict[str, Any]:
    """The non-FHIR JSON endpoints: SMART discovery and OAuth's token and revocation."""
    token_error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }
    form = "application/x-www-form-urlencoded"
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Carnet: SMART on FHIR authorisation endpoints",
            "version": "1",
            "description": "The FHIR API itself is described by /fhir/metadata (FHIR R4).",
        },
        "servers": [{"url": request.build_absolute_uri("/").rstrip("/")}],
        "paths": {
            path: {
                "get": {
                    "summary": "SMART configuration",
                    "responses": {
                        "200": {
                            "description": "SMART App Launch discovery document",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": [
                                            "authorization_endpoint",
                                            "token_endpoint",
                                            "capabilities",
                                        ],
                                        "properties": {
                                            "authorization_endpoint": {"type": "string"},
                                            "token_endpoint": {"type": "string"},
                                            "revocation_endpoint": {"type": "string"},
                                            "capabilities": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                            "scopes_supported": {
                                                "type": "array",
                                                "items": {"type": "string"},
                                            },
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            }
            for path in (
                "/.well-known/smart-configuration",
                "/fhir/.well-known/smart-configuration",
            )
        }
        | {
            "/fhir/oauth/token/": {
                "post": {
                    "summary": "Token: authorization code (PKCE), client credentials, refresh",
                    "requestBody": {
                        "required": True,
                        "content": {
                            form: {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "grant_type": {
                                            "type": "string",
                                            "enum": [
                                                "authorization_code",
                                                "client_credentials",
                                                "refresh_token",
                                            ],
                                        },
                                        "code": {"type": "string"},
                                        "redirect_uri": {"type": "string"},
                                        "code_verifier": {"type": "string"},
                                        "refresh_token": {"type": "string"},
                                        "scope": {"type": "string"},
                                        "client_id": {"type": "string"},
                                        "client_secret": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "A token",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": [
                                            "access_token",
                                            "token_type",
                                            "expires_in",
                                            "scope",
                                        ],
                                        "properties": {
                                            "access_token": {"type": "string"},
                                            "token_type": {"type": "string"},
                                            "expires_in": {"type": "integer"},
                                            "scope": {"type": "string"},
                                            "refresh_token": {"type": "string"},
                                            "patient": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": {
                            "description": "Refused",
                            "content": {"application/json": {"schema": token_error}},
                        },
                        "401": {
                            "description": "Client not authenticated",
                            "content": {"application/json": {"schema": token_error}},
                        },
                    },
                }
            },
            "/fhir/oauth/introspect/": {
                "post": {
                    "summary": "Token introspection (RFC 7662): a client's own tokens",
                    "requestBody": {
                        "required": True,
                        "content": {
                            form: {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "token": {"type": "string"},
                                        "token_type_hint": {"type": "string"},
                                        "client_id": {"type": "string"},
                                        "client_secret": {"type": "string"},
                                        "client_assertion_type": {"type": "string"},
                                        "client_assertion": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Whether the token is active, and what it carries",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["active"],
                                        "properties": {
                                            "active": {"type": "boolean"},
                                            "scope": {"type": "string"},
                                            "client_id": {"type": "string"},
                                            "exp": {"type": "integer"},
                                            "sub": {"type": "string"},
                                            "patient": {"type": "string"},
                                            "fhirUser": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": {
                            "description": "Refused",
                            "content": {"application/json": {"schema": token_error}},
                        },
                        "401": {
                            "description": "Client not authenticated",
                            "content": {"application/json": {"schema": token_error}},
                        },
                    },
                }
            },
            "/fhir/oauth/revoke/": {
                "post": {
                    "summary": "Token revocation (RFC 7009)",
                    "requestBody": {
                        "required": True,
                        "content": {
                            form: {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "token": {"type": "string"},
                                        "token_type_hint": {"type": "string"},
                                        "client_id": {"type": "string"},
                                        "client_secret": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "Revoked (or unknown)"},
                        "400": {
                            "description": "Refused",
                            "content": {"application/json": {"schema": token_error}},
                        },
                        "401": {
                            "description": "Client not authenticated",
                            "content": {"application/json": {"schema": token_error}},
                        },
                    },
                }
            },
        },
    }


@public_view
def openapi_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse(openapi(request))


@csrf_exempt
@public_view
def base(request: HttpRequest) -> HttpResponse:
    """The FHIR base: the documentation page for a browser; batch and transaction (POST) are
    not served, and say so as FHIR does."""
    if request.method == "POST":
        return outcome(
            405,
            "not-supported",
            "Carnet serves no batch or transaction: send each interaction on its own.",
            Allow="GET",
        )
    if request.method not in ("GET", "HEAD"):
        return outcome(405, "not-supported", f"{request.method} is not served here.", Allow="GET")
    return documentation(request)


def documentation(request: HttpRequest) -> HttpResponse:
    statement = capability_statement(request)
    return render(
        request,
        "api/documentation.html",
        {
            "resources": statement["rest"][0]["resource"],
            "operations": OPERATIONS,
            "smart": smart_configuration(request),
            "smart_json": json.dumps(smart_configuration(request), indent=2),
            "token_seconds": settings.OAUTH2_PROVIDER["ACCESS_TOKEN_EXPIRE_SECONDS"],
        },
    )
