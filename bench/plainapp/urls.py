"""The bench's routes plus the plain chart and laboratory pages (chart_read.py switches the
URL conf to this module; bench/urls.py stays as it is for the other benchmarks)."""

from django.urls import path

from bench.urls import handler404, handler500
from bench.urls import urlpatterns as bench_urlpatterns

from .views import plain_chart, plain_lab

urlpatterns = [
    path("bench/plain/patients/<uuid:patient_id>/chart/", plain_chart, name="plain_chart"),
    path("bench/plain/patients/<uuid:patient_id>/lab/", plain_lab, name="plain_lab"),
    *bench_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
