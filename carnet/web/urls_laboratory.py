"""Staff routes of the laboratory pages (part of the `web` namespace, see urls.py)."""

from django.urls import path  # noqa: F401 - routes are listed below

urlpatterns: list = []
