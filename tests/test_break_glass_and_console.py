"""Break-the-glass needs a reason and the second factor, alerts, and is limited; the security
officer reviews it, unlocks accounts with a reason (never their own), and gets the incident
report of an account."""

import datetime
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_otp.oath import TOTP

from carnet.audit.models import AuditEntry
from carnet.guard.models import Alert, AlertKind, BreakGlass, Containment
from carnet.guard.policy import BREAK_GLASS_PER_DAY, Role
from carnet.staff.models import User

from .conftest import signed_in_client
from .factories import UserFactory, make_patient, totp_code

pytestmark = pytest.mark.django_db


def _code(user) -> str:
    device = user.totpdevice_set.get(confirmed=True)
    return f"{TOTP(device.bin_key, step=device.step, t0=device.t0).token():06d}"


@pytest.fixture
def far_patient(other_establishment):
    """A patient known only to another establishment: no relationship, out of reach."""
    return make_patient(other_establishment, birth_surname="LOINTAIN")


def _break(client, patient, **data):
    return client.post(reverse("web:break_glass", args=[patient]), data, HTTP_ACCEPT_LANGUAGE="en")


def test_break_the_glass_needs_a_reason_and_the_second_factor(staff, far_patient):
    user, client = staff(Role.PRACTITIONER)
    assert client.get(reverse("web:patient_detail", args=[far_patient])).status_code == 404
    no_reason = _break(client, far_patient, reason="emergency", explanation=" ", token=_code(user))
    assert no_reason.status_code == 400 and no_reason.context["form"].errors["explanation"]
    bad_code = _break(
        client,
        far_patient,
        reason="emergency",
        explanation="Arrêt cardiaque aux urgences",
        token="000000",
    )
    assert bad_code.status_code == 400 and "not valid" in bad_code.content.decode()
    assert not BreakGlass.objects.exists()
    assert client.get(reverse("web:patient_detail", args=[far_patient])).status_code == 404


def test_break_the_glass_opens_for_hours_and_alerts(staff, establishment):
    """Within one's establishments the opening is immediate (beyond them it waits for a
    security officer: tests/test_trust_chains.py)."""
    far_patient = make_patient(establishment, birth_surname="LOINTAIN")
    user, client = staff(Role.PRACTITIONER)
    response = _break(
        client,
        far_patient,
        reason="emergency",
        explanation="Arrêt cardiaque aux urgences",
        token=_code(user),
    )
    assert response.status_code == 302
    page = client.get(reverse("web:patient_detail", args=[far_patient]))
    assert page.status_code == 200 and "LOINTAIN" in page.content.decode()
    entry = AuditEntry.objects.get(request_id=page["X-Request-ID"])
    assert entry.patients == f"{far_patient}:break_glass"
    alert = Alert.objects.get(kind=AlertKind.BREAK_GLASS)
    assert alert.account == user and str(alert.patient_id) == far_patient
    opening = BreakGlass.objects.get()
    assert opening.expires_at - opening.opened_at <= datetime.timedelta(hours=8)


def test_secretaries_cannot_break_the_glass(staff, far_patient):
    user, client = staff(Role.SECRETARY)
    response = _break(client, far_patient, reason="emergency", explanation="x", token=_code(user))
    assert response.status_code == 403 and not BreakGlass.objects.exists()


def test_too_many_break_the_glass_in_a_day_is_containment(staff, establishment):
    user, client = staff(Role.PRACTITIONER)
    patients = [
        make_patient(establishment, birth_surname=f"LOIN{chr(65 + n)}")
        for n in range(BREAK_GLASS_PER_DAY + 1)
    ]
    for index, patient in enumerate(patients):
        device = user.totpdevice_set.get()
        device.throttling_failure_count = 0
        device.last_t = -1
        device.save()
        response = _break(
            client, patient, reason="emergency", explanation="urgence", token=_code(user)
        )
        if index < BREAK_GLASS_PER_DAY:
            assert response.status_code == 302, index
    assert response.status_code == 403
    assert not User.objects.get(pk=user.pk).is_active


def test_the_security_officer_reviews_unlocks_and_reports(
    establishment, staff, far_patient, capsys
):
    user, client = staff(Role.SECRETARY)
    patient = make_patient(establishment, birth_surname="VUE")
    client.get(reverse("web:patient_detail", args=[patient]))
    Containment.objects.create(
        user=user, at=datetime.datetime.now(tz=datetime.UTC), reason="test", request_id="r"
    )
    User.objects.filter(pk=user.pk).update(is_active=False)
    officer = UserFactory(role=Role.SECURITY_OFFICER, establishments=[establishment])
    console = signed_in_client(officer)
    page = console.get(reverse("web:security"))
    assert page.status_code == 200 and user.username in page.content.decode()
    assert "VUE" not in page.content.decode()
    refused = console.post(reverse("web:security_unlock", args=[user.pk]), {"reason": ""})
    assert refused.status_code == 302 and not User.objects.get(pk=user.pk).is_active
    console.post(
        reverse("web:security_unlock", args=[user.pk]),
        {"reason": "Vol de session écarté", "token": totp_code(officer)},
    )
    assert User.objects.get(pk=user.pk).is_active
    assert Containment.objects.get(user=user).release_reason == "Vol de session écarté"
    # Nobody unlocks themselves.
    Containment.objects.create(
        user=officer, at=datetime.datetime.now(tz=datetime.UTC), reason="t", request_id="r2"
    )
    assert (
        console.post(
            reverse("web:security_unlock", args=[officer.pk]), {"reason": "moi"}
        ).status_code
        == 403
    )
    # The incident report names the patient the account saw, with the fields.
    report = console.get(
        reverse("web:security_incident"), {"account": user.username, "format": "json"}
    )
    rows = json.loads(report.content)
    assert [r["patient_id"] for r in rows] == [patient]
    assert "nir" in rows[0]["fields"] and "VUE" not in report.content.decode()
    call_command(
        "incident", "report", "--account", user.username, "--from", "2000-01-01", "--no-progress"
    )
    out = capsys.readouterr().out
    assert out.startswith("patient_id,first_seen") and patient in out
    # The patient's access history shows who opened the record.
    audit = console.get(reverse("web:security_audit"), {"patient": patient})
    assert user.username in audit.content.decode()


def test_other_roles_cannot_reach_the_console(staff):
    for role in (Role.ADMINISTRATOR, Role.PRACTITIONER, Role.SECRETARY):
        user, client = staff(role)
        assert client.get(reverse("web:security")).status_code == 403
        assert client.get(reverse("web:security_audit")).status_code == 403
