"""Exfiltration: a stolen session of each role tries to take as many patients as it can from a
seeded database, by several strategies; prints role x strategy -> patients exposed before
containment, and requests made. Goal: at most 20 in every cell of the short strategies, at
most a few dozen over a year, and 0 for the administrator, including through the chain of
his own standard functions (asking for accounts, a security officer, his own role, budgets,
then using every account he asked for as if he held it).

The attacker is determined: it knows the ids, surnames and birth dates of its targets (from
another leak, say) and passes every step-up (it holds the second factor too). Patients exposed
are counted from the response bodies, independently of the guard's own accounting.

    .venv/bin/python bench/exfiltration.py --patients 100000
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the repository, not bench/
# Containment e-mails and refused-request warnings would drown the table.
os.environ["CARNET_EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"

from bench._common import (  # noqa: E402
    bench_database,
    command_line,
    environment_line,
    parser,
    seed,
)

TARGETS = 300
ECHO = re.compile(r'name="next" value="[^"]*"')
MAX_REQUESTS = 400
ROLES = [
    "practitioner",
    "nurse",
    "secretary",
    "lab_technician",
    "administrator",
    "security_officer",
]


def _targets(count: int) -> list[tuple[str, str, datetime.date, str, str]]:
    """(id, birth surname, birth date, IPP, first names) of ordinary patients, opened by the
    vault alone for the benchmark's own bookkeeping."""
    from carnet.guard.canaries import is_canary
    from carnet.patients.models import Patient
    from carnet.vault.scope import admit_everything, opening_scope

    with opening_scope():
        admit_everything()
        rows = []
        for patient in Patient.objects.prefetch_related("identifiers").order_by("?")[: count * 2]:
            if is_canary(str(patient.id), bytes(patient.mark) if patient.mark else None):
                continue
            ipp = patient.identifiers.all()[0].value
            rows.append(
                (
                    str(patient.id),
                    patient.birth_surname,
                    patient.birth_date,
                    ipp,
                    patient.first_names,
                )
            )
            if len(rows) == count:
                break
    return rows


