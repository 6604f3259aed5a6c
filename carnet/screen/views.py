"""Screen pages: the board, and the fragment it polls every two seconds (htmx)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from carnet.guard.http import device_view
from carnet.scheduling.queue import board, screen_for


def _device_or_404(request: HttpRequest, token: str):
    device = screen_for(token)
    if device is None:
        return None, render(request, "screen/unknown.html", status=404)
    return device, None


@device_view
def screen(request: HttpRequest, token: str) -> HttpResponse:
    device, refusal = _device_or_404(request, token)
    if refusal:
        return refusal
    return render(request, "screen/board.html", {"board": board(device), "token": token})


@device_view
def screen_board(request: HttpRequest, token: str) -> HttpResponse:
    device, refusal = _device_or_404(request, token)
    if refusal:
        return refusal
    return render(request, "screen/_board.html", {"board": board(device)})
