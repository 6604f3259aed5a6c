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


def numeric(test: LabTest, value: str) -> float | None:
    """A number for trends (None for coded results)."""
    return float(value) if test.result_type == ResultType.NUMERIC else None
