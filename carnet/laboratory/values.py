"""Result values: what a technician types (a French decimal comma is fine), the reference as
it stood for the patient when the result was entered, and the flags read from both (L, H,
LL, HH for a number; A for a coded answer that is not a normal one). Pure functions: nothing
here opens, stores or decides access."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from .models import LabTest, ResultType


class Flag(StrEnum):
    NONE = ""
    LOW = "L"
    HIGH = "H"
    CRITICAL_LOW = "LL"
    CRITICAL_HIGH = "HH"
    ABNORMAL = "A"


MAX_DIGITS = 12


def parse_value(test: LabTest, raw: str) -> str:
    """The value to store, or ValidationError with what is wrong in the technician's words."""
    text = raw.strip()
    if test.result_type == ResultType.CODED:
        codes = [answer["code"] for answer in test.answers]
        if text not in codes:
            raise ValidationError(_("Choose one of the answers of this test."))
        return text
    try:
        number = Decimal(text.replace(",", ".").replace(" ", "").replace("\u202f", ""))
    except InvalidOperation:
        raise ValidationError(_("Enter a number, such as 4.5 or 4,5.")) from None
    if not number.is_finite() or len(number.as_tuple().digits) > MAX_DIGITS:
        raise ValidationError(_("Enter a number, such as 4.5 or 4,5."))
    if number < 0:
        raise ValidationError(_("A result of this test cannot be negative."))
    return format(number, "f")


def implausible(test: LabTest, value: str) -> bool:
    """Whether a parsed value lies outside the test's plausibility limits."""
    if test.result_type != ResultType.NUMERIC or not value:
        return False
    number = Decimal(value)
    low, high = test.plausible_low, test.plausible_high
    return (low is not None and number < low) or (high is not None and number > high)


def needs_second_entry(test: LabTest, raw: str) -> bool:
    """Whether what was typed parses to a value outside the plausibility limits."""
    try:
        return implausible(test, parse_value(test, raw))
    except ValidationError:
        return False


def plausible_text(test: LabTest) -> str:
    low, high = test.plausible_low, test.plausible_high
    if low is None or high is None:
        return ""
    return f"{number_format(low.normalize())}–{number_format(high.normalize())}"


def editable(test: LabTest, value: str) -> str:
    """A stored number as it goes back into an input: the locale's decimal mark, no
    grouping ("0,95" in French), so that what the technician sees is what she typed."""
    if test.result_type != ResultType.NUMERIC or not value:
        return value
    return number_format(Decimal(value), use_l10n=True, force_grouping=False)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def reference_for(test: LabTest, sex: str) -> str:
    """The reference for this patient now, as stored (sealed) beside the result."""
    if test.result_type == ResultType.CODED:
        normal = [a["code"] for a in test.answers if a.get("normal") is True]
        flagged = any(a.get("normal") is False for a in test.answers)
        return json.dumps({"normal": normal if flagged else None})
    low, high = test.range_for(sex)
    return json.dumps(
        {
            "low": _text(low),
            "high": _text(high),
            "critical_low": _text(test.critical_low),
            "critical_high": _text(test.critical_high),
        }
    )


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def flag_for(result_type: str, value: str, reference: str) -> Flag:
    if not value:
        return Flag.NONE
    ref = json.loads(reference or "{}")
    if result_type == ResultType.CODED:
        normal = ref.get("normal")
        return Flag.NONE if normal is None or value in normal else Flag.ABNORMAL
    number = Decimal(value)
    low, high = _decimal(ref.get("low")), _decimal(ref.get("high"))
    critical_low = _decimal(ref.get("critical_low"))
    critical_high = _decimal(ref.get("critical_high"))
    if critical_low is not None and number < critical_low:
        return Flag.CRITICAL_LOW
    if critical_high is not None and number > critical_high:
        return Flag.CRITICAL_HIGH
    if low is not None and number < low:
        return Flag.LOW
    if high is not None and number > high:
        return Flag.HIGH
    return Flag.NONE


def _number(text: str, decimals: int) -> str:
    return number_format(Decimal(text), decimal_pos=decimals)


def display_value(test: LabTest, value: str) -> str:
    if not value:
        return "—"
    if test.result_type == ResultType.CODED:
        return test.answer_label(value)
    return _number(value, test.decimals)


def reference_text(test: LabTest, reference: str) -> str:
    """The reference as a reader expects it: "12.0–16.0", "< 5.0", "> 0.40", "Negative"."""
    ref = json.loads(reference or "{}")
    if test.result_type == ResultType.CODED:
        normal = ref.get("normal")
        return ", ".join(test.answer_label(code) for code in normal) if normal else ""
    low, high = ref.get("low"), ref.get("high")
    if low is not None and high is not None:
        return f"{_number(low, test.decimals)}–{_number(high, test.decimals)}"
    if high is not None:
        return f"< {_number(high, test.decimals)}"
    if low is not None:
        return f"> {_number(low, test.decimals)}"
    return ""


def reference_bounds(test: LabTest, reference: str) -> dict[str, str]:
    """The stored numeric reference's bounds, for interfaces that want them apart."""
    if test.result_type != ResultType.NUMERIC:
        return {}
    ref = json.loads(reference or "{}")
    return {"reference_low": ref.get("low") or "", "reference_high": ref.get("high") or ""}


def numeric(test: LabTest, value: str) -> float | None:
    """A number for trends (None for coded results)."""
    return float(value) if test.result_type == ResultType.NUMERIC and value else None


# The catalogue's units as UCUM codes (http://unitsofmeasure.org), for the FHIR interface;
# an arbitrary unit (µg/L FEU) keeps its text only.
UCUM = {
    "g/dL": "g/dL",
    "%": "%",
    "T/L": "10*12/L",
    "fL": "fL",
    "G/L": "10*9/L",
    "mm": "mm/h",
    "s": "s",
    "g/L": "g/L",
    "mmol/L": "mmol/L",
    "µmol/L": "umol/L",
    "mg/L": "mg/L",
    "U/L": "U/L",
    "ng/L": "ng/L",
    "µg/L": "ug/L",
    "ng/mL": "ng/mL",
    "mUI/L": "m[IU]/L",
    "UI/L": "[IU]/L",
    "mUI/mL": "m[IU]/mL",
    "mL/min/1,73 m²": "mL/min/{1.73_m2}",
}
