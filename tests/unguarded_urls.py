"""Carnet's routes plus one view that declares no guard rule (for the deny-by-default test)."""

from django.http import HttpResponse
from django.urls import include, path


def forgotten_view(request):
    return HttpResponse("patient data would be here")


urlpatterns = [
    path("forgotten/", forgotten_view, name="forgotten"),
    path("", include("carnet.urls")),
]
