"""Reading a patient's chart through the whole stack against a plain Django app serving the
same data unencrypted. Goal: guarded/plain <= 1.5 (mean), on each page.

Default, the full chart: for a sample of patients (--charts) the script writes, through
Carnet's own services and as the staff who would, 50 encounters (one of them a current
admission) with a note each, 20 small PDF documents and 20 laboratory orders of 10 tests
(200 results) collected, entered and validated by two technicians; then copies the same rows
in clear to the plain app's tables (bench/plainapp). It times two pages on each side:

- GET /patients/<id>/chart/ (middleware, route guard, guard boundary, vault opening the
  identity, every encounter's reason, note and document title, sensitivity rules, audit entry
  in the same transaction, template) against /bench/plain/patients/<id>/chart/;
- GET /patients/<id>/lab/ (the same, opening every result's value and reference, trends,
  blood group) against /bench/plain/patients/<id>/lab/;

both with Carnet's templates, the same signed-in client, the same database, interleaved in
random order over the sampled patients. `--identity` times the identity page instead
(GET /patients/<id>/ against /bench/plain/patients/<id>/, every seeded patient).

Both sides run through django.test.Client (in-process, no network).

    .venv/bin/python bench/chart_read.py --db sqlite   --patients 5000 --charts 20 --iterations 300
    .venv/bin/python bench/chart_read.py --db postgres --patients 5000 --charts 20 --iterations 300
    .venv/bin/python bench/chart_read.py --identity --db sqlite --patients 5000 --iterations 500
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import random
import re
import secrets
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from inspect import signature
from pathlib import Path
from typing import Any

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

GOAL_RATIO = 1.5
_TOKENS = re.compile(r'(value="|"X-CSRFToken": ")[A-Za-z0-9]{32,64}"')


def copy_to_plain(batch: int = 1000) -> int:
    """Opens every identity as a system job (audited as one bulk entry) and writes the same
    values, in clear, to the plain tables."""
    from bench.plainapp.models import PlainIdentifier, PlainPatient
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import admit_bulk, system_job
    from carnet.guard.policy import Capability
    from carnet.patients.cards import identity_card
    from carnet.patients.models import Patient
    from carnet.vault.keys import preload

    actor = system_actor("bench-copy-plain")
    copied = 0
    with system_job(actor, "bench.copy_to_plain"):
        ledger = admit_bulk(actor, Capability.IMPORT_IDENTITIES)
        ids = list(Patient.objects.order_by("id").values_list("id", flat=True))
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            preload(str(i) for i in chunk)
            patients = (
                Patient.objects.filter(id__in=chunk)
                .select_related("treating_doctor__user")
                .prefetch_related("identifiers__establishment")
            )
            rows, identifiers = [], []
            for patient in patients:
                card = identity_card(patient)
                rows.append(
                    PlainPatient(
                        id=patient.id,
                        status=card.status,
                        version=card.version,
                        created_at=card.created_at,
                        updated_at=card.updated_at,
                        treating_doctor_id=card.treating_doctor_id,
                        birth_surname=card.birth_surname,
                        first_names=card.first_names,
                        used_surname=card.used_surname,
                        used_first_name=card.used_first_name,
                        sex=card.sex,
                        birth_date=card.birth_date,
                        birthplace_code=card.birthplace_code,
                        nir=card.nir,
                        address_line=card.address_line,
                        postal_code=card.postal_code,
                        city=card.city,
                        country=card.country,
                        phone=card.phone,
                        email=card.email,
                    )
                )
                identifiers += [
                    PlainIdentifier(
                        patient_id=patient.id,
                        establishment_id=i.establishment_id,
                        kind=i.kind,
                        value=i.value,
                    )
                    for i in patient.identifiers.all()
                ]
            PlainPatient.objects.bulk_create(rows)
            PlainIdentifier.objects.bulk_create(identifiers)
            copied += len(rows)
        ledger.bulk_count = copied
    return copied


def signed_in_client():
    """A practitioner of every establishment, past password and second factor (as the
    tests' signed_in_client does), so that every seeded patient is within reach."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from carnet.guard.policy import Role
    from carnet.organisations.identifiers import with_luhn_key
    from carnet.organisations.models import Establishment
    from carnet.staff.services import create_account

    approved = {"approved": True} if "approved" in signature(create_account).parameters else {}
    user = create_account(
        **approved,
        username="bench.practitioner",
        password="bench-" + secrets.token_urlsafe(18),
        role=Role.PRACTITIONER,
        first_name="Bench",
        last_name="Practitioner",
        establishments=list(Establishment.objects.all()),
        rpps=with_luhn_key("1000099999"),
        specialty="Médecine générale",
    )
    device = TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return user, client


def relate_all(user: object, ids: list[str]) -> str:
    """Where the guard knows care relationships, gives the bench account one (an appointment)
    with every patient: the ordinary chart read, which exposure budgets leave alone (a budget
    would contain an account reading hundreds of patients outside any relationship)."""
    try:
        from carnet.guard import relationships
    except ImportError:
        return "guard without care relationships: none needed"
    from django.db import transaction

    with transaction.atomic():
        if hasattr(relationships, "relate_many"):
            rows = [(pid, user.pk, "appointment") for pid in ids]  # type: ignore[attr-defined]
            relationships.relate_many(rows, source="bench")
        else:
            for pid in ids:
                relationships.relate(
                    patient_id=pid,
                    kind="appointment",
                    user_id=user.pk,  # type: ignore[attr-defined]
                    source="bench",
                )
    return f"{len(ids)} care relationships (appointment) given to the bench account"


def _normalised(body: bytes, path: str = "", as_path: str = "") -> str:
    text = _TOKENS.sub(r"\1TOKEN\"", body.decode())
    return text.replace(path, as_path) if path else text


def _get(client, url: str) -> tuple[float, object]:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url} answered {response.status_code}")
    return elapsed, response


