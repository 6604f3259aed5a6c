"""PDFs as Carnet writes them, through fpdf2: A4, DejaVu Sans from Debian's fonts-dejavu-core
(every French letter, "œ" included, which the PDF standard fonts lack), text only: no script,
no form, no attachment, no link. The creation date is the one given, so that printing the same
document again gives the same bytes. Prescriptions, and the demo's and benchmarks' documents,
are all written here.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# Where Debian puts DejaVu (fonts-dejavu-core); CARNET_FONT_DIR elsewhere.
FONT_DIR = Path(os.environ.get("CARNET_FONT_DIR", "/usr/share/fonts/truetype/dejavu"))
FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVu"
MARGIN = 18  # mm
MUTED = (95, 99, 104)
INK = (20, 22, 26)


class FontsMissing(RuntimeError):
    """Carnet's PDFs need Debian's DejaVu fonts."""


def _fonts() -> dict[str, Path]:
    paths = {style: FONT_DIR / name for style, name in FONTS.items()}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise FontsMissing(
            f"PDFs need the DejaVu fonts ({', '.join(missing)} not found): "
            "apt-get install fonts-dejavu-core, or set CARNET_FONT_DIR"
        )
    return paths


class _Pages(FPDF):
    def __init__(self, foot: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.foot = foot

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 4, self.foot, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"{self.page_no()}/{{nb}}", align="R")


class Sheet:
    """A document being written, top to bottom; pages break by themselves."""

    def __init__(
        self,
        *,
        title: str,
        created: datetime.datetime,
        author: str = "",
        foot: str = "",
        language: str = "fr",
    ) -> None:
        fonts = _fonts()
        self.pdf = _Pages(foot)
        for style, path in fonts.items():
            self.pdf.add_font(FAMILY, style, str(path))
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(True, margin=20)
        self.pdf.set_title(title)
        self.pdf.set_author(author)
        self.pdf.set_creator("Carnet")
        self.pdf.set_producer("Carnet (fpdf2)")
        self.pdf.set_lang(language)
        self.pdf.set_creation_date(created)
        self.pdf.add_page()
        self.pdf.set_text_color(*INK)

    @property
    def width(self) -> float:
        return self.pdf.w - self.pdf.l_margin - self.pdf.r_margin

    def text(
        self,
        value: str,
        *,
        size: float = 10.5,
        bold: bool = False,
        muted: bool = False,
        align: str = "L",
        width: float | None = None,
    ) -> None:
        self.pdf.set_font(FAMILY, "B" if bold else "", size)
        self.pdf.set_text_color(*(MUTED if muted else INK))
        self.pdf.multi_cell(
            width or self.width,
            size * 0.5,
            value,
            align=align,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.pdf.set_text_color(*INK)

    def heading(self, value: str, size: float = 15) -> None:
        self.text(value, size=size, bold=True)
        self.gap(2)

    def gap(self, millimetres: float) -> None:
        self.pdf.ln(millimetres)

    def rule(self) -> None:
        y = self.pdf.get_y() + 1
        self.pdf.set_draw_color(*MUTED)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.w - self.pdf.r_margin, y)
        self.pdf.ln(3)

    def columns(self, left: Sequence[tuple[str, bool]], right: Sequence[tuple[str, bool]]) -> None:
        """Two blocks side by side (the prescriber's and the establishment's): each line with
        whether it is bold."""
        top = self.pdf.get_y()
        half = self.width / 2 - 3
        for x, lines in ((self.pdf.l_margin, left), (self.pdf.l_margin + half + 6, right)):
            self.pdf.set_xy(x, top)
            for value, bold in lines:
                self.pdf.set_x(x)
                self.pdf.set_font(FAMILY, "B" if bold else "", 10.5 if bold else 9.5)
                self.pdf.multi_cell(half, 5, value, new_x=XPos.LEFT, new_y=YPos.NEXT)
            if x == self.pdf.l_margin:
                bottom = self.pdf.get_y()
        self.pdf.set_y(max(bottom, self.pdf.get_y()))
        self.gap(4)

    def numbered(self, items: Iterable[tuple[str, Sequence[str]]]) -> None:
        """A numbered list: each item a bold first line and lines under it."""
        for number, (head, rest) in enumerate(items, start=1):
            self.pdf.set_font(FAMILY, "B", 10.5)
            self.pdf.cell(8, 5.5, f"{number}.")
            self.pdf.multi_cell(self.width - 8, 5.5, head, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            for line in rest:
                self.pdf.set_x(self.pdf.l_margin + 8)
                self.pdf.set_font(FAMILY, "", 10)
                self.pdf.multi_cell(self.width - 8, 5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.gap(2.5)

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def simple(
    title: str,
    lines: Sequence[str],
    *,
    created: datetime.datetime | None = None,
    author: str = "",
) -> bytes:
    """A plain document: a title and its lines (the demo's and the benchmarks' documents)."""
    sheet = Sheet(
        title=title,
        created=created or datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        author=author,
    )
    sheet.heading(title)
    for line in lines:
        sheet.text(line)
    return sheet.output()
