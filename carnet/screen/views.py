"""Screen pages: the board, and the fragment it polls every two seconds (htmx). A screen
speaks the installation's language, whatever its browser says."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation

from carnet.guard.http import device_view
from carnet.scheduling.queue import board, screen_for


def _device_or_404(request: HttpRequest, token: str):
    device = screen_for(token)
    if device is None:
        return None, render(request, "screen/unknown.html", status=404)
    return device, None


def _in_house_language(view):  # type: ignore[no-untyped-def]
    @wraps(view)
    def speaking(request: HttpRequest, token: str) -> HttpResponse:
        with translation.override(settings.LANGUAGE_CODE):
            return view(request, token)

    return speaking


@device_view
@_in_house_language
def screen(request: HttpRequest, token: str) -> HttpResponse:
    device, refusal = _device_or_404(request, token)
    if refusal:
        return refusal
    return render(request, "screen/board.html", {"board": board(device), "token": token})


@device_view
@_in_house_language
def screen_board(request: HttpRequest, token: str) -> HttpResponse:
    device, refusal = _device_or_404(request, token)
    if refusal:
        return refusal
    return render(request, "screen/_board.html", {"board": board(device)})
