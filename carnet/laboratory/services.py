"""Ordering tests, collecting specimens, entering and validating results, through the guard.

An order relates the patient to the laboratory (not to each technician): its technicians open
that patient for the laboratory's work only, while the order is open and a few days after.
Validation is one step, by a technician who did not enter the result (French practice has a
technical validation then a biological one by a biologist; with the roles Carnet has, the
second pair of eyes is another technician's, and the database refuses the same account)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from carnet.guard.actors import Actor
from carnet.guard.boundary import Refused, opened_through, require
from carnet.guard.models import OUTSIDE, RelationshipKind
from carnet.guard.policy import Capability
from carnet.guard.relationships import end as end_relationship
from carnet.guard.relationships import kinds_for, relate
from carnet.organisations.models import Establishment, Unit
from carnet.patients.selectors import guarded_patient

from .alerts import raise_alert
from .formulas import age_on, compute
from .models import (
    AccessionCounter,
    AlertKind,
    LabOrder,
    LabOrderItem,
    LabResult,
    LabSystem,
    LabTest,
    OrderStatus,
    Priority,
    ResultAcknowledgement,
    Specimen,
)
from .outbound import queue_for_system
from .selectors import FOLLOW_UP_DAYS, NIL, ORDER_OPEN_DAYS, lab_order_for, laboratories_for
from .values import Flag, flag_for, implausible, parse_value, plausible_text, reference_for

MAX_CLINICAL_INFORMATION = 500


def _source(order: LabOrder) -> str:
    return f"lab_order:{order.pk}"


def _next_accession(laboratory_id: int) -> str:
    """The laboratory's next number of the year, e.g. 26-000042 (no gap, no duplicate: the
    counter row stays locked until the order is written)."""
    year = timezone.localdate().year % 100
    AccessionCounter.objects.get_or_create(laboratory_id=laboratory_id, year=year)
    counter = AccessionCounter.objects.filter(laboratory_id=laboratory_id, year=year)
    counter.update(last=F("last") + 1)
    return f"{year:02d}-{counter.values_list('last', flat=True).get():06d}"


def _ordering_unit(actor: Actor, establishment_id: int) -> int | None:
    """The practitioner's unit in the ordering establishment, when there is exactly one: the
    team that sees sensitive results. Several units: none is guessed (only the practitioner)."""
    units = list(
        Unit.objects.filter(pk__in=actor.unit_ids, establishment_id=establishment_id).values_list(
            "pk", flat=True
        )
    )
    return units[0] if len(units) == 1 else None


@transaction.atomic
def order_tests(
    *,
    actor: Actor,
    patient_id: object,
    laboratory_id: object,
    test_ids: Iterable[object],
    priority: str = Priority.ROUTINE,
    clinical_information: str = "",
) -> LabOrder:
    """A practitioner orders tests for a patient in their care from a laboratory of their
    group. A patient seen outside any care relationship can be read, not ordered for: an
    order would turn a counted look into a relationship of the laboratory's."""
    patient = guarded_patient(actor, Capability.ORDER_LAB, patient_id)
    if opened_through(actor, str(patient.id)) == OUTSIDE:
        raise Refused(
            "ordering tests needs a care relationship", patients=[str(patient.id)], not_found=False
        )
    errors: dict[str, str] = {}
    laboratory = laboratories_for(actor).filter(pk=_int(laboratory_id)).first()
    if laboratory is None:
        errors["laboratory"] = _("Choose a laboratory of your group.")
    wanted = {_int(t) for t in test_ids} - {None}
    tests = list(LabTest.objects.filter(pk__in=wanted, active=True))
    if not wanted:
        errors["tests"] = _("Choose at least one test.")
    elif len(tests) != len(wanted):
        errors["tests"] = _("Some of these tests are not in the catalogue.")
    if priority not in Priority.values:
        errors["priority"] = _("Choose routine or urgent.")
    information = clinical_information.strip()
    if len(information) > MAX_CLINICAL_INFORMATION:
        errors["clinical_information"] = _("At most %(count)d characters.") % {
            "count": MAX_CLINICAL_INFORMATION
        }
    if errors:
        raise ValidationError(errors)
    assert laboratory is not None
    in_group = Establishment.objects.filter(group_id=laboratory.group_id)
    ordered_from = min(actor.establishment_ids & set(in_group.values_list("pk", flat=True)))
    now = timezone.now()
    order = LabOrder.objects.create(
        patient=patient,
        laboratory=laboratory,
        ordered_from_id=ordered_from,
        ordered_by_id=actor.user_id,
        ordering_unit_id=_ordering_unit(actor, ordered_from),
        ordered_at=now,
        priority=priority,
        clinical_information=information or None,
        accession=_next_accession(laboratory.pk),
    )
    LabOrderItem.objects.bulk_create(LabOrderItem(order=order, test=test) for test in tests)
    relate(
        patient_id=patient.id,
        kind=RelationshipKind.LAB_ORDER,
        establishment_id=laboratory.pk,
        source=_source(order),
        starts_at=now,
        ends_at=now + datetime.timedelta(days=ORDER_OPEN_DAYS),
    )
    queue_for_system(order)
    return order


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


