"""The incident report names, for every patient an account exposed, the kinds of data it saw:
reading a chart reports clinical data, not a bare patient id with no field."""

import pytest

from carnet.guard.actors import system_actor
from carnet.guard.boundary import boundary
from carnet.guard.incidents import exposure_report, fields_for
from carnet.guard.policy import Role

from .clinical_helpers import client_of, consultation, member


def test_every_action_of_a_domain_reports_fields():
    assert "nir" in fields_for("patients.view")
    assert "clinical_notes" in fields_for("clinical.chart")
    assert "document_content" in fields_for("clinical.document.view")
    assert "laboratory_results" in fields_for("lab.patient")
    assert "appointments" in fields_for("desk.week")
    assert fields_for("web.dashboard") == ()


@pytest.mark.django_db
def test_a_chart_read_is_reported_with_its_clinical_fields(establishment, patient):
    import datetime

    doctor = member(Role.PRACTITIONER, establishment)
    consultation(doctor, patient)
    assert client_of(doctor).get(f"/patients/{patient}/chart/").status_code == 200
    actor = system_actor("tests")
    with boundary(actor, "tests.incident"):
        rows = exposure_report(
            actor=actor,
            account_id=doctor.pk,
            start=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
            end=datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC),
        )
    assert [r.patient_id for r in rows] == [patient]
    assert {"clinical_notes", "prescriptions", "birth_date"} <= rows[0].fields
