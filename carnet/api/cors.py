"""Cross-origin access for SMART apps that run in a browser on their own origin: the FHIR API,
the token endpoint and the discovery documents answer the origins of registered apps' redirect
URIs, and no other. Safe because the API reads only the Authorization header, never a cookie
(no credentials mode), so a page on an allowed origin gets nothing a token would not give it.
The authorization page is a navigation, never fetched, and gets no CORS header."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse

from .models import ClientKind, SmartClient

PATHS = ("/fhir/", "/.well-known/")
EXCLUDED = ("/fhir/oauth/authorize/",)
METHODS = "GET, POST, PUT, DELETE, OPTIONS"
HEADERS = (
    "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist, "
    "If-Modified-Since"
)
EXPOSED = "Location, Content-Location, ETag, Last-Modified, X-Progress, Retry-After, X-Request-ID"


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def registered_origins() -> set[str]:
    uris = SmartClient.objects.filter(kind=ClientKind.APP).values_list(
        "application__redirect_uris", flat=True
    )
    return {origin_of(u) for text in uris for u in text.split()} - {""}


class SmartCorsMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin", "")
        wanted = (
            origin
            and request.path.startswith(PATHS)
            and not request.path.startswith(EXCLUDED)
            and origin in registered_origins()
        )
        if not wanted:
            return self.get_response(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = METHODS
            response["Access-Control-Allow-Headers"] = HEADERS
            response["Access-Control-Max-Age"] = "600"
        else:
            response = self.get_response(request)
            response["Access-Control-Expose-Headers"] = EXPOSED
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
        # The API's answers are for the app that fetched them, not for an embedding page.
        response["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response
