"""Error pages a user can cause: a clear message, no stack trace."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "web/csrf_failure.html", status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "guard/refused.html", {"not_found": True}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "web/server_error.html", status=500)