def _attacker(role: str, index: int):
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from carnet.organisations.identifiers import with_luhn_key
    from carnet.organisations.models import Establishment
    from carnet.staff.services import create_account

    user = create_account(
        username=f"stolen.{role}.{index}",
        password="stolen-password-2026",
        role=role,
        first_name="Volé",
        last_name=role,
        establishments=list(Establishment.objects.all()),
        rpps=with_luhn_key(f"19{index:08d}") if role == "practitioner" else "",
        specialty="Médecine générale" if role == "practitioner" else "",
        approved=True,
    )
    device = TOTPDevice.objects.create(user=user, name="stolen", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return user, client, device


def _step_up(client, now: float) -> None:
    from carnet.guard.http import STEP_UP_SESSION_KEY

    session = client.session
    session[STEP_UP_SESSION_KEY] = now + 3600
    session.save()


def _requests(strategy: str, targets):
    if strategy == "search paging":
        for _, surname, day, *_ in targets:
            yield "post", "/patients/", {"surname": surname[:3], "birth_date": day.isoformat()}
    elif strategy == "id walking":
        for patient_id, *_ in targets:
            yield "get", f"/patients/{patient_id}/", {}
    elif strategy == "export":
        ipps = "\n".join(t[3] for t in targets)
        yield "post", "/exports/", {"purpose": "audit", "identifiers": ipps, "fmt": "csv"}
        for export_id in range(1, 4):
            yield "post", f"/exports/{export_id}/produce/", {}
            yield "get", f"/exports/{export_id}/file/", {}
    elif strategy in ("low and slow", "a year, slowly"):
        for patient_id, *_ in targets:
            yield "get", f"/patients/{patient_id}/", {}


def _run(role: str, strategy: str, index: int, targets) -> tuple[int, int, int, bool]:
    import time_machine
    from django.contrib.auth import get_user_model
    from django_otp import DEVICE_ID_SESSION_KEY

    user, client, device = _attacker(role, index)
    # A target counts when its surname (a whole word: not ROY inside ROYER) and its first
    # names both appear: another patient's used surname alone is not this patient.
    patterns = {
        t[0]: (re.compile(rf"\b{re.escape(t[1])}\b"), re.compile(rf"\b{re.escape(t[4])}\b"))
        for t in targets
    }
    exposed: set[str] = set()
    made = 0
    start = datetime.datetime.now(tz=datetime.UTC)
    for number, (method, url, data) in enumerate(_requests(strategy, targets)):
        if made >= MAX_REQUESTS or not get_user_model().objects.get(pk=user.pk).is_active:
            break
        if strategy in ("low and slow", "a year, slowly"):
            if strategy == "low and slow":
                # Three patients a working day: under the hourly and daily limits.
                moment = start + datetime.timedelta(days=number // 3, hours=number % 3)
            else:
                # One patient every four days for a year: under every limit but the year's.
                moment = start + datetime.timedelta(days=4 * number)
                if moment > start + datetime.timedelta(days=365):
                    break
            with time_machine.travel(moment, tick=False):
                client.force_login(user)
                session = client.session
                session[DEVICE_ID_SESSION_KEY] = device.persistent_id
                session.save()
                _step_up(client, moment.timestamp())
                body = getattr(client, method)(url, data).content.decode(errors="replace")
        else:
            _step_up(client, time.time())
            body = getattr(client, method)(url, data).content.decode(errors="replace")
        made += 1
        # The page echoes the attacker's own query in the language switch: not an exposure.
        body = ECHO.sub("", body)
        exposed |= {
            key
            for key, (surname, first) in patterns.items()
            if surname.search(body) and first.search(body)
        }
    locked = not get_user_model().objects.get(pk=user.pk).is_active
    return len(exposed), len(exposed - _in_relationship(user.pk)), made, locked


def _in_relationship(user_id: int) -> set[str]:
    """Patients the guard handed to this account through a relationship of its work (the
    desk's appointments, a care relationship), as the audit recorded them: the rest were
    exposed outside any relationship, which is what the budget bounds."""
    from carnet.audit.models import AuditSubject
    from carnet.guard.models import OUTSIDE

    return {
        str(patient)
        for patient, kind in AuditSubject.objects.filter(actor_id=user_id).values_list(
            "patient_id", "relationship"
        )
        if kind and kind != OUTSIDE
    }


def _admin_chain(index: int, targets) -> tuple[int, int, bool]:
    """The administrator alone, with the standard functions only: asks for accounts of every
    role (one with his own address), a security officer, his own role and budget; tries to
    decide; then uses every account he asked for as if he held its password and device."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from carnet.guard.models import AccessChange
    from carnet.organisations.models import Establishment

    admin, client, _device = _attacker("administrator", index)
    establishment = Establishment.objects.order_by("pk").first()
    bodies: list[str] = []
    made = 0

    def send(method: str, url: str, data: dict, who=client) -> None:
        nonlocal made
        made += 1
        bodies.append(
            ECHO.sub("", getattr(who, method)(url, data).content.decode(errors="replace"))
        )

    roles = ["secretary", "practitioner", "nurse", "lab_technician", "security_officer"]
    for n, role in enumerate(roles):
        send(
            "post",
            "/accounts/new/",
            {
                "username": f"chain.{index}.{role}",
                "first_name": "Complice",
                "last_name": role,
                "email": admin.email if n == 0 else f"chain.{index}.{role}@example.fr",
                "role": role,
                "establishment": establishment.pk,
                "rpps": "",
            },
        )
    asked = list(AccessChange.objects.filter(requested_by=admin))
    for change in asked:
        send("post", f"/accounts/{change.account_id}/request/role/", {"role": "security_officer"})
        send("post", f"/security/changes/{change.pk}/decide/", {"decision": "approve"})
    for kind, data in (
        ("role", {"role": "practitioner"}),
        ("budget", {"window": "week", "soft": 4000, "hard": 5000}),
        ("membership", {"establishment": establishment.pk}),
    ):
        send("post", f"/accounts/{admin.pk}/request/{kind}/", data)
    for user in get_user_model().objects.filter(pk__in=[c.account_id for c in asked]):
        held = Client()
        held.force_login(user)
        device = TOTPDevice.objects.create(user=user, name="held", confirmed=True)
        session = held.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        for method, url, data in _requests("search paging", targets[:20]):
            send(method, url, data, held)
        for method, url, data in _requests("id walking", targets[:20]):
            send(method, url, data, held)
    patterns = [
        (re.compile(rf"\b{re.escape(t[1])}\b"), re.compile(rf"\b{re.escape(t[4])}\b"))
        for t in targets
    ]
    exposed = sum(
        1
        for surname, first in patterns
        if any(surname.search(b) and first.search(b) for b in bodies)
    )
    approved = get_user_model().objects.filter(
        pk__in=[c.account_id for c in asked], access_approved=True
    )
    return exposed, made, not approved.exists()


def main() -> None:
    parse = parser("Patients a stolen session takes before containment.", patients=100_000)
    args = parse.parse_args()
    with bench_database(args.db, "exfiltration", keep=args.keep) as db:
        logging.getLogger("django.request").setLevel(logging.ERROR)
        seconds, line = seed(args.patients, args.seed)
        print(f"seeded: {line} ({seconds:.0f} s)")
        targets = _targets(TARGETS)
        strategies = ["search paging", "id walking", "export", "low and slow", "a year, slowly"]
        print()
        print(f"{'role':<18}" + "".join(f"{s:>22}" for s in [*strategies, "admin's chain"]))
        worst = 0
        worst_year = 0
        admin_total = 0
        for index, role in enumerate(ROLES):
            cells = []
            for offset, strategy in enumerate(strategies):
                exposed, outside, made, locked = _run(role, strategy, index * 10 + offset, targets)
                if strategy == "a year, slowly":
                    worst_year = max(worst_year, outside)
                else:
                    worst = max(worst, outside)
                if role == "administrator":
                    admin_total += exposed
                state = "locked" if locked else "open"
                cells.append(f"{exposed:>3}/{outside:<3} {made:>3} req {state:>6}")
            if role == "administrator":
                exposed, made, waiting = _admin_chain(index * 10 + 9, targets)
                admin_total += exposed
                state = "0 appr." if waiting else "APPROVED"
                cells.append(f"{exposed:>4} / {made:>3} req {state:>7}")
            else:
                cells.append(f"{'-':>22}")
            print(f"{role:<18}" + "".join(f"{c:>22}" for c in cells))
        print()
        print(
            "cells: patients exposed (from the bodies) / of them outside any relationship (the"
            " rest: the desk's appointments, a care relationship, as the audit recorded them),"
        )
        print("       requests made, and whether the account ended locked")
        print("(admin's chain: patients exposed through him and every account he asked for /")
        print(" requests / whether any of those accounts got approved without a second person)")
        print(
            f"worst cell: {worst} patients outside relationships "
            f"(goal <= 20: {'MET' if worst <= 20 else 'MISSED'}); "
            f"a year, slowly: {worst_year} (goal <= 40: "
            f"{'MET' if worst_year <= 40 else 'MISSED'}); "
            f"administrator: {admin_total} (goal 0: {'MET' if admin_total == 0 else 'MISSED'})"
        )
        print(environment_line(db))
        print(f"reproduce: {command_line('exfiltration.py', args)}")


if __name__ == "__main__":
    main()
