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

from carnet.guard.http import public_view

from . import scopes as smart
from .fhir import FHIR_VERSION, instant, respond
from .registry import load

SMART_CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "context-standalone-patient",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]
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
    }


def capability_statement(request: HttpRequest) -> dict[str, Any]:
    uris = oauth_uris(request)
    resources = []
    for definition in sorted(load().values(), key=lambda d: d.type):
        entry: dict[str, Any] = {
            "type": definition.type,
            "documentation": definition.documentation,
            "interaction": [
                {"code": "search-type" if i == "search" else i} for i in definition.interactions
            ],
            "versioning": "versioned-update"
            if "update" in definition.interactions
            else "no-version",
            "readHistory": False,
            "updateCreate": False,
            "conditionalRead": "modified-since"
            if "update" in definition.interactions
            else "not-supported",
            "searchParam": [
                {"name": p.name, "type": p.type, "documentation": p.documentation}
                for p in definition.search
                if not p.name.startswith("_") or p.name == "_id"
            ],
        }
        if definition.profile:
            entry["profile"] = definition.profile
        resources.append(entry)
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
        "format": ["json"],
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
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
                        "documentation": doc,
                    }
                    for name, _, doc in OPERATIONS
                ],
            }
        ],
    }


def smart_configuration(request: HttpRequest) -> dict[str, Any]:
    uris = oauth_uris(request)
    resource_scopes = [f"{c}/*.{p}" for c in smart.CONTEXTS for p in ("rs", "cruds")]
    return {
        "issuer": request.build_absolute_uri("/fhir/"),
        "authorization_endpoint": uris["authorize"],
        "token_endpoint": uris["token"],
        "revocation_endpoint": uris["revoke"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted(smart.OTHER_SCOPES) + resource_scopes,
        "capabilities": SMART_CAPABILITIES,
    }


@public_view
def metadata(request: HttpRequest) -> HttpResponse:
    return respond(capability_statement(request))


@public_view
def well_known(request: HttpRequest) -> HttpResponse:
    return JsonResponse(smart_configuration(request))


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


@public_view
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
