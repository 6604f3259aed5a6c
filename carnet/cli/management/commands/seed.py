"""`carnet seed`: a synthetic group of establishments, its staff and N patients (sealed and
indexed), five weeks of agendas, and the clinical record of the patients seen in them
(consultations, admissions, prescriptions, documents, laboratory, insurance cards: see
carnet/cli/demo_clinical.py), reproducible with --seed. Refuses to run twice on the same
database."""

from __future__ import annotations

import datetime
import random
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from carnet.guard.actors import system_actor
from carnet.guard.boundary import system_job
from carnet.organisations.models import Establishment
from carnet.patients.selectors import ids_known_at
from carnet.patients.services import import_identities
from carnet.scheduling.models import Agenda
from carnet.scheduling.setup import fill_agenda
from carnet.staff.models import Practitioner

from ...demo_clinical import seed_clinical
from ...demo_structure import build_structure
from ...synthetic import identities


class Command(BaseCommand):
    help = "Seed a synthetic group of establishments, staff and patients."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=2026, help="random seed (reproducible)")
        parser.add_argument("--batch", type=int, default=2000, help="rows per insert batch")
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--no-clinical",
            action="store_true",
            help="patients and agendas only (no encounters, laboratory or insurance cards)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["patients"] < 0:
            raise CommandError("--patients must be 0 or more")
        if Establishment.objects.exists():
            raise CommandError("this database is already seeded (start from an empty database)")
        establishments = build_structure()
        self.stdout.write(f"{len(establishments)} establishments and their staff created")
        count = options["patients"]
        started = time.perf_counter()
        records = identities(
            count,
            seed=options["seed"],
            establishment_ids=[e.pk for e in establishments],
            practitioner_ids=list(Practitioner.objects.values_list("pk", flat=True)),
        )
        actor = system_actor("seed")
        with (
            tqdm(
                total=count, unit=" patients", disable=options["no_progress"], file=sys.stderr
            ) as bar,
            system_job(actor, "patients.import"),
        ):
            created = import_identities(
                actor=actor,
                records=records,
                batch_size=options["batch"],
                progress=bar.update,
            )
        elapsed = time.perf_counter() - started
        rate = created / elapsed if elapsed else 0
        self.stdout.write(
            f"{created} patients sealed and indexed in {elapsed:.1f} s ({rate:.0f}/s)"
        )
        booked = self._fill_agendas(options["seed"])
        self.stdout.write(f"{booked} appointments over five weeks in the agendas")
        if not options["no_clinical"]:
            self._clinical(options["seed"], quiet=options["no_progress"])

    def _clinical(self, seed: int, *, quiet: bool) -> None:
        """The clinical record, each act by the demo account that would do it, through the
        services and the guard (one audited unit of work per act)."""
        started = time.perf_counter()
        with tqdm(total=0, unit=" acts", disable=quiet, file=sys.stderr) as bar:

            def grow(more: int) -> None:
                bar.total += more
                bar.refresh()

            summary = seed_clinical(seed=seed, update=bar.update, grow=grow, total=grow)
        for line in summary.lines():
            self.stdout.write(line)
        self.stdout.write(f"clinical record written in {time.perf_counter() - started:.1f} s")

    def _fill_agendas(self, seed: int) -> int:
        """Two weeks of past appointments and three weeks ahead, a third of the slots."""
        actor = system_actor("seed-agendas")
        rng = random.Random(seed)
        first_day = timezone.localdate() - datetime.timedelta(days=14)
        booked = 0
        with system_job(actor, "scheduling.import"):
            for agenda in Agenda.objects.select_related("practitioner__user"):
                patients = ids_known_at(
                    actor=actor, establishment_id=agenda.establishment_id, limit=3000
                )
                booked += fill_agenda(
                    actor=actor,
                    agenda=agenda,
                    patient_ids=patients,
                    first_day=first_day,
                    days=35,
                    share=0.35,
                    rng=rng,
                )
        return booked
