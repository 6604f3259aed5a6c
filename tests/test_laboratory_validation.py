"""Validation that cannot be rushed: a value past its test's plausibility limits is refused
unless typed again with a comment; nothing is validated by the one who entered it; a
validator sends a result back with a reason; a critical value validated alerts the
prescriber, whose acknowledgement is recorded; a validated result is corrected only as a new
version that keeps the old one and alerts the prescriber; computed tests are computed."""

import json
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from carnet.guard.boundary import Refused
from carnet.guard.policy import Role
from carnet.laboratory import formulas
from carnet.laboratory.alerts import acknowledge_alert, alerts_for
from carnet.laboratory.catalogue import LIMITS
from carnet.laboratory.corrections import correct_result
from carnet.laboratory.models import (
    CriticalAlert,
    LabResult,
    LabResultVersion,
    LabTest,
    OrderStatus,
)
from carnet.laboratory.selectors import order_sheet, patient_results
from carnet.laboratory.services import enter_results, return_result, validate_results
from carnet.laboratory.values import editable
from carnet.vault.scope import admit, opening_scope

from .conftest import signed_in_client
from .laboratory_fixtures import acting, make_lab, staff_user

pytestmark = pytest.mark.django_db

HB, K, TG, CHOL, HDL, LDL, CREA, EGFR = (
    "718-7",
    "2823-3",
    "2571-8",
    "2093-3",
    "2085-9",
    "13457-7",
    "14682-9",
    "98979-8",
)


@pytest.fixture
def lab(establishment):
    return make_lab(establishment)


def _collected(lab, *loincs):
    order = lab.order(*loincs)
    lab.collect(order)
    return order, dict(order.items.values_list("test__loinc", "pk"))


def _result(order, loinc) -> LabResult:
    return LabResult.objects.get(item__order=order, item__test__loinc=loinc)


def _opened(order, loinc):
    """The result with its sealed fields read (a test looking at what was stored)."""
    with opening_scope():
        admit(order.patient_id)
        result = _result(order, loinc)
        _ = (result.value, result.comment)
        return result


def test_every_numeric_test_has_plausibility_limits_from_a_stated_source():
    data = json.loads(LIMITS.read_text(encoding="utf-8"))
    assert data["sources"]["plausible"] and data["sources"]["critical"]
    for test in LabTest.objects.filter(result_type="numeric", active=True):
        assert test.plausible_low is not None and test.plausible_high is not None, test.code
        assert test.plausible_low < test.plausible_high
        if test.critical_high is not None:
            assert test.critical_high < test.plausible_high


def test_an_implausible_value_is_refused_at_entry(lab):
    order, items = _collected(lab, TG)
    with acting(lab.tech_a) as actor, pytest.raises(ValidationError) as refused:
        enter_results(actor=actor, order_id=order.pk, entries={items[TG]: ("99,999", "")})
    assert f"value_{items[TG]}" in refused.value.message_dict
    assert not LabResult.objects.filter(item__order=order).exists()


def test_an_implausible_value_is_kept_only_typed_again_the_same_with_a_comment(lab):
    order, items = _collected(lab, TG)
    for again, comment in (("99.99", "Lactescent"), ("99,999", ""), ("", "Lactescent")):
        with acting(lab.tech_a) as actor, pytest.raises(ValidationError):
            enter_results(
                actor=actor, order_id=order.pk, entries={items[TG]: ("99,999", comment, again)}
            )
    assert not LabResult.objects.filter(item__order=order).exists()
    with acting(lab.tech_a) as actor:
        enter_results(
            actor=actor,
            order_id=order.pk,
            entries={items[TG]: ("99,999", "Sérum lactescent, contrôlé", "99.999")},
        )
    result = _opened(order, TG)
    assert result.implausible_confirmed and Decimal(result.value) == Decimal("99.999")


def test_nothing_is_ticked_for_the_validator_and_she_cannot_validate_her_own(lab):
    order, items = _collected(lab, HB)
    lab.enter(order, {HB: "13,2"})
    with acting(lab.tech_a) as actor, pytest.raises(ValidationError):
        validate_results(actor=actor, order_id=order.pk, result_ids=[_result(order, HB).pk])
    client = signed_in_client(lab.tech_b)
    page = client.get(reverse("web:lab_order", args=[order.pk])).content.decode()
    boxes = re.findall(r'<input type="checkbox" name="result"[^>]*>', page)
    assert len(boxes) == 1 and "checked" not in boxes[0]
    assert lab.validate(order) == 1


