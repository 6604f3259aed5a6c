"""Seeding rate: patients per second sealed (14 AES-GCM fields, one wrapped data key each) and
indexed (6 blind indexes, one IPP per establishment) by Carnet's own `seed` command, on a
fresh database. Goal: 1,000,000 patients in 10 minutes or less on 2 cores (>= 1,667/s).

    .venv/bin/python bench/seed.py --db sqlite --patients 20000
    .venv/bin/python bench/seed.py --db postgres --patients 1000000
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/

from bench import _common  # noqa: E402

GOAL_PATIENTS = 1_000_000
GOAL_SECONDS = 600


def check_opens(imported: int, sample: int = 200) -> str:
    """Every row is there and a sample opens with the product's own code (sealed values,
    data keys) and finds itself by its blind indexes: the rows the prototypes wrote too."""
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import admit_bulk, system_job
    from carnet.guard.policy import Capability
    from carnet.patients import search_keys
    from carnet.patients.models import Patient

    actor = system_actor("bench-seed-check")
    opened = 0
    with system_job(actor, "bench.check_import"):
        admit_bulk(actor, Capability.IMPORT_IDENTITIES)
        total = Patient.objects.count()
        for patient in Patient.objects.order_by("?")[:sample]:
            keys = search_keys.identity_keys(
                birth_surname=patient.birth_surname,
                used_surname=patient.used_surname,
                birth_date=patient.birth_date,
                nir=patient.nir or None,
            )
            assert all(getattr(patient, name) == value for name, value in keys.items())
            assert patient.identifiers.count() >= 1
            opened += 1
    return (
        f"check: {total:,} patients in all ({imported:,} from the A/B rounds); "
        f"{opened} random ones open and match their blind indexes"
    )


def compare(args: object) -> None:
    """More imports into the same database, alternating the product's code and the
    prototypes' (in random order within each round), each timed like the seed command."""
    import random
    import time

    from bench import prototypes
    from carnet.cli.synthetic import identities, make_pools
    from carnet.guard.actors import system_actor
    from carnet.guard.boundary import system_job
    from carnet.organisations.models import Establishment
    from carnet.patients.services import import_identities
    from carnet.staff.models import Practitioner

    tag = prototypes.apply(args.prototype)  # type: ignore[attr-defined]
    print(tag)
    pools = make_pools(args.seed)  # type: ignore[attr-defined]
    establishment_ids = list(Establishment.objects.order_by("pk").values_list("pk", flat=True))
    practitioner_ids = list(Practitioner.objects.values_list("pk", flat=True))
    rng = random.Random(args.seed)  # type: ignore[attr-defined]
    rates: dict[bool, list[float]] = {False: [], True: []}
    count = args.ab_patients  # type: ignore[attr-defined]
    for round_ in range(args.ab_rounds):  # type: ignore[attr-defined]
        for on in rng.sample([False, True], 2):
            prototypes.switch(on)
            actor = system_actor("bench-seed-ab")
            started = time.perf_counter()
            records = identities(
                count,
                seed=args.seed + 1 + 2 * round_ + on,  # type: ignore[attr-defined]
                establishment_ids=establishment_ids,
                practitioner_ids=practitioner_ids,
                pools=pools,
            )
            with system_job(actor, "patients.import"):
                import_identities(actor=actor, records=records, batch_size=args.batch)  # type: ignore[attr-defined]
            rates[on].append(count / (time.perf_counter() - started))
            print(
                f"A/B round {round_ + 1}: {'PROTOTYPES' if on else 'product   '} "
                f"{rates[on][-1]:,.0f} patients/s"
            )
    prototypes.switch(False)
    print(check_opens(count * 2 * args.ab_rounds))  # type: ignore[attr-defined]
    product, proto = max(rates[False]), max(rates[True])
    print(
        f"best of {len(rates[False])}: product {product:,.0f}/s, prototypes {proto:,.0f}/s "
        f"({proto / product:.2f}x; 1,000,000 in {GOAL_PATIENTS / proto / 60:.1f} min "
        f"EXTRAPOLATED) [{tag}]"
    )


def main() -> None:
    parse = _common.parser(__doc__.split("\n\n")[0], patients=20000)
    parse.add_argument("--batch", type=int, default=2000, help="rows per insert batch")
    parse.add_argument("--profile", action="store_true", help="run under cProfile, print hot spots")
    parse.add_argument(
        "--prototype",
        default="",
        help="bench/prototypes.py names, comma-separated: after the seed, import rounds "
        "alternate the product's code and the prototypes' in the same process",
    )
    parse.add_argument("--ab-rounds", type=int, default=3, help="A/B rounds with --prototype")
    parse.add_argument("--ab-patients", type=int, default=10000, help="patients per A/B import")
    args = parse.parse_args()

    with _common.bench_database(args.db, "seed", keep=args.keep) as db:
        print(_common.environment_line(db))
        profile = None
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        # Patients and agendas: the demo's clinical record (a few hundred charts written act by
        # act through the services) is the same whatever the number of patients.
        wall, said = _common.seed(
            args.patients, args.seed, args.batch, line="sealed and indexed", no_clinical=True
        )
        if profile is not None:
            profile.disable()
        # The command times its own patient phase (pools, sealing, inserts) and prints its rate.
        match = re.search(r"\(([0-9.]+)/s\)", said)
        rate = float(match.group(1)) if match else args.patients / wall
        patients_seconds = args.patients / rate if rate else float("inf")
        projected = GOAL_PATIENTS / rate if rate else float("inf")
        print(f"seed command said: {said}")
        print(
            f"patients: {args.patients}; patient phase {patients_seconds:.1f} s; "
            f"whole command (structure + Argon2 accounts + patients + agendas) {wall:.1f} s"
        )
        print(f"rate: {rate:,.0f} patients/s (patient phase)")
        print(f"database size after seeding: {db.size()}")
        label = "measured" if args.patients >= GOAL_PATIENTS else "EXTRAPOLATED from this rate"
        print(
            f"1,000,000 patients at this rate: {projected / 60:.1f} min ({label}); "
            f"goal <= {GOAL_SECONDS // 60} min: {_common.verdict(projected <= GOAL_SECONDS)}"
            + ("" if profile is None else " (under cProfile: slower than normal)")
        )
        if profile is not None:
            _common.print_profile(profile, 30)
        if args.prototype:
            compare(args)
    print(f"reproduce: {_common.command_line('seed.py', args)}")


if __name__ == "__main__":
    main()