def _queries(client, url: str, show: bool = False) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    if show:
        print(f"SQL of GET {url}:")
        for query in captured.captured_queries:
            print(f"  {query['time']}s  {query['sql'][:160]}")
    return len(captured.captured_queries)


# ---- the full chart: written through Carnet's services ----------------------------------

TESTS_PER_ORDER = 10
YEARS_OF_HISTORY = 5
_REASONS = (
    "Dyspnée d'effort progressive depuis deux semaines",
    "Suivi d'une insuffisance cardiaque à fraction d'éjection altérée",
    "Douleur thoracique atypique, bilan de contrôle",
    "Adaptation du traitement antihypertenseur",
    "Fièvre et toux productive depuis quatre jours",
    "Contrôle après sortie d'hospitalisation",
    "Bilan de fatigue et d'amaigrissement",
    "Suivi du diabète de type 2, HbA1c à contrôler",
)
_SENTENCES = (
    "Patient vu en consultation, accompagné de son épouse.",
    "Pas de douleur thoracique au repos, dyspnée stade II de la NYHA.",
    "Auscultation cardiaque : rythme régulier, pas de souffle audible.",
    "Discrets œdèmes des membres inférieurs prenant le godet.",
    "Tension artérielle 138/84 mmHg aux deux bras, fréquence cardiaque 72/min.",
    "Poids stable à 81 kg, pas de prise pondérale rapide.",
    "L'observance du traitement paraît bonne, pas d'effet indésirable rapporté.",
    "ECG : rythme sinusal, pas de trouble de la repolarisation.",
    "Bilan biologique demandé : ionogramme, créatinine, NT-proBNP, NFS.",
    "Poursuite du traitement en cours, réévaluation dans trois mois.",
    "Conseils hygiéno-diététiques renouvelés, restriction sodée modérée.",
    "Le patient sait reconnaître les signes qui doivent le faire reconsulter.",
)


def _pdf(text: str) -> bytes:
    """A one-page document of 40 lines, written as Carnet writes its PDFs."""
    from carnet.printing.pdf import simple

    return simple(text, [f"{text} - ligne {n}" for n in range(40)])


def _actor(user: Any) -> Any:
    """The user as the guard sees a signed-in request of theirs (a fresh request id)."""
    from carnet.guard.actors import Actor
    from carnet.staff.models import Membership

    rows = list(Membership.objects.filter(user=user).values_list("establishment_id", "unit_id"))
    return Actor(
        user_id=user.pk,
        username=user.username,
        role=user.role,
        establishment_ids=frozenset(e for e, _ in rows),
        unit_ids=frozenset(u for _, u in rows if u is not None),
        verified=True,
        approved=user.access_approved,
    )