def test_a_validator_sends_a_result_back_with_a_reason(lab):
    order, items = _collected(lab, HB, K)
    lab.enter(order, {HB: "13.2", K: "4.0"})
    hb = _result(order, HB)
    with acting(lab.tech_b) as actor, pytest.raises(ValidationError):
        return_result(actor=actor, order_id=order.pk, result_id=hb.pk, reason="  ")
    with acting(lab.tech_b) as actor:
        return_result(actor=actor, order_id=order.pk, result_id=hb.pk, reason="Tube hémolysé")
    with acting(lab.tech_b) as actor, pytest.raises(ValidationError):
        validate_results(actor=actor, order_id=order.pk, result_ids=[hb.pk])
    with acting(lab.tech_a) as actor:
        line = next(x for x in order_sheet(actor=actor, order_id=order.pk).lines if x.returned)
    assert line.return_reason == "Tube hémolysé" and line.test.loinc == HB
    lab.enter(order, {HB: "13.4"})
    assert lab.validate(order) == 2
    order.refresh_from_db()
    assert order.status == OrderStatus.DONE


def _with_address(user):
    user.email = "dr.prescrit@example.fr"
    user.save(update_fields=["email"])
    mail.outbox.clear()


def test_a_critical_value_alerts_the_prescriber_who_acknowledges_it(
    lab, django_capture_on_commit_callbacks
):
    order, items = _collected(lab, K, HB)
    lab.enter(order, {K: "6,9", HB: "13.0"})
    assert not CriticalAlert.objects.exists()  # not before validation
    _with_address(lab.practitioner)
    with django_capture_on_commit_callbacks(execute=True):
        lab.validate(order)
    alert = CriticalAlert.objects.get()
    assert (alert.prescriber_id, alert.kind, alert.flag) == (lab.practitioner.pk, "critical", "HH")
    # Told by e-mail too, at her own address: where to read it, nothing of the patient.
    [message] = mail.outbox
    assert message.to == [lab.practitioner.email] and "/lab/alerts/" in message.body
    test_name = alert.result.item.test.name
    for secret in ("6,9", "6.9", test_name, lab.patient, order.accession):
        assert secret not in message.subject + message.body, secret
    with acting(lab.practitioner) as actor:
        rows = alerts_for(actor=actor)
    assert [(r.test, r.flag) for r in rows] == [(alert.result.item.test.name, "HH")]
    # Nobody else sees or acknowledges it.
    with acting(lab.tech_b) as actor, pytest.raises((ValidationError, Refused)):
        acknowledge_alert(actor=actor, alert_id=alert.pk)
    other = staff_user(Role.PRACTITIONER, lab.hospital, last_name="Autre")
    with acting(other) as actor, pytest.raises(ValidationError):
        acknowledge_alert(actor=actor, alert_id=alert.pk)
    with acting(other) as actor:
        assert alerts_for(actor=actor) == ()
    client = signed_in_client(lab.practitioner)
    page = client.get(reverse("web:lab_alerts")).content.decode()
    assert f'data-alert="{alert.pk}"' in page
    bench = signed_in_client(lab.tech_b)
    sheet = bench.get(reverse("web:lab_order", args=[order.pk])).content.decode()
    assert 'data-alert-state="waiting"' in sheet
    response = client.post(reverse("web:lab_alert_acknowledge", args=[alert.pk]))
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by_id == lab.practitioner.pk and alert.acknowledged_at
    with acting(lab.practitioner) as actor:
        assert alerts_for(actor=actor) == ()
    # The laboratory sees that the prescriber saw it.
    sheet = bench.get(reverse("web:lab_order", args=[order.pk])).content.decode()
    assert 'data-alert-state="acknowledged"' in sheet


def test_a_correction_keeps_both_versions_shows_corrected_and_alerts(
    lab, django_capture_on_commit_callbacks
):
    order, items = _collected(lab, HB)
    lab.enter(order, {HB: "13.2"})
    lab.validate(order)
    result = _result(order, HB)
    with acting(lab.tech_a) as actor, pytest.raises(ValidationError):
        correct_result(actor=actor, order_id=order.pk, result_id=result.pk, value="12,1", reason="")
    _with_address(lab.practitioner)
    with acting(lab.tech_a) as actor, django_capture_on_commit_callbacks(execute=True):
        correct_result(
            actor=actor,
            order_id=order.pk,
            result_id=result.pk,
            value="12,1",
            reason="Erreur de transcription",
        )
    [message] = mail.outbox
    assert message.to == [lab.practitioner.email] and "corrected" in message.subject
    assert "12,1" not in message.body and "13" not in message.body
    result = _opened(order, HB)
    assert (Decimal(result.value), result.version, result.corrected_by_id) == (
        Decimal("12.1"),
        2,
        lab.tech_a.pk,
    )
    with opening_scope():
        admit(order.patient_id)
        old = LabResultVersion.objects.get(result=result)
        assert Decimal(old.value) == Decimal("13.2") and old.reason == "Erreur de transcription"
    assert old.validated_by_id == lab.tech_b.pk and old.replaced_by_id == lab.tech_a.pk
    alert = CriticalAlert.objects.get(kind="corrected")
    assert alert.prescriber_id == lab.practitioner.pk
    with acting(lab.practitioner) as actor:
        report = patient_results(actor=actor, patient_id=lab.patient).reports[0]
    line = report.lines[0]
    assert line.corrected and [v.reason for v in line.versions] == ["Erreur de transcription"]
    page = signed_in_client(lab.practitioner).get(reverse("web:patient_lab", args=[lab.patient]))
    text = page.content.decode()
    assert "data-corrected" in text and "<del" in text


