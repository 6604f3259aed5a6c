"""A SMART app on another origin, in a real browser, with SMART's own JavaScript client
(`fhirclient`, pinned in tests/fhir_clients): a static page served by the test on another
127.0.0.1 port launches against Carnet, the practitioner signs in with password and second
factor, chooses the patient and authorises on the consent page, and the app receives the code,
exchanges it (a cross-origin fetch), reads its patient and reads the id_token. Chromium
applies the consent page's Content-Security-Policy to the redirect to the app: it allows the
registered redirect URI and nothing wider."""

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from carnet.api.clients import register_app
from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate

from ..factories import make_patient, totp_device
from .signing import PASSWORD, device_code, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CLIENT_JS = Path(__file__).parents[1] / "fhir_clients" / "node_modules" / "fhirclient" / "build"
SCOPES = "launch/patient openid fhirUser patient/*.rs"

LAUNCH = """<!doctype html><html><head><meta charset="utf-8"><title>Cardio app</title>
<script src="fhir-client.js"></script></head><body><h1>Cardio app</h1><p>Launching...</p>
<script>
FHIR.oauth2.authorize({clientId: "%(client)s", scope: "%(scopes)s",
  redirectUri: "app.html", iss: "%(iss)s", pkceMode: "required"});
</script></body></html>"""

APP = """<!doctype html><html><head><meta charset="utf-8"><title>Cardio app</title>
<style>body{font-family:sans-serif;margin:2em} pre{background:#eef;padding:1em}</style>
<script src="fhir-client.js"></script></head><body><h1>Cardio app (another origin)</h1>
<p id="status">Signing in...</p><pre id="result"></pre>
<script>
FHIR.oauth2.ready().then(async client => {
  const patient = await client.patient.read();
  const idToken = client.getIdToken();
  const result = {patient: {id: patient.id, family: patient.name[0].family},
    fhirUser: client.getFhirUser(), idToken, state: client.state.tokenResponse.patient,
    iss: new URLSearchParams(location.search).get("iss")};
  document.getElementById("status").textContent = "Signed in: " + patient.name[0].family;
  document.getElementById("result").textContent = JSON.stringify(result, null, 2);
}).catch(error => {
  document.getElementById("status").textContent = "Failed: " + error;
});
</script></body></html>"""


@pytest.fixture
def app_origin(tmp_path):
    """Another origin: a static server on its own 127.0.0.1 port, serving the app."""
    assert (CLIENT_JS / "fhir-client.js").exists(), "run npm ci in tests/fhir_clients"
    shutil.copy(CLIENT_JS / "fhir-client.js", tmp_path / "fhir-client.js")
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_smart_app_on_another_origin_signs_in_and_reads_its_patient(
    page, live_server, app_origin, shoot, establishment
):
    folder, origin = app_origin
    doctor = staff_account("dr.lefevre", Role.PRACTITIONER, establishment, last_name="Lefèvre")
    device = totp_device(doctor)
    patient = make_patient(establishment, birth_surname="APPLICATION")
    relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=doctor.pk)
    registered = register_app(name="Cardio app", redirect_uris=f"{origin}/app.html", scopes=SCOPES)
    iss = f"{live_server.url}/fhir"
    (folder / "launch.html").write_text(
        LAUNCH % {"client": registered.client_id, "scopes": SCOPES, "iss": iss}
    )
    (folder / "app.html").write_text(APP)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{origin}/launch.html")
    page.wait_for_url(f"{live_server.url}/login/**")
    page.fill("input[name=username]", doctor.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form:has(input[name=username]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/login/verify/**")
    page.fill("input[name=token]", device_code(device))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/fhir/oauth/authorize/**")
    assert "Cardio app" in page.inner_text("h1")
    page.fill("input[name=patient]", patient)
    shoot("smart-app-consent")
    page.click("button[name=allow]")

    page.wait_for_url(f"{origin}/app.html**")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('Signed in')",
        timeout=15_000,
    )
    shoot("smart-app-signed-in")
    result = json.loads(page.inner_text("#result"))
    assert result["patient"] == {"id": patient, "family": "APPLICATION"}
    assert result["state"] == patient
    assert result["iss"] == live_server.url  # RFC 9207, the issuer of the discovery documents
    assert result["idToken"]["iss"] == live_server.url
    assert result["idToken"]["aud"] == registered.client_id
    assert result["fhirUser"] == f"Practitioner/{doctor.practitioner.pk}"
    assert not [e for e in errors if "Content Security Policy" in e or "CORS" in e], errors