@contextlib.contextmanager
def _acting(actor: Any, action: str) -> Iterator[Any]:
    """One unit of work like one request: transaction, guard boundary, audit entry."""
    from django.db import transaction

    from carnet.guard.boundary import boundary

    actor = dataclasses.replace(actor, request_id=uuid.uuid4().hex)
    with transaction.atomic(), boundary(actor, action):
        yield actor


def _account(username: str, role: str, last_name: str, establishments: list, **extra: Any) -> Any:
    from carnet.staff.services import create_account

    return create_account(
        username=username,
        password="bench-" + secrets.token_urlsafe(18),
        role=role,
        first_name="Bench",
        last_name=last_name,
        establishments=establishments,
        approved=True,
        **extra,
    )


@dataclasses.dataclass
class ChartStaff:
    author: Any  # the practitioner who sees the patients, writes and orders
    tech_a: Any  # enters the results
    tech_b: Any  # validates them (never the same account)
    laboratory_id: int
    unit_id: int


def chart_staff() -> ChartStaff:
    from carnet.guard.policy import Role
    from carnet.organisations.identifiers import with_luhn_key
    from carnet.organisations.models import Establishment, EstablishmentKind, Unit

    everywhere = list(Establishment.objects.all())
    laboratory = Establishment.objects.filter(kind=EstablishmentKind.LABORATORY).first()
    assert laboratory is not None, "the seeded structure has a laboratory"
    author = _account(
        "bench.author",
        Role.PRACTITIONER,
        "Auteur",
        everywhere,
        rpps=with_luhn_key("1000088888"),
        specialty="Médecine interne",
    )
    unit = Unit.objects.exclude(establishment=laboratory).order_by("pk").first()
    assert unit is not None
    return ChartStaff(
        author=author,
        tech_a=_account("bench.tech.a", Role.LAB_TECHNICIAN, "Saisie", [laboratory]),
        tech_b=_account("bench.tech.b", Role.LAB_TECHNICIAN, "Validation", [laboratory]),
        laboratory_id=laboratory.pk,
        unit_id=unit.pk,
    )


def _text(rng: random.Random, sentences: int) -> str:
    return " ".join(rng.choice(_SENTENCES) for _ in range(sentences))


def _result_value(test: Any, sex: str, rng: random.Random, blood_group: str) -> str:
    """A plausible value as a technician types it: around the reference range, some out."""
    from carnet.laboratory.models import BLOOD_GROUP_LOINC, ResultType

    if test.result_type == ResultType.CODED:
        if test.loinc == BLOOD_GROUP_LOINC:
            return blood_group
        return rng.choice([answer["code"] for answer in test.answers])
    low, high = (None if v is None else float(v) for v in test.range_for(sex))
    if low is None and high is None:
        value = rng.uniform(0.5, 1.5)
    elif low is None:
        value = rng.uniform(0, high * 1.3)  # type: ignore[operator]
    elif high is None:
        value = rng.uniform(low * 0.7, low * 2.5)
    else:
        span = high - low
        value = max(0.0, rng.uniform(low - 0.3 * span, high + 0.3 * span))
    # Within the test's plausibility limits (outside them a value is typed twice, with a
    # comment: not what this benchmark times).
    if test.plausible_low is not None:
        value = max(value, float(test.plausible_low))
    if test.plausible_high is not None:
        value = min(value, float(test.plausible_high))
    return f"{value:.{test.decimals}f}"


@dataclasses.dataclass
class ChartSize:
    encounters: int
    documents: int
    orders: int


