"""Carnet's routes, plus the unguarded plain page that chart_read.py compares against."""

from django.urls import path

from bench.plainapp.views import plain_detail
from carnet.urls import handler404, handler500
from carnet.urls import urlpatterns as carnet_urlpatterns

urlpatterns = [
    path("bench/plain/patients/<uuid:patient_id>/", plain_detail, name="plain_detail"),
    *carnet_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