@transaction.atomic
def collect_specimens(
    *, actor: Actor, order_id: object, collected_at: datetime.datetime | None = None
) -> list[Specimen]:
    """The tubes of an order are taken: one per kind of specimen its tests need, each with
    its barcode (the accession number and the tube's rank)."""
    order, _patient = lab_order_for(actor, order_id, Capability.LAB_WORK, lock=True)
    if order.status != OrderStatus.TO_COLLECT:
        raise ValidationError(_("The specimens of this order were already collected."))
    now = timezone.now()
    collected_at = collected_at or now
    if collected_at > now + datetime.timedelta(minutes=5):
        raise ValidationError({"collected_at": _("A specimen cannot be collected in the future.")})
    if collected_at < order.ordered_at - datetime.timedelta(days=1):
        raise ValidationError({"collected_at": _("This is before the order was made.")})
    kinds: list[str] = []
    for item in order.items.select_related("test").order_by("test__rank"):
        if item.test.specimen not in kinds:
            kinds.append(item.test.specimen)
    specimens = Specimen.objects.bulk_create(
        Specimen(
            order=order,
            kind=kind,
            barcode=f"{order.accession}-{rank}",
            collected_at=collected_at,
            collected_by_id=actor.user_id,
        )
        for rank, kind in enumerate(kinds, start=1)
    )
    order.status = OrderStatus.IN_PROGRESS
    order.save(update_fields=["status"])
    return specimens


Entry = tuple[str, str] | tuple[str, str, str]


def _check_entry(item: LabOrderItem, raw: str, comment: str, again: str) -> tuple[str, bool]:
    """The value to store and whether it is kept past the plausibility limits; raises
    ValidationError with what the technician must do."""
    if item.test.computed:
        raise ValidationError(_("This result is computed by the laboratory: it is never typed."))
    value = parse_value(item.test, raw)
    if not implausible(item.test, value):
        return value, False
    limits = {"limits": plausible_text(item.test), "unit": item.test.unit}
    if not again.strip():
        raise ValidationError(
            _(
                "Outside the plausible limits of this test (%(limits)s %(unit)s): type the "
                "value again to keep it, with a comment."
            )
            % limits
        )
    try:
        same = parse_value(item.test, again) == value
    except ValidationError:
        same = False
    if not same:
        raise ValidationError(_("The value typed again is not the same: nothing was kept."))
    if not comment:
        raise ValidationError(_("Say in a comment why this implausible value is kept."))
    return value, True


@transaction.atomic
def enter_results(
    *, actor: Actor, order_id: object, entries: Mapping[int, Entry]
) -> list[LabResult]:
    """Values typed at the bench, by item: (value, comment) or (value, comment, value typed
    again); blank values are left alone. A value past the test's plausibility limits is
    refused unless typed again, the same, with a comment. A result not validated yet can be
    entered again (it is then the new technician's, and a returned one is back for
    validation); a validated one cannot change. Computed tests are worked out here from the
    values they need, never typed. Nothing is written unless every value is right."""
    order, patient = lab_order_for(actor, order_id, Capability.LAB_WORK, lock=True)
    if order.status == OrderStatus.TO_COLLECT:
        raise ValidationError(_("Collect the specimens before entering results."))
    if order.status == OrderStatus.DONE:
        raise ValidationError(_("Every result of this order is validated."))
    items = list(order.items.select_related("test", "result"))
    errors: dict[str, list[str]] = {}
    accepted: list[tuple[LabOrderItem, str, str, bool]] = []
    for item in items:
        raw, comment, again = (tuple(entries.get(item.pk, ("", ""))) + ("",))[:3]
        if not raw.strip():
            continue
        result = getattr(item, "result", None)
        if result is not None and result.validated_at is not None:
            errors[f"value_{item.pk}"] = [_("This result is validated: it cannot change.")]
            continue
        comment = comment.strip()[:300]
        try:
            value, confirmed = _check_entry(item, raw, comment, again)
        except ValidationError as error:
            errors[f"value_{item.pk}"] = error.messages
            continue
        accepted.append((item, value, comment, confirmed))
    if errors:
        raise ValidationError(errors)
    if not accepted:
        raise ValidationError(_("Enter at least one result."))
    sex = patient.sex or ""
    now = timezone.now()
    saved = []
    for item, value, comment, confirmed in accepted:
        saved.append(_store(item, patient, actor, now, value, comment, sex, confirmed=confirmed))
    saved.extend(_compute(order, items, patient, actor, now))
    return saved