def build_chart(pid: str, staff: ChartStaff, size: ChartSize, rng: random.Random) -> int:
    """One patient's chart, through the services, each call in its own guarded unit of work
    (as the request that makes it would be). Returns the number of service calls."""
    from carnet.clinical import documents as clinical_documents
    from carnet.clinical import encounters as clinical_encounters
    from carnet.clinical import notes as clinical_notes
    from carnet.laboratory import services as lab
    from carnet.laboratory.models import LabOrderItem, LabResult, LabTest, Priority
    from carnet.patients.models import Patient

    author, tech_a, tech_b = _actor(staff.author), _actor(staff.tech_a), _actor(staff.tech_b)
    calls = 0
    encounter_ids = []
    for n in range(size.encounters):
        reason = rng.choice(_REASONS)
        with _acting(author, "bench.encounter") as actor:
            if n == size.encounters - 1:
                encounter = clinical_encounters.admit(
                    actor=actor, patient_id=pid, unit_id=staff.unit_id, reason=reason
                )
            else:
                encounter = clinical_encounters.open_encounter(
                    actor=actor, patient_id=pid, reason=reason
                )
        encounter_ids.append(encounter.pk)
        with _acting(author, "bench.note") as actor:
            clinical_notes.write_note(
                actor=actor,
                patient_id=pid,
                encounter_id=encounter.pk,
                text=_text(rng, rng.randint(3, 8)),
            )
        calls += 2
    step = max(1, size.encounters // max(1, size.documents))
    for n in range(size.documents):
        encounter_id = encounter_ids[min(len(encounter_ids) - 1, n * step)]
        with _acting(author, "bench.document") as actor:
            clinical_documents.add_document(
                actor=actor,
                patient_id=pid,
                encounter_id=encounter_id,
                title=f"Compte rendu {n + 1:02d} — {rng.choice(_REASONS)[:60]}",
                content=_pdf(f"Compte rendu {n + 1}"),
            )
        calls += 1
    sex = Patient.objects.filter(id=pid).values_list("sex", flat=True).get() or ""
    blood_group = rng.choice(["A+", "O+", "B+", "AB+", "A-", "O-"])
    # Computed tests (LDL, eGFR) are worked out by the laboratory, never typed.
    pool = list(LabTest.objects.filter(active=True, sensitive_category="", computed=""))
    for _ in range(size.orders):
        tests = rng.sample(pool, min(TESTS_PER_ORDER, len(pool)))
        with _acting(author, "bench.lab.order") as actor:
            order = lab.order_tests(
                actor=actor,
                patient_id=pid,
                laboratory_id=staff.laboratory_id,
                test_ids=[t.pk for t in tests],
                priority=Priority.URGENT if rng.random() < 0.2 else Priority.ROUTINE,
                clinical_information=rng.choice(_REASONS),
            )
        with _acting(tech_a, "bench.lab.collect") as actor:
            lab.collect_specimens(actor=actor, order_id=order.pk)
        items = LabOrderItem.objects.filter(order=order).select_related("test")
        entries = {
            item.pk: (
                _result_value(item.test, sex, rng, blood_group),
                "Hémolyse légère" if rng.random() < 0.1 else "",
            )
            for item in items
        }
        with _acting(tech_a, "bench.lab.enter") as actor:
            lab.enter_results(actor=actor, order_id=order.pk, entries=entries)
        results = LabResult.objects.filter(item__order=order).values_list("pk", flat=True)
        with _acting(tech_b, "bench.lab.validate") as actor:
            lab.validate_results(actor=actor, order_id=order.pk, result_ids=list(results))
        calls += 4
    return calls


def spread_over_years(pid: str, rng: random.Random) -> None:
    """The services stamp everything now; a real chart is years of history. Moves the clear
    timestamps (nothing sealed) back, one encounter or order after the other, so that the
    pages list them as they would and both sides sort them alike (no ties)."""
    from django.utils import timezone

    from carnet.clinical.models import Document, Encounter, EncounterKind, Note
    from carnet.laboratory.models import LabOrder, LabResult, Specimen

    now = timezone.now()
    start = now - datetime.timedelta(days=365 * YEARS_OF_HISTORY)
    encounters = list(Encounter.objects.filter(patient_id=pid).order_by("started_at", "pk"))
    history = [e for e in encounters if e.kind != EncounterKind.ADMISSION]
    span = (now - start) / max(1, len(history))
    when: dict[object, datetime.datetime] = {}
    for n, encounter in enumerate(history):
        when[encounter.pk] = start + n * span + datetime.timedelta(minutes=rng.randint(0, 600))
    for encounter in encounters:
        if encounter.pk not in when:  # the current admission: two days ago
            when[encounter.pk] = now - datetime.timedelta(days=2)
        encounter.started_at = when[encounter.pk]
    Encounter.objects.bulk_update(encounters, ["started_at"])
    notes = list(Note.objects.filter(patient_id=pid))
    for n, note in enumerate(notes):
        note.written_at = when[note.encounter_id] + datetime.timedelta(minutes=30, seconds=n)
    Note.objects.bulk_update(notes, ["written_at"])
    documents = list(Document.objects.filter(patient_id=pid).defer("content"))
    for n, document in enumerate(documents):
        document.uploaded_at = when[document.encounter_id] + datetime.timedelta(hours=1, seconds=n)
    Document.objects.bulk_update(documents, ["uploaded_at"])
    orders = list(LabOrder.objects.filter(patient_id=pid).order_by("ordered_at", "pk"))
    span = (now - start) / max(1, len(orders))
    for n, order in enumerate(orders):
        ordered = start + n * span + datetime.timedelta(minutes=rng.randint(0, 600))
        LabOrder.objects.filter(pk=order.pk).update(
            ordered_at=ordered, done_at=ordered + datetime.timedelta(hours=5)
        )
        Specimen.objects.filter(order=order).update(
            collected_at=ordered + datetime.timedelta(minutes=40)
        )
        LabResult.objects.filter(item__order=order).update(
            entered_at=ordered + datetime.timedelta(hours=3),
            validated_at=ordered + datetime.timedelta(hours=5),
        )


def copy_charts_to_plain(ids: list[str]) -> dict[str, int]:
    """Opens the sampled charts as a system job (one bulk audit entry) and writes the same
    rows, same ids, in clear to the plain tables."""
    from bench.plainapp import models as plain
    from carnet.clinical.models import Document, Encounter, Note
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import admit_bulk, system_job
    from carnet.guard.policy import Capability
    from carnet.laboratory.models import (
        CriticalAlert,
        LabOrder,
        LabOrderItem,
        LabResult,
        LabResultVersion,
        Specimen,
    )
    from carnet.vault.keys import open_bytes, preload

    actor = system_actor("bench-copy-charts")
    with system_job(actor, "bench.copy_charts_to_plain"):
        ledger = admit_bulk(actor, Capability.IMPORT_IDENTITIES)
        preload(ids)
        rows: dict[str, list] = {
            "encounters": [
                plain.PlainEncounter(
                    id=e.id,
                    patient_id=e.patient_id,
                    establishment_id=e.establishment_id,
                    kind=e.kind,
                    unit_id=e.unit_id,
                    room_id=e.room_id,
                    practitioner_id=e.practitioner_id,
                    started_at=e.started_at,
                    discharged_at=e.discharged_at,
                    reason=e.reason or "",
                )
                for e in Encounter.objects.filter(patient_id__in=ids)
            ],
            "notes": [
                plain.PlainNote(
                    id=n.id,
                    patient_id=n.patient_id,
                    encounter_id=n.encounter_id,
                    author_id=n.author_id,
                    author_unit_id=n.author_unit_id,
                    written_at=n.written_at,
                    text=n.text or "",
                    category=n.category,
                    corrects_id=n.corrects_id,
                )
                for n in Note.objects.filter(patient_id__in=ids).order_by("corrects_id", "pk")
            ],
            "documents": [
                plain.PlainDocument(
                    id=d.id,
                    patient_id=d.patient_id,
                    encounter_id=d.encounter_id,
                    uploaded_by_id=d.uploaded_by_id,
                    uploaded_at=d.uploaded_at,
                    title=d.title or "",
                    kind=d.kind,
                    size=d.size,
                    content=open_bytes(str(d.patient_id), d.place, bytes(d.content)),
                    category=d.category,
                    author_unit_id=d.author_unit_id,
                )
                for d in Document.objects.filter(patient_id__in=ids)
            ],
            "orders": [
                plain.PlainLabOrder(
                    id=o.id,
                    patient_id=o.patient_id,
                    laboratory_id=o.laboratory_id,
                    ordered_from_id=o.ordered_from_id,
                    ordered_by_id=o.ordered_by_id,
                    ordering_unit_id=o.ordering_unit_id,
                    ordered_at=o.ordered_at,
                    priority=o.priority,
                    clinical_information=o.clinical_information or "",
                    accession=o.accession,
                    status=o.status,
                    done_at=o.done_at,
                )
                for o in LabOrder.objects.filter(patient_id__in=ids)
            ],
            "items": [
                plain.PlainLabItem(id=i.id, order_id=i.order_id, test_id=i.test_id)
                for i in LabOrderItem.objects.filter(order__patient_id__in=ids)
            ],
            "specimens": [
                plain.PlainSpecimen(
                    id=s.id,
                    order_id=s.order_id,
                    kind=s.kind,
                    barcode=s.barcode,
                    collected_at=s.collected_at,
                    collected_by_id=s.collected_by_id,
                )
                for s in Specimen.objects.filter(order__patient_id__in=ids)
            ],
            "results": [
                plain.PlainLabResult(
                    id=r.id,
                    item_id=r.item_id,
                    patient_id=r.patient_id,
                    value=r.value,
                    reference=r.reference,
                    comment=r.comment,
                    unit=r.unit,
                    entered_by_id=r.entered_by_id,
                    entered_at=r.entered_at,
                    validated_by_id=r.validated_by_id,
                    validated_at=r.validated_at,
                    return_reason=r.return_reason,
                    computed=r.computed,
                    implausible_confirmed=r.implausible_confirmed,
                    returned_by_id=r.returned_by_id,
                    corrected_by_id=r.corrected_by_id,
                    corrected_at=r.corrected_at,
                )
                for r in LabResult.objects.filter(patient_id__in=ids)
            ],
            "versions": [
                plain.PlainResultVersion(
                    result_id=v.result_id,
                    version=v.version,
                    value=v.value,
                    replaced_by_id=v.replaced_by_id,
                    replaced_at=v.replaced_at,
                    reason=v.reason,
                )
                for v in LabResultVersion.objects.filter(patient_id__in=ids)
            ],
            "alerts": [
                plain.PlainResultAlert(
                    result_id=a.result_id,
                    kind=a.kind,
                    acknowledged_by_id=a.acknowledged_by_id,
                    acknowledged_at=a.acknowledged_at,
                )
                for a in CriticalAlert.objects.filter(patient_id__in=ids)
            ],
        }
        for batch in rows.values():
            if batch:
                type(batch[0]).objects.bulk_create(batch, batch_size=500)
        ledger.bulk_count = len(ids)
    return {name: len(batch) for name, batch in rows.items()}


# ---- measuring -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Page:
    name: str
    guarded: Callable[[str], str]
    plain: Callable[[str], str]


IDENTITY = Page(
    "identity", lambda pid: f"/patients/{pid}/", lambda pid: f"/bench/plain/patients/{pid}/"
)
CHART = Page(
    "chart",
    lambda pid: f"/patients/{pid}/chart/",
    lambda pid: f"/bench/plain/patients/{pid}/chart/",
)
LAB = Page(
    "lab", lambda pid: f"/patients/{pid}/lab/", lambda pid: f"/bench/plain/patients/{pid}/lab/"
)


def setup_identity(args: Any) -> tuple[list[str], Any, list[Page]]:
    started = time.perf_counter()
    copied = copy_to_plain()
    print(
        f"copied {copied} identities in clear to the plain table in "
        f"{time.perf_counter() - started:.1f} s"
    )
    from carnet.patients.models import Patient

    everyone = _common.ids_and_marks(Patient.objects.all())
    ids = _common.ordinary_patient_ids(everyone)
    print(f"{len(ids)} patients to read ({len(everyone) - len(ids)} canaries left out)")
    user, client = signed_in_client()
    print(relate_all(user, ids))
    return ids, client, [IDENTITY]


def seed_identities_only(args: Any) -> None:
    """Carnet's `seed` command without its demo clinical record where it writes one (the
    charts measured are this script's own, written below); the identities and agendas as
    usual."""
    import io

    from django.core.management import call_command, get_commands, load_command_class

    command = load_command_class(get_commands()["seed"], "seed")
    dests = {action.dest for action in command.create_parser("", "seed")._actions}
    extra = {"no_clinical": True} if "no_clinical" in dests else {}
    out = io.StringIO()
    started = time.perf_counter()
    call_command(
        "seed",
        patients=args.patients,
        seed=args.seed,
        batch=2000,
        no_progress=True,
        stdout=out,
        **extra,
    )
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    print(
        f"seeded: {lines[-1] if lines else ''} (whole command {time.perf_counter() - started:.1f}"
        f" s{', without the demo clinical record' if extra else ''})"
    )


def _without_clinical_rows(queryset: Any) -> Any:
    """Patients with no encounter, note, document, prescription or laboratory order yet."""
    from carnet.clinical.models import Document, Encounter, Note, Prescription
    from carnet.laboratory.models import LabOrder

    for model in (Encounter, Note, Document, Prescription, LabOrder):
        queryset = queryset.exclude(id__in=model.objects.values("patient_id"))
    return queryset


def setup_charts(args: Any, rng: random.Random) -> tuple[list[str], Any, list[Page]]:
    from carnet.guard import relationships
    from carnet.patients.models import Patient

    alive = _without_clinical_rows(Patient.objects.filter(deceased=False, merged_into__isnull=True))
    candidates = _common.ordinary_patient_ids(_common.ids_and_marks(alive.order_by("id")))
    ids = rng.sample(candidates, min(args.charts, len(candidates)))
    size = ChartSize(
        encounters=args.encounters,
        documents=args.documents,
        orders=-(-args.results // TESTS_PER_ORDER),
    )
    staff = chart_staff()
    # The author sees these patients (an appointment each), as the reader will.
    relationships.relate_many(
        [(pid, staff.author.pk, "appointment") for pid in ids], source="bench"
    )
    started = time.perf_counter()
    calls = 0
    for n, pid in enumerate(ids, start=1):
        calls += build_chart(pid, staff, size, rng)
        spread_over_years(pid, rng)
        if n == 1 or n % 5 == 0 or n == len(ids):
            elapsed = time.perf_counter() - started
            print(f"  {n}/{len(ids)} charts written ({elapsed:.0f} s)", flush=True)
    elapsed = time.perf_counter() - started
    print(
        f"wrote {len(ids)} charts ({size.encounters} encounters with a note each, "
        f"{size.documents} PDF documents, {size.orders} lab orders of {TESTS_PER_ORDER} tests "
        f"= {size.orders * TESTS_PER_ORDER} validated results, each) through the services: "
        f"{calls} guarded units of work in {elapsed:.1f} s ({1000 * elapsed / calls:.1f} ms each)"
    )
    started = time.perf_counter()
    copy_to_plain()
    copied = copy_charts_to_plain(ids)
    print(
        "copied in clear to the plain tables: "
        + ", ".join(f"{count} {name}" for name, count in copied.items())
        + f" (and every identity) in {time.perf_counter() - started:.1f} s"
    )
    user, client = signed_in_client()
    print(relate_all(user, ids))
    return ids, client, [CHART, LAB]


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=5000)
    parse.add_argument(
        "--identity",
        action="store_true",
        help="time the identity page of every seeded patient instead of full charts",
    )
    parse.add_argument(
        "--charts", type=int, default=20, help="patients given a full chart (chart mode)"
    )
    parse.add_argument("--encounters", type=int, default=50, help="per chart, a note each")
    parse.add_argument(
        "--results",
        type=int,
        default=200,
        help=f"validated lab results per chart (orders of {TESTS_PER_ORDER} tests)",
    )
    parse.add_argument("--documents", type=int, default=20, help="PDF documents per chart")
    parse.add_argument(
        "--iterations", type=int, default=500, help="timed reads per side (each page)"
    )
    parse.add_argument("--warmup", type=int, default=50, help="untimed reads per side first")
    parse.add_argument("--max-seconds", type=float, default=300, help="bound on the timed loop")
    parse.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile N guarded reads per page"
    )
    parse.add_argument("--show-sql", action="store_true", help="print one request's SQL")
    parse.add_argument(
        "--prototype",
        default="",
        help="bench/prototypes.py names, comma-separated (measurement only)",
    )
    args = parse.parse_args()
    rng = random.Random(args.seed)
    # The bench serves no static files; whitenoise warns that staticfiles/ does not exist.
    warnings.filterwarnings("ignore", message="No directory at")

    with _common.bench_database(args.db, "chart", keep=args.keep) as db:
        from django.conf import settings

        # Carnet's routes, the plain identity page and the plain chart and laboratory pages.
        settings.ROOT_URLCONF = "bench.plainapp.urls"
        print(_common.environment_line(db))
        if args.identity:
            seconds, said = _common.seed(args.patients, args.seed)
            print(f"seeded: {said} (whole command {seconds:.1f} s)")
            ids, client, pages = setup_identity(args)
        else:
            seed_identities_only(args)
            ids, client, pages = setup_charts(args, rng)
        measure(args, rng, client, ids, pages)
    print(f"reproduce: {_common.command_line('chart_read.py', args)}")


