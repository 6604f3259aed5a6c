"""Bulk export needs two people, leaves as an encrypted file that expires, counts every patient
in the audit log; a canary in the list is containment."""

import datetime

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from carnet.audit.models import AuditEntry
from carnet.guard.models import ExportRequest, ExportStatus
from carnet.guard.policy import Role
from carnet.patients.models import ExternalIdentifier
from carnet.staff.models import User
from carnet.vault.scope import admit, opening_scope

from .conftest import signed_in_client
from .factories import UserFactory, make_patient, totp_code

pytestmark = pytest.mark.django_db


def _ipp(patient_id):
    """The IPP a desk would read off the patient's letter (opened here by the vault alone)."""
    with opening_scope():
        admit(patient_id)
        return ExternalIdentifier.objects.get(patient_id=patient_id).value


@pytest.fixture
def cohort(establishment):
    people = []
    for n in range(30):
        surname = f"COHORTE{chr(65 + n // 26)}{chr(65 + n % 26)}"
        day = datetime.date(1960, 1, 1) + datetime.timedelta(days=n)
        people.append(_ipp(make_patient(establishment, birth_surname=surname, birth_date=day)))
    return people


@pytest.fixture
def officer(establishment):
    user = UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment])
    return signed_in_client(user)


def _ask(client, ipps):
    return client.post(
        reverse("web:exports"),
        {"purpose": "Étude de cohorte", "identifiers": "\n".join(ipps), "fmt": "csv"},
    )


def test_an_approved_export_leaves_encrypted_and_counted(
    staff, establishment, cohort, officer, tmp_path, capsys
):
    user, client = staff(Role.SECRETARY)
    assert _ask(client, cohort).status_code == 302
    export = ExportRequest.objects.get()
    assert export.status == ExportStatus.PENDING and export.count == 30
    # Nothing can be produced before approval, and the requester cannot approve.
    assert client.post(reverse("web:export_produce", args=[export.pk])).status_code == 404
    assert (
        client.post(
            reverse("web:security_export", args=[export.pk]), {"decision": "approve"}
        ).status_code
        == 403
    )
    officer.post(
        reverse("web:security_export", args=[export.pk]),
        {"decision": "approve", "token": totp_code(officer.account)},
    )
    produced = client.post(reverse("web:export_produce", args=[export.pk]))
    assert produced.status_code == 200
    key = produced.context["produced"].key
    assert produced.context["produced"].exported == 30
    # Thirty patients, past the weekly budget: four eyes replaced the budget, no containment.
    assert User.objects.get(pk=user.pk).is_active
    entry = AuditEntry.objects.get(request_id=produced["X-Request-ID"])
    assert entry.patient_count == 30 and f":export:{export.pk}" in entry.patients
    download = client.get(reverse("web:export_download", args=[export.pk]))
    token = download.content
    assert b"COHORTE" not in token
    path = tmp_path / "export.fernet"
    path.write_bytes(token)
    call_command("export", "open", str(path), f"--key={key}")
    opened = capsys.readouterr().out
    assert opened.startswith("ipp,status,birth_surname") and opened.count("COHORTE") == 30
    # Produced once only; nobody else downloads it.
    assert client.post(reverse("web:export_produce", args=[export.pk])).status_code == 404
    other = signed_in_client(UserFactory(role=Role.SECRETARY, establishments=[establishment]))
    assert other.get(reverse("web:export_download", args=[export.pk])).status_code == 404


def test_an_export_expires(staff, establishment, cohort, officer):
    user, client = staff(Role.SECRETARY)
    _ask(client, cohort[:3])
    export = ExportRequest.objects.get()
    officer.post(
        reverse("web:security_export", args=[export.pk]),
        {"decision": "approve", "token": totp_code(officer.account)},
    )
    client.post(reverse("web:export_produce", args=[export.pk]))
    later = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=2)
    with time_machine.travel(later):
        late = signed_in_client(user)
        assert late.get(reverse("web:export_download", args=[export.pk])).status_code == 404
        call_command("export", "expire")
    export.refresh_from_db()
    assert export.status == ExportStatus.EXPIRED and export.sealed_file is None


def test_a_canary_in_an_export_is_containment(staff, establishment, cohort, officer):
    canary = make_patient(establishment, birth_surname="CANARIUS", canary=True)
    user, client = staff(Role.SECRETARY)
    _ask(client, [*cohort[:3], _ipp(canary)])
    export = ExportRequest.objects.get()
    officer.post(
        reverse("web:security_export", args=[export.pk]),
        {"decision": "approve", "token": totp_code(officer.account)},
    )
    response = client.post(reverse("web:export_produce", args=[export.pk]))
    assert response.status_code == 403 and "CANARIUS" not in response.content.decode()
    assert not User.objects.get(pk=user.pk).is_active
    export.refresh_from_db()
    assert export.sealed_file is None


def test_an_export_without_purpose_or_list_is_refused(staff):
    user, client = staff(Role.SECRETARY)
    response = client.post(reverse("web:exports"), {"purpose": "", "identifiers": "", "fmt": "csv"})
    assert response.status_code == 400 and not ExportRequest.objects.exists()
    assert staff(Role.ADMINISTRATOR)[1].get(reverse("web:exports")).status_code == 403