def _store(
    item: LabOrderItem,
    patient: object,
    actor: Actor,
    now: datetime.datetime,
    value: str,
    comment: str,
    sex: str,
    *,
    confirmed: bool = False,
    computed: bool = False,
) -> LabResult:
    result = getattr(item, "result", None) or LabResult(item=item, patient=patient)
    result.value = value
    result.reference = reference_for(item.test, sex)
    result.comment = comment or None
    result.unit = item.test.unit
    result.entered_by_id = actor.user_id
    result.entered_at = now
    result.computed = computed
    result.implausible_confirmed = confirmed
    result.returned_by_id = None
    result.returned_at = None
    result.return_reason = None
    result.save()
    item.result = result
    return result


def _compute(
    order: LabOrder,
    items: list[LabOrderItem],
    patient: object,
    actor: Actor,
    now: datetime.datetime,
) -> list[LabResult]:
    """The order's computed tests, from the values entered so far (validated or not); a
    computed result already validated is left as it is."""
    values: dict[str, Decimal] = {}
    for item in LabOrderItem.objects.filter(order=order).select_related("test", "result"):
        result = getattr(item, "result", None)
        if result is not None and result.value and item.test.result_type == "numeric":
            values[item.test.loinc] = Decimal(result.value)
    sex = getattr(patient, "sex", "") or ""
    age = age_on(getattr(patient, "birth_date", None), timezone.localdate())
    saved = []
    for item in items:
        if not item.test.computed:
            continue
        current = getattr(item, "result", None)
        if current is not None and current.validated_at is not None:
            continue
        outcome = compute(item.test.computed, values, sex, age)
        if outcome is None:
            continue
        saved.append(
            _store(
                item, patient, actor, now, outcome.value, outcome.not_computed, sex, computed=True
            )
        )
    return saved


def _alert_critical(order: LabOrder, results: list[LabResult], now: datetime.datetime) -> None:
    for result in results:
        flag = flag_for(result.item.test.result_type, result.value, result.reference)
        if flag in (Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH):
            raise_alert(order=order, result=result, kind=AlertKind.CRITICAL, flag=flag, now=now)


@transaction.atomic
def validate_results(*, actor: Actor, order_id: object, result_ids: Iterable[object]) -> int:
    """Validates results entered by someone else, one by one as chosen (nothing is chosen
    for the validator); a result sent back to the bench waits for a new entry. A critical
    value validated raises an alert for the prescriber. Once every test of the order is
    validated the order is done and the laboratory keeps the patient open only for its
    follow-up."""
    order, _patient = lab_order_for(actor, order_id, Capability.VALIDATE_LAB, lock=True)
    wanted = {_int(r) for r in result_ids} - {None}
    results = list(
        LabResult.objects.select_for_update(of=("self",))
        .select_related("item__test")
        .filter(
            item__order=order, pk__in=wanted, validated_at__isnull=True, returned_at__isnull=True
        )
    )
    if not results:
        raise ValidationError(_("Choose the results to validate."))
    own = [r.item.test.name for r in results if r.entered_by_id == actor.user_id]
    if own:
        raise ValidationError(
            _("You entered %(tests)s: another technician validates it.") % {"tests": ", ".join(own)}
        )
    now = timezone.now()
    LabResult.objects.filter(pk__in=[r.pk for r in results]).update(
        validated_by_id=actor.user_id, validated_at=now
    )
    _validated(order, results, now)
    return len(results)


def validate_from_system(*, actor: Actor, order_id: object, result_ids: Iterable[object]) -> int:
    """Results the laboratory's system sent as validated by its own biologist, where the
    laboratory says so (LabSystem.results_prevalidated): recorded as validated by the system,
    never by an account of Carnet; the rest as for a validation here (alerts, order done).
    Only what the sending account itself entered, unvalidated."""
    order, _patient = lab_order_for(actor, order_id, Capability.LAB_WORK, lock=True)
    system = LabSystem.objects.filter(laboratory_id=order.laboratory_id, active=True).first()
    if system is None or not system.results_prevalidated:
        raise ValidationError(_("This laboratory's results are validated here."))
    wanted = {_int(r) for r in result_ids} - {None}
    results = list(
        LabResult.objects.select_for_update(of=("self",))
        .select_related("item__test")
        .filter(
            item__order=order,
            pk__in=wanted,
            entered_by_id=actor.user_id,
            validated_at__isnull=True,
            returned_at__isnull=True,
        )
    )
    if not results:
        return 0
    now = timezone.now()
    LabResult.objects.filter(pk__in=[r.pk for r in results]).update(
        validated_at=now, validated_by_system=True
    )
    _validated(order, results, now)
    return len(results)