def test_a_pending_result_is_not_corrected_but_entered_again(lab):
    order, items = _collected(lab, HB)
    lab.enter(order, {HB: "13.2"})
    with acting(lab.tech_b) as actor, pytest.raises(ValidationError):
        correct_result(
            actor=actor, order_id=order.pk, result_id=_result(order, HB).pk, value="1", reason="x"
        )


def test_ldl_is_computed_by_friedewald_never_typed(lab):
    order, items = _collected(lab, CHOL, HDL, TG, LDL)
    with acting(lab.tech_a) as actor, pytest.raises(ValidationError):
        enter_results(actor=actor, order_id=order.pk, entries={items[LDL]: ("1,2", "")})
    lab.enter(order, {CHOL: "2,10", HDL: "0,50", TG: "1,00"})
    ldl = _opened(order, LDL)
    assert ldl.computed and Decimal(ldl.value) == Decimal("1.40")
    assert lab.validate(order) == 4


def test_ldl_is_not_computed_when_triglycerides_reach_3_4(lab):
    order, items = _collected(lab, CHOL, HDL, TG, LDL)
    lab.enter(order, {CHOL: "3,00", HDL: "0,40", TG: "3,40"})
    ldl = _opened(order, LDL)
    assert ldl.computed and ldl.value == "" and "3.4" in (ldl.comment or "")


def test_egfr_is_computed_by_ckd_epi_2021(lab):
    order, items = _collected(lab, CREA, EGFR)
    lab.enter(order, {CREA: "62"})
    egfr = _opened(order, EGFR)
    with opening_scope():
        admit(order.patient_id)
        birth = LabResult.objects.get(pk=egfr.pk).patient.birth_date
    age = formulas.age_on(birth, timezone.localdate())
    expected = formulas.egfr_ckd_epi_2021({formulas.CREATININE: Decimal("62")}, "F", age)
    assert egfr.computed and egfr.value == expected.value
    # Female, 62 µmol/L: 142 × 0.9938^age × 1.012 (Scr/κ ≈ 1).
    assert abs(int(egfr.value) - 142 * 0.9938**age * 1.012 * (62 / 88.42 / 0.7) ** -1.2) < 2


def test_the_egfr_formula_matches_published_examples():
    # CKD-EPI 2021 calculator (NKF): man of 50, creatinine 1.0 mg/dL -> 92.
    value = formulas.egfr_ckd_epi_2021({formulas.CREATININE: Decimal("88.42")}, "M", 50).value
    assert value == "92"
    assert formulas.egfr_ckd_epi_2021({formulas.CREATININE: Decimal("80")}, "", 50).not_computed


def test_values_go_back_into_the_inputs_in_french_form(lab):
    test = LabTest.objects.get(loinc=HB)
    from django.utils import translation

    with translation.override("fr"):
        assert editable(test, "0.95") == "0,95"
    with translation.override("en"):
        assert editable(test, "0.95") == "0.95"


def test_the_worklist_states_when_results_are_due_and_late(lab):
    from carnet.laboratory.models import LabOrder
    from carnet.laboratory.selectors import worklist

    order = lab.order(HB, priority="urgent")
    LabOrder.objects.filter(pk=order.pk).update(
        ordered_at=timezone.now() - timezone.timedelta(hours=3)
    )
    with acting(lab.tech_a) as actor:
        row = worklist(actor=actor, tab="to_collect").rows[0]
    assert row.late and row.due_at < timezone.now()


def test_the_reference_range_shows_before_the_value_is_typed(lab):
    order, items = _collected(lab, HB)
    with acting(lab.tech_a) as actor:
        [line] = order_sheet(actor=actor, order_id=order.pk).lines
    assert not line.entered and "16" in line.reference  # the patient is a woman: 12–16 g/dL


def test_tube_labels_show_the_barcode_and_identity_to_the_laboratory_only(lab):
    order, items = _collected(lab, HB, K)
    url = reverse("web:lab_labels", args=[order.pk])
    page = signed_in_client(lab.tech_a).get(url).content.decode()
    barcodes = re.findall(r'data-barcode="([^"]+)"', page)
    assert barcodes == [f"{order.accession}-1", f"{order.accession}-2"]
    assert page.count("<svg") >= 2 and "17/05/1980" in page
    # Another laboratory's technician, and the prescriber, get no label.
    assert signed_in_client(lab.tech_other).get(url).status_code == 404
    assert signed_in_client(lab.practitioner).get(url).status_code in (403, 404)
