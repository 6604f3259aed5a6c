"""Opening one patient's identity page: GET /patients/<id>/ through the whole stack
(middleware, route guard, guard boundary, vault opening 15 sealed fields, audit entry in the
same transaction, template) against a plain Django page: the same values stored unencrypted in
a plain model (bench/plainapp), read by a plain view, rendered with the same template, in the
same run, on the same database, by the same signed-in client. Goal: guarded/plain <= 1.5.

Both sides run through django.test.Client (in-process, no network), interleaved in random
order over random patients of a freshly seeded database.

    .venv/bin/python bench/chart_read.py --db sqlite --patients 5000 --iterations 500
    .venv/bin/python bench/chart_read.py --db postgres --patients 5000 --iterations 500
"""

from __future__ import annotations

import random
import re
import secrets
import sys
import time
import warnings
from inspect import signature
from pathlib import Path

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


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=5000)
    parse.add_argument("--iterations", type=int, default=500, help="timed reads per side")
    parse.add_argument("--warmup", type=int, default=50, help="untimed reads per side first")
    parse.add_argument("--max-seconds", type=float, default=300, help="bound on the timed loop")
    parse.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile N guarded reads"
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
        print(_common.environment_line(db))
        seconds, said = _common.seed(args.patients, args.seed)
        print(f"seeded: {said} (whole command {seconds:.1f} s)")
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
        from bench import prototypes

        tag = prototypes.apply(args.prototype)
        if tag:
            print(tag)
            # The product's code runs unless a prototype side switches the prototypes in.
            prototypes.switch(False)

        def guarded_url(pid: str) -> str:
            return f"/patients/{pid}/"

        def plain_url(pid: str) -> str:
            return f"/bench/plain/patients/{pid}/"

        # Same page on both sides? (CSRF tokens and the page's own path aside.)
        same = 0
        for pid in rng.sample(ids, min(20, len(ids))):
            _, guarded = _get(client, guarded_url(pid))
            _, plain = _get(client, plain_url(pid))
            same += _normalised(guarded.content) == _normalised(
                plain.content, plain_url(pid), guarded_url(pid)
            )
        print(f"pages identical (tokens and own path aside): {same}/{min(20, len(ids))}")
        pid = rng.choice(ids)
        print(
            f"SQL queries per request: guarded {_queries(client, guarded_url(pid), args.show_sql)}"
            f", plain {_queries(client, plain_url(pid), args.show_sql)}"
        )
        if tag:
            prototypes.switch(True)
            print(
                f"SQL queries per request, guarded with the prototypes: "
                f"{_queries(client, guarded_url(pid), args.show_sql)}"
            )
            prototypes.switch(False)

        # Sides of the interleaved loop: (label, url, prototypes on, timings).
        sides = [
            ("guarded /patients/<id>/", guarded_url, False, []),
            ("plain (same template)", plain_url, False, []),
        ]
        if tag:
            sides.insert(1, ("guarded, PROTOTYPES", guarded_url, True, []))

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

        deadline = time.perf_counter() + args.max_seconds
        for _ in range(args.iterations):
            if time.perf_counter() > deadline:
                print(f"stopped at the {args.max_seconds:.0f} s bound")
                break
            pid = rng.choice(ids)
            for side in rng.sample(sides, len(sides)):
                side[3].append(read(side, pid))

        summaries = {label: _common.summarise(times) for label, _, _, times in sides}
        for label, summary in summaries.items():
            print(summary.line(label))
        guarded_s = summaries["guarded /patients/<id>/"]
        plain_s = summaries["plain (same template)"]
        ratio_mean = guarded_s.mean / plain_s.mean
        print(
            f"ratio guarded/plain: mean {ratio_mean:.2f}, p50 {guarded_s.p50 / plain_s.p50:.2f}, "
            f"p95 {guarded_s.p95 / plain_s.p95:.2f}; guard + vault + audit add "
            f"{guarded_s.mean - plain_s.mean:.2f} ms per read (mean); goal <= {GOAL_RATIO} (mean): "
            f"{_common.verdict(ratio_mean <= GOAL_RATIO)}"
        )
        if tag:
            proto_s = summaries["guarded, PROTOTYPES"]
            print(
                f"ratio guarded-with-prototypes/plain: mean {proto_s.mean / plain_s.mean:.2f}, "
                f"p50 {proto_s.p50 / plain_s.p50:.2f}, p95 {proto_s.p95 / plain_s.p95:.2f}; "
                f"the prototypes save {guarded_s.mean - proto_s.mean:.2f} ms per read (mean) "
                f"[{tag}]"
            )
        print(
            f"throughput, one process: guarded {1000 / guarded_s.mean:.0f}/s, "
            f"plain {1000 / plain_s.mean:.0f}/s"
        )

        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.profile):
                client.get(guarded_url(rng.choice(ids)))
            profile.disable()
            print(f"\nprofile of {args.profile} guarded reads:")
            _common.print_profile(profile, 30)
    print(f"reproduce: {_common.command_line('chart_read.py', args)}")


if __name__ == "__main__":
    main()
