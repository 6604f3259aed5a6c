"""The SMART authorisation endpoints. Authorize is a staff page: the member signs in with the
ordinary staff sign-in (password and second factor), sees which app asks for what, chooses
the patient when the app asks for one (opened through the guard), and approves; the grant is
audited with the page. Token and revocation are django-oauth-toolkit's own views."""

from __future__ import annotations

import base64
import uuid
from functools import wraps
from typing import Any
from urllib.parse import unquote

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import Application
from oauth2_provider.views import AuthorizationView, RevokeTokenView, TokenView, UserInfoView

from carnet.guard.actors import actor_for_request
from carnet.guard.http import public_view, staff_view
from carnet.patients.selectors import SearchQuery, open_identity, search_identities

from . import scopes as smart
from .oauth import smart_client


class SmartAllowForm(AllowForm):
    patient = forms.CharField(
        label=gettext_lazy("Patient (IPP, or Carnet's patient id)"), required=False, max_length=64
    )


def _wants_patient(scope_text: str) -> bool:
    return smart.LAUNCH_PATIENT in scope_text.split()


def fhir_base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir")


class SmartAuthorizationView(AuthorizationView):
    template_name = "api/authorize.html"
    form_class = SmartAllowForm
    launch_patient: str | None = None

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        client_id = request.GET.get("client_id") or request.POST.get("client_id", "")
        if request.method == "GET" and not self._audience_ok(request):
            response = self._refusal(
                _("This app asked for another FHIR server (aud): Carnet does not sign it in.")
            )
        else:
            response = super().dispatch(request, *args, **kwargs)
        _allow_redirects(response, client_id)
        return response

    @staticmethod
    def _audience_ok(request: HttpRequest) -> bool:
        """SMART's `aud`: the FHIR base the app means to call. A code is never issued for
        another server's audience (a token leaked to an app talking to an impostor)."""
        audience = request.GET.get("aud", "").rstrip("/")
        return audience == fhir_base(request)

    def _refusal(self, description: str) -> HttpResponse:
        context = {"error": {"error": "invalid_request", "description": description}}
        return self.render_to_response(context, status=400)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        scope_text = " ".join(kwargs.get("scopes", [])) or (
            context["form"]["scope"].value() if "form" in context else ""
        )
        context["needs_patient"] = _wants_patient(scope_text or "")
        context["described"] = [(s, smart.describe(s)) for s in (scope_text or "").split()]
        return context

    def form_valid(self, form: SmartAllowForm) -> Any:
        if form.cleaned_data.get("allow") and _wants_patient(form.cleaned_data["scope"]):
            patient = self._patient(form.cleaned_data.get("patient", "").strip())
            if patient is None:
                form.add_error("patient", _("Choose a patient you may open (IPP or id)."))
                return self.form_invalid(form)
            self.launch_patient = patient
        return super().form_valid(form)

    def form_invalid(self, form: SmartAllowForm) -> Any:
        scopes = form.data.get("scope", "")
        context = self.get_context_data(form=form, scopes=scopes.split())
        context["application"] = Application.objects.filter(
            client_id=form.data.get("client_id", "")
        ).first()
        return self.render_to_response(context, status=400)

    def _patient(self, value: str) -> str | None:
        """The launch patient, decided by the guard like any opening of a record."""
        actor = actor_for_request(self.request)
        if not value or actor is None:
            return None
        try:
            uuid.UUID(value)
        except ValueError:
            found = search_identities(actor=actor, query=SearchQuery(ipp=value))
            return found.rows[0].id if len(found.rows) == 1 else None
        return open_identity(actor=actor, patient_id=value).id

    def create_authorization_response(self, request, scopes, credentials, allow):
        if self.launch_patient:
            credentials = {**credentials, "carnet_patient": self.launch_patient}
        return super().create_authorization_response(request, scopes, credentials, allow)


def _allow_redirects(response: HttpResponse, client_id: str) -> None:
    """The consent page's form posts here, and the answer redirects to the app: the page's
    Content-Security-Policy allows the app's registered redirect URIs as form targets (a
    browser applies form-action to the redirect too), and nothing wider."""
    if not client_id:
        return
    application = Application.objects.filter(client_id=client_id[:100]).first()
    if application is None or smart_client(application) is None:
        return
    uris = [u for u in application.redirect_uris.split() if u.startswith(("https://", "http://"))]
    if uris:
        response._csp_update = {"form-action": uris}  # type: ignore[attr-defined]


def _no_nul(view: Any) -> Any:
    """A NUL character in a credential or parameter is refused before it reaches a query
    (PostgreSQL cannot store one; found by fuzzing the token endpoints)."""

    @wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        values = [*request.GET.values(), *request.POST.values()]
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                values.append(unquote(base64.b64decode(encoded).decode()))
            except ValueError:
                values.append("\x00")
        if any("\x00" in value for value in values):
            return JsonResponse(
                {"error": "invalid_request", "error_description": "NUL characters are refused."},
                status=400,
            )
        return view(request, *args, **kwargs)

    return checked


authorize = staff_view("api.authorize")(_no_nul(SmartAuthorizationView.as_view()))
token = public_view(csrf_exempt(_no_nul(TokenView.as_view())))
revoke = public_view(csrf_exempt(_no_nul(RevokeTokenView.as_view())))
# OpenID Connect's userinfo: the signed-in member's own claims (sub, fhirUser), bearer only.
userinfo = public_view(csrf_exempt(UserInfoView.as_view()))