def measure(args: Any, rng: random.Random, client: Any, ids: list[str], pages: list[Page]) -> None:
    """Every page on both sides for the same patient, in random order, iteration after
    iteration; prints each side's figures and each page's ratio against the goal."""
    from bench import prototypes

    tag = prototypes.apply(args.prototype)
    if tag:
        print(tag)
        # The product's code runs unless a prototype side switches the prototypes in.
        prototypes.switch(False)

    # Same page on both sides? (CSRF tokens and the page's own path aside.)
    checked = rng.sample(ids, min(20, len(ids)))
    for page in pages:
        same = 0
        for pid in checked:
            _, guarded = _get(client, page.guarded(pid))
            _, plain = _get(client, page.plain(pid))
            same += _normalised(guarded.content) == _normalised(
                plain.content, page.plain(pid), page.guarded(pid)
            )
        pid = checked[0]
        size = len(_get(client, page.guarded(pid))[1].content)
        print(
            f"{page.name} page: identical on both sides (tokens and own path aside) for "
            f"{same}/{len(checked)} patients; {size / 1000:.0f} kB of HTML; SQL queries per "
            f"request: guarded {_queries(client, page.guarded(pid), args.show_sql)}, "
            f"plain {_queries(client, page.plain(pid), args.show_sql)}"
        )
        if tag:
            prototypes.switch(True)
            print(
                f"{page.name} page: SQL queries per request, guarded with the prototypes: "
                f"{_queries(client, page.guarded(pid), args.show_sql)}"
            )
            prototypes.switch(False)

    # Sides of the interleaved loop: (label, url, prototypes on, timings).
    sides: list[tuple[str, Callable[[str], str], bool, list[float]]] = []
    for page in pages:
        sides.append((f"guarded {page.name}", page.guarded, False, []))
        if tag:
            sides.append((f"guarded {page.name}, PROTOTYPES", page.guarded, True, []))
        sides.append((f"plain {page.name}", page.plain, False, []))

    def read(side: tuple, pid: str) -> float:
        _, url, on, _ = side
        if on:
            prototypes.switch(True)
        try:
            return _get(client, url(pid))[0]
        finally:
            if on:
                prototypes.switch(False)

    for _ in range(args.warmup):
        pid = rng.choice(ids)
        for side in sides:
            read(side, pid)

    started = time.perf_counter()
    deadline = started + args.max_seconds
    for _ in range(args.iterations):
        if time.perf_counter() > deadline:
            print(f"stopped at the {args.max_seconds:.0f} s bound")
            break
        pid = rng.choice(ids)
        for side in rng.sample(sides, len(sides)):
            side[3].append(read(side, pid))
    print(f"timed loop: {time.perf_counter() - started:.0f} s; {_common.load_line()}")

    summaries = {label: _common.summarise(times) for label, _, _, times in sides}
    for label, summary in summaries.items():
        print(summary.line(label))
    met = True
    for page in pages:
        guarded_s = summaries[f"guarded {page.name}"]
        plain_s = summaries[f"plain {page.name}"]
        ratio_mean = guarded_s.mean / plain_s.mean
        met = met and ratio_mean <= GOAL_RATIO
        print(
            f"{page.name} page, ratio guarded/plain: mean {ratio_mean:.2f}, "
            f"p50 {guarded_s.p50 / plain_s.p50:.2f}, p95 {guarded_s.p95 / plain_s.p95:.2f}; "
            f"guard + vault + audit add {guarded_s.mean - plain_s.mean:.2f} ms per read (mean); "
            f"goal <= {GOAL_RATIO} (mean): {_common.verdict(ratio_mean <= GOAL_RATIO)}"
        )
        if tag:
            proto_s = summaries[f"guarded {page.name}, PROTOTYPES"]
            print(
                f"{page.name} page, ratio guarded-with-prototypes/plain: mean "
                f"{proto_s.mean / plain_s.mean:.2f}, p50 {proto_s.p50 / plain_s.p50:.2f}, "
                f"p95 {proto_s.p95 / plain_s.p95:.2f}; the prototypes save "
                f"{guarded_s.mean - proto_s.mean:.2f} ms per read (mean) [{tag}]"
            )
        print(
            f"{page.name} page, throughput, one process: guarded "
            f"{1000 / guarded_s.mean:.0f}/s, plain {1000 / plain_s.mean:.0f}/s"
        )
    if len(pages) > 1:
        print(f"every page within {GOAL_RATIO}x: {_common.verdict(met)}")

    if args.profile:
        import cProfile

        for page in pages:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.profile):
                client.get(page.guarded(rng.choice(ids)))
            profile.disable()
            print(f"\nprofile of {args.profile} guarded reads of the {page.name} page:")
            _common.print_profile(profile, 30)


if __name__ == "__main__":
    main()
