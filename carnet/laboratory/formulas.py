"""Computed results: the laboratory works them out from other results of the same order and
never lets anyone type them. Each formula says which tests it needs (by LOINC code) and
answers a value, or why it cannot be computed. Pure functions: nothing here reads or stores."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

CHOLESTEROL, HDL, TRIGLYCERIDES, CREATININE = "2093-3", "2085-9", "2571-8", "14682-9"
# Friedewald's estimate holds below 3.4 g/L of triglycerides (3.9 mmol/L).
FRIEDEWALD_TG_LIMIT = Decimal("3.4")
# Creatinine: µmol/L to mg/dL.
CREATININE_MG_DL = Decimal("88.42")


@dataclass(frozen=True)
class Outcome:
    value: str = ""
    not_computed: str = ""


def _places(number: Decimal, decimals: int) -> str:
    return format(number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP), "f")


def ldl_friedewald(values: Mapping[str, Decimal], _sex: str, _age: int | None) -> Outcome:
    """LDL = total cholesterol − HDL − triglycerides / 5, all in g/L (Friedewald, Levy and
    Fredrickson, Clin Chem 1972;18:499), when triglycerides are below 3.4 g/L."""
    tg = values[TRIGLYCERIDES]
    if tg >= FRIEDEWALD_TG_LIMIT:
        return Outcome(
            not_computed=_("Not computed: triglycerides at or above 3.4 g/L (Friedewald).")
        )
    ldl = values[CHOLESTEROL] - values[HDL] - tg / 5
    if ldl < 0:
        return Outcome(not_computed=_("Not computed: the lipid results do not hold together."))
    return Outcome(value=_places(ldl, 2))


def egfr_ckd_epi_2021(values: Mapping[str, Decimal], sex: str, age: int | None) -> Outcome:
    """eGFR by the 2021 CKD-EPI creatinine equation, without race (Inker et al., N Engl J Med
    2021;385:1737): 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age (× 1.012 for
    women), Scr in mg/dL, κ 0.7 (F) or 0.9 (M), α −0.241 (F) or −0.302 (M); adults only."""
    if sex not in ("F", "M"):
        return Outcome(not_computed=_("Not computed: the patient's sex is not known."))
    if age is None or age < 18:
        return Outcome(not_computed=_("Not computed: the equation is for adults only."))
    scr = float(values[CREATININE] / CREATININE_MG_DL)
    if scr <= 0:
        return Outcome(not_computed=_("Not computed: no creatinine value."))
    kappa, alpha = (0.7, -0.241) if sex == "F" else (0.9, -0.302)
    ratio = scr / kappa
    egfr = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age
    if sex == "F":
        egfr *= 1.012
    return Outcome(value=_places(Decimal(str(egfr)), 0))


@dataclass(frozen=True)
class Formula:
    needs: tuple[str, ...]
    compute: object


FORMULAS: dict[str, Formula] = {
    "ldl_friedewald": Formula((CHOLESTEROL, HDL, TRIGLYCERIDES), ldl_friedewald),
    "egfr_ckd_epi_2021": Formula((CREATININE,), egfr_ckd_epi_2021),
}


def age_on(birth_date: datetime.date | None, day: datetime.date) -> int | None:
    if birth_date is None:
        return None
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def compute(name: str, values: Mapping[str, Decimal], sex: str, age: int | None) -> Outcome | None:
    """The outcome of a formula, or None while a test it needs has no value yet."""
    formula = FORMULAS[name]
    if any(loinc not in values for loinc in formula.needs):
        return None
    return formula.compute(values, sex, age)  # type: ignore[operator]
