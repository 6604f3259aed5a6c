"""Staff routes of the clinical pages (part of the `web` namespace, see urls.py)."""

from django.urls import path  # noqa: F401 - routes are listed below

urlpatterns: list = []
