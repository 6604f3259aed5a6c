"""Every route of Carnet. Each view carries a guard route policy; one without is refused."""

from django.urls import include, path

urlpatterns = [
    path("screen/", include("carnet.screen.urls")),
    path("portal/", include("carnet.portal.urls")),
    path("", include("carnet.api.urls")),
    path("", include("carnet.web.urls")),
]

handler404 = "carnet.web.views.errors.not_found"
handler500 = "carnet.web.views.errors.server_error"
