"""The vital signs trend as an SVG drawn on the server (no script, no CDN): one band per
measure (blood pressure, pulse, temperature, SpO2, weight), oldest on the left, each band
on its own scale with its last value written at its end."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

WIDTH, BAND, LEFT, RIGHT, TOP = 640, 64, 120, 70, 8


def _series(vitals: Sequence[Any], key: str) -> list[tuple[int, Decimal]]:
    return [(i, v.values[key]) for i, v in enumerate(vitals) if key in v.values]


def trend_svg(newest_first: Sequence[Any]) -> str:
    vitals = list(reversed(newest_first))
    bands = [
        (_("Blood pressure"), ("systolic", "diastolic"), "mmHg", "#b42318"),
        (_("Pulse"), ("pulse",), "/min", "#175cd3"),
        (_("Temperature"), ("temperature",), "°C", "#b54708"),
        (_("SpO2"), ("spo2",), "%", "#067647"),
        (_("Weight"), ("weight",), "kg", "#5925dc"),
    ]
    bands = [b for b in bands if any(_series(vitals, k) for k in b[1])]
    count = len(vitals)
    span = WIDTH - LEFT - RIGHT
    height = TOP * 2 + BAND * len(bands) + 18

    def x(index: int) -> float:
        return LEFT + (span * index / (count - 1) if count > 1 else span / 2)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="vitals-trend" role="img" aria-label="{escape(_("Vital signs trend"))}">'
    ]
    for number, (label, keys, unit, colour) in enumerate(bands):
        top = TOP + number * BAND
        values = [value for key in keys for _i, value in _series(vitals, key)]
        low, high = min(values), max(values)
        if high == low:
            low, high = low - 1, high + 1

        def y(value: Decimal, top: int = top, low: Decimal = low, high: Decimal = high) -> float:
            return top + 8 + float((high - value) / (high - low)) * (BAND - 20)

        out.append(
            f'<line x1="{LEFT}" y1="{top + BAND - 4}" x2="{WIDTH - RIGHT}" y2="{top + BAND - 4}" '
            'stroke="#d0d5dd" stroke-width="1"/>'
            f'<text x="4" y="{top + 26}" font-size="12" fill="#344054">{escape(label)}</text>'
            f'<text x="4" y="{top + 42}" font-size="10" fill="#667085">'
            f"{escape(f'{low}–{high} {unit}')}</text>"
        )
        for key in keys:
            points = _series(vitals, key)
            path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            out.extend(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}"/>'
                for i, v in points
            )
        last = vitals[-1].values
        shown = "/".join(str(last[k]) for k in keys if k in last)
        if shown:
            out.append(
                f'<text x="{WIDTH - RIGHT + 6}" y="{top + 30}" font-size="12" '
                f'fill="{colour}">{escape(shown)}</text>'
            )
    first, last = localtime(vitals[0].taken_at), localtime(vitals[-1].taken_at)
    bottom = height - 4
    out.append(
        f'<text x="{LEFT}" y="{bottom}" font-size="10" fill="#667085">'
        f"{escape(date_format(first, 'd/m H:i'))}</text>"
        f'<text x="{WIDTH - RIGHT}" y="{bottom}" font-size="10" fill="#667085" '
        f'text-anchor="end">{escape(date_format(last, "d/m H:i"))}</text></svg>'
    )
    return "".join(out)