def _validated(order: LabOrder, results: list[LabResult], now: datetime.datetime) -> None:
    """After results were validated: critical values alert the prescriber; an order whose
    every test is validated is done, and the laboratory keeps only its follow-up."""
    _alert_critical(order, results, now)
    pending = Q(result__isnull=True) | Q(result__validated_at__isnull=True)
    if not LabOrderItem.objects.filter(pending, order=order).exists():
        order.status = OrderStatus.DONE
        order.done_at = now
        order.save(update_fields=["status", "done_at"])
        end_relationship(
            patient_id=order.patient_id, kind=RelationshipKind.LAB_ORDER, source=_source(order)
        )
        relate(
            patient_id=order.patient_id,
            kind=RelationshipKind.LAB_ORDER,
            establishment_id=order.laboratory_id,
            source=_source(order),
            starts_at=now,
            ends_at=now + datetime.timedelta(days=FOLLOW_UP_DAYS),
        )


@transaction.atomic
def add_test(*, actor: Actor, order_id: object, test_id: object) -> LabOrderItem:
    """The laboratory adds a test to a prescriber's order still in its hands (a reflex or
    add-on test its biologist decides), where the ordering establishment allows it. Never a
    new order: the patient is the order's, already the laboratory's; nothing new is opened."""
    order, _patient = lab_order_for(actor, order_id, Capability.LAB_WORK, lock=True)
    if not order.ordered_from.laboratory_add_ons:
        raise ValidationError(
            _("%(establishment)s does not let its laboratories add tests to its orders.")
            % {"establishment": order.ordered_from.name}
        )
    if order.status == OrderStatus.DONE:
        raise ValidationError(_("This order is done: a new test needs a new order."))
    test = LabTest.objects.filter(pk=_int(test_id), active=True).first()
    if test is None:
        raise ValidationError(_("This test is not in the catalogue."))
    if test.computed:
        raise ValidationError(_("A computed test is worked out, never ordered."))
    if order.items.filter(test=test).exists():
        raise ValidationError(_("This test is already in the order."))
    return LabOrderItem.objects.create(
        order=order, test=test, added_by_id=actor.user_id, added_at=timezone.now()
    )


@transaction.atomic
def acknowledge_result(*, actor: Actor, result_id: object) -> LabResult:
    """A practitioner marks a validated result as read: it leaves their results to review.
    Only for a patient in their care: anyone else's result answers like none at all, before
    the guard opens (or counts) anything. Acknowledging twice changes nothing."""
    require(actor, Capability.ORDER_LAB)
    key = _int(result_id)
    result = (
        LabResult.objects.filter(pk=key, validated_at__isnull=False).first()
        if key is not None
        else None
    )
    patient_id = str(result.patient_id) if result else NIL
    kind = kinds_for(actor, [patient_id], Capability.VIEW_CLINICAL).get(patient_id)
    if result is None or kind in (None, RelationshipKind.BREAK_GLASS):
        raise Refused("no such result in the actor's care")
    guarded_patient(actor, Capability.VIEW_CLINICAL, patient_id)
    ResultAcknowledgement.objects.get_or_create(
        result=result, user_id=actor.user_id, defaults={"at": timezone.now()}
    )
    return result


MAX_REASON = 300


@transaction.atomic
def return_result(*, actor: Actor, order_id: object, result_id: object, reason: str) -> LabResult:
    """A validator sends a result back to the bench with the reason: it is not validated
    and waits for a technician to enter it again."""
    order, _patient = lab_order_for(actor, order_id, Capability.VALIDATE_LAB, lock=True)
    result = (
        LabResult.objects.select_for_update(of=("self",))
        .filter(item__order=order, pk=_int(result_id), validated_at__isnull=True)
        .first()
    )
    if result is None:
        raise ValidationError(_("This result is not waiting for validation."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the result goes back to the bench.")})
    if len(reason) > MAX_REASON:
        raise ValidationError(
            {"reason": _("At most %(count)d characters.") % {"count": MAX_REASON}}
        )
    result.returned_by_id = actor.user_id
    result.returned_at = timezone.now()
    result.return_reason = reason
    result.save(update_fields=["returned_by", "returned_at", "return_reason"])
    return result
