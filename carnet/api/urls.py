"""The FHIR API's routes (under /fhir/) and SMART discovery (also at the site's root)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from carnet.guard.boundary import Refused

from . import discovery, exports
from .authorize import authorize, revoke, token, userinfo
from .introspect import introspect
from .routes import api_route
from .run import authenticate, refuse
from .views import resource_type_view, resource_view, search_by_post

app_name = "api"


@csrf_exempt
@api_route("fhir.unknown")
def unknown(request: HttpRequest) -> HttpResponse:
    grant = authenticate(request)
    if isinstance(grant, HttpResponse):
        return grant
    text = f"Nothing is served at {request.path} (see /fhir/metadata)."
    return refuse(grant.actor, "fhir.unsupported", Refused(text), 404, "not-found", text)


urlpatterns = [
    path(".well-known/smart-configuration", discovery.well_known, name="smart_configuration"),
    path("fhir/", discovery.base, name="documentation"),
    path("fhir/metadata", discovery.metadata, name="metadata"),
    path(
        "fhir/.well-known/smart-configuration",
        discovery.well_known,
        name="smart_configuration_fhir",
    ),
    path("fhir/openapi.json", discovery.openapi_view, name="openapi"),
    path("fhir/oauth/authorize/", authorize, name="authorize"),
    path("fhir/oauth/token/", token, name="token"),
    path("fhir/oauth/revoke/", revoke, name="revoke"),
    path("fhir/oauth/introspect/", introspect, name="introspect"),
    path("fhir/oauth/jwks/", discovery.jwks, name="jwks"),
    path("fhir/oauth/userinfo/", userinfo, name="userinfo"),
    path(".well-known/openid-configuration", discovery.openid_well_known, name="openid"),
    path("fhir/$export", exports.system_export, name="export"),
    path("fhir/Patient/$export", exports.patient_export, name="patient_export"),
    path("fhir/Group/<int:group_id>/$export", exports.group_export, name="group_export"),
    path("fhir/$export-status/<int:export_id>", exports.export_status, name="export_status"),
    path("fhir/$export-file/<int:export_id>/<str:name>", exports.export_file, name="export_file"),
    path("fhir/<str:resource_type>", resource_type_view, name="type"),
    path("fhir/<str:resource_type>/_search", search_by_post, name="search"),
    path("fhir/<str:resource_type>/<str:resource_id>", resource_view, name="instance"),
    re_path(r"^fhir/.+$", unknown, name="unknown"),
]
