"""A laboratory order in a real browser: the practitioner orders tests from the patient's
results page, a technician of the laboratory finds the order by its number, collects the
tubes and enters the values, another technician validates them (the first one cannot), and
the practitioner reads them, flagged, beside earlier results and the blood group; a serology
ordered by someone outside her team stays masked.

Selectors use names, ids, data attributes and URLs, never visible text: the pages are French
by default and their translations change."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from carnet.guard.models import RelationshipKind
from carnet.guard.policy import Role
from carnet.guard.relationships import relate
from carnet.laboratory import catalogue
from carnet.laboratory.models import CriticalAlert, LabOrder, LabResult, Specimen

from ..factories import EstablishmentFactory, make_patient, totp_device
from ..laboratory_fixtures import Lab
from .signing import sign_in, staff_account

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HB, K, GLU, HIV, GROUP = "718-7", "2823-3", "2345-7", "56888-1", "882-1"


def _backdate(order: LabOrder, days: int) -> None:
    when = timezone.now() - datetime.timedelta(days=days)
    LabOrder.objects.filter(pk=order.pk).update(ordered_at=when)
    Specimen.objects.filter(order=order).update(collected_at=when)


def _sign_out(page) -> None:
    page.click("form[action='/logout/'] button[type=submit]")
    page.wait_for_url("**/login/**")


def test_order_enter_validate_and_read(page, other_page, live_server, shoot):
    catalogue.ensure_loaded()
    hospital = EstablishmentFactory(name="Hôpital Saint-Luc", city="Lyon")
    laboratory = EstablishmentFactory(
        name="Laboratoire Saint-Luc", kind="laboratory", group=hospital.group
    )
    doctor = staff_account(
        "dr.martin", Role.PRACTITIONER, hospital, first_name="Claire", last_name="Martin"
    )
    colleague = staff_account(
        "dr.petit", Role.PRACTITIONER, hospital, first_name="Paul", last_name="Petit"
    )
    tech_a = staff_account(
        "l.bernard", Role.LAB_TECHNICIAN, laboratory, first_name="Luc", last_name="Bernard"
    )
    tech_b = staff_account(
        "i.roche", Role.LAB_TECHNICIAN, laboratory, first_name="Inès", last_name="Roche"
    )
    patient = make_patient(hospital, birth_surname="DURAND", first_names="Marie Louise", sex="F")
    for practitioner in (doctor, colleague):
        relate(patient_id=patient, kind=RelationshipKind.TREATING_DOCTOR, user_id=practitioner.pk)
    history = Lab(hospital, laboratory, laboratory, doctor, tech_a, tech_b, tech_b, patient)
    _backdate(history.done({K: "4.1", HB: "12.8", GROUP: "A+"}), 60)
    _backdate(history.done({K: "5.4", GROUP: "A+"}), 20)
    history.practitioner = colleague
    _backdate(history.done({HIV: "negative"}), 20)
    base = live_server.url

    # The practitioner orders from the patient's results page.
    sign_in(page, base, doctor, totp_device(doctor))
    page.goto(f"{base}/patients/{patient}/lab/")
    expect(page.locator("[data-blood-group]")).to_have_text("A+")
    expect(page.locator("tr.lab-masked")).to_have_count(1)
    shoot("lab-01-patient-results")
    form = page.locator("#order-tests")
    form.locator("summary").click()
    for code in ("HB", "K", "GLY"):
        form.locator(f"input[name=tests][data-code={code}]").check()
    form.locator("input[name=priority][value=urgent]").check()
    form.locator("textarea[name=clinical_information]").fill("Asthénie, sous diurétique")
    shoot("lab-02-order-form")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"{base}/patients/{patient}/lab/")
    order = LabOrder.objects.get(priority="urgent")
    expect(page.locator(f"section[data-order='{order.pk}'] .lab-chip")).to_have_count(3)

    # A technician of the laboratory finds it by its number, collects and enters.
    lab_page = other_page
    sign_in(lab_page, base, tech_a, totp_device(tech_a))
    lab_page.goto(f"{base}/lab/")
    expect(lab_page.locator(f"tr[data-order='{order.pk}'].urgent")).to_be_visible()
    shoot("lab-03-worklist", on=lab_page)
    lab_page.fill("input[name=accession]", order.accession)
    lab_page.locator("form.lab-accession button[type=submit]").click()
    lab_page.wait_for_url(f"{base}/lab/orders/{order.pk}/")
    shoot("lab-04-order-to-collect", on=lab_page)
    lab_page.locator("form.lab-collect button[type=submit]").click()
    expect(lab_page.locator("table.lab-specimens tbody tr")).to_have_count(3)
    # The tube labels, printed: the tube's number as a barcode, the patient, the tube.
    lab_page.locator("a[data-labels]").click()
    lab_page.wait_for_url(f"{base}/lab/orders/{order.pk}/labels/")
    expect(lab_page.locator("figure.lab-label svg")).to_have_count(3)
    shoot("lab-04a-labels", on=lab_page)
    lab_page.goto(f"{base}/lab/orders/{order.pk}/")
    items = dict(order.items.values_list("test__code", "pk"))
    lab_page.fill(f"#value_{items['HB']}", "9,6")
    lab_page.fill(f"#value_{items['K']}", "6,7")
    lab_page.fill(f"#value_{items['GLY']}", "102")
    lab_page.fill(f"input[name=comment_{items['K']}]", "Contrôlé sur second tube")
    lab_page.locator("#lab-entry button[type=submit]").click()
    # 102 g/L of glucose is past the plausible limits: refused, nothing saved, a second
    # entry offered; the technician sees her slip and types 1.02.
    expect(lab_page.locator(f"input[name=again_{items['GLY']}]")).to_be_visible()
    expect(lab_page.locator(f"#value_{items['HB']}")).to_have_value("9,6")
    shoot("lab-04b-implausible-refused", on=lab_page)
    assert not LabResult.objects.filter(item__order=order).exists()
    lab_page.fill(f"#value_{items['GLY']}", "1.02")
    lab_page.locator("#lab-entry button[type=submit]").click()
    lab_page.wait_for_url(f"{base}/lab/orders/{order.pk}/")
    expect(lab_page.locator("tr.flag-row-HH")).to_have_count(1)
    own = lab_page.locator(".lab-validation input[name=result]")
    expect(own).to_have_count(3)
    for index in range(3):
        expect(own.nth(index)).to_be_disabled()
    shoot("lab-05-entered", on=lab_page)

    # Another technician validates.
    _sign_out(lab_page)
    sign_in(lab_page, base, tech_b, totp_device(tech_b))
    lab_page.goto(f"{base}/lab/?tab=to_validate")
    lab_page.locator(f"tr[data-order='{order.pk}'] a").click()
    lab_page.wait_for_url(f"{base}/lab/orders/{order.pk}/")
    # Nothing is ticked for her: she ticks each result she checked.
    boxes = lab_page.locator(".lab-validation input[name=result]")
    expect(boxes).to_have_count(3)
    expect(lab_page.locator(".lab-validation input[name=result]:checked")).to_have_count(0)
    shoot("lab-06-to-validate", on=lab_page)
    for index in range(3):
        boxes.nth(index).check()
    lab_page.locator(".lab-validation button[data-validate]").click()
    lab_page.wait_for_url(f"{base}/lab/orders/{order.pk}/")
    expect(lab_page.locator(".badge.lab-validated")).to_have_count(3)
    shoot("lab-07-validated", on=lab_page)
    assert not LabResult.objects.filter(item__order=order, validated_by__isnull=True).exists()

    # A validated result is corrected as a new version: the old value stays, struck through.
    haemoglobin = LabResult.objects.get(item__order=order, item__test__code="HB")
    correction = lab_page.locator(f"details.lab-correct[data-result='{haemoglobin.pk}']")
    correction.locator("summary").click()
    correction.locator("input[name=value]").fill("9,9")
    correction.locator("input[name=reason]").fill("Erreur de transcription")
    correction.locator("button[type=submit]").click()
    lab_page.wait_for_url(f"{base}/lab/orders/{order.pk}/")
    expect(lab_page.locator("del.lab-old-value")).to_have_count(1)
    expect(lab_page.locator("[data-corrected]")).to_have_count(1)
    shoot("lab-07b-corrected", on=lab_page)

    # The practitioner reads them, flagged, with the trends.
    page.reload()
    report = page.locator(f"section[data-order='{order.pk}']")
    expect(report.locator(".lab-flag.flag-HH")).to_have_count(1)
    expect(report.locator(".lab-flag.flag-L")).to_have_count(1)
    expect(page.locator(".lab-trends tbody tr")).to_have_count(2)
    expect(report.locator("del.lab-old-value")).to_have_count(1)
    expect(report.locator("[data-corrected]")).to_have_count(1)
    shoot("lab-08-results-read")

    # The critical potassium and the correction wait for her acknowledgement.
    page.goto(f"{base}/lab/alerts/")
    expect(page.locator("tr.lab-alert-critical")).to_have_count(1)
    expect(page.locator("tr.lab-alert-corrected")).to_have_count(1)
    shoot("lab-09-alerts")
    for _ in range(2):
        page.locator("table.lab-alerts form button[type=submit]").first.click()
        page.wait_for_url(f"{base}/lab/alerts/")
    expect(page.locator("table.lab-alerts tr[data-alert]")).to_have_count(0)
    assert CriticalAlert.objects.filter(acknowledged_by=doctor).count() == 2
