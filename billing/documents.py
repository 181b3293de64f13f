"""Invoices and remittance statements as PDF: a Jinja2 HTML template set by fpdf2.

The text is set in a Unicode TrueType font when one is found (the configured one, else a
system DejaVu Sans); else in the PDF core font. A character the font cannot show becomes `?`,
so no account name can keep a document from rendering.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import msgspec
from fontTools.ttLib import TTFont, TTLibError
from fpdf import FPDF, TextStyle
from fpdf.errors import FPDFException
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from billing.invoices import FinanceDocument

log = logging.getLogger(__name__)

# Where Debian (fonts-dejavu-core) and Fedora (dejavu-sans-fonts) put DejaVu Sans.
SYSTEM_FONT_FOLDERS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/dejavu",
)
_FAMILY = "document"
_CORE_FAMILY = "helvetica"
# The core fonts' own encoding (WinAnsi): Latin-1 plus the euro sign, dashes and quotes.
_CORE_ENCODING = "windows-1252"
_TEMPLATES = {"invoice": "invoice.html", "remittance": "remittance.html"}
_INK = "#1f2937"
_HEADINGS = {
    "h1": TextStyle(color=_INK, font_size_pt=18, t_margin=0, b_margin=2),
    "h3": TextStyle(color=_INK, font_size_pt=11, t_margin=5, b_margin=1),
}


class DocumentFont(msgspec.Struct, frozen=True):
    """A TrueType font's regular and bold files; the bold may be the regular one again."""

    regular: str
    bold: str


def find_font(configured: str | None) -> DocumentFont | None:
    """The configured font when its file exists, else the first system DejaVu Sans; None: the core font."""
    if configured:
        if Path(configured).is_file():
            return DocumentFont(configured, configured)
        log.warning("document font %s not found; using a system or core font", configured)
    for folder in SYSTEM_FONT_FOLDERS:
        regular, bold = Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf")
        if regular.is_file():
            return DocumentFont(str(regular), str(bold if bold.is_file() else regular))
    return None


@lru_cache(maxsize=8)
def _codepoints(path: str) -> frozenset[int]:
    """What a font file has glyphs for; read once per file."""
    with TTFont(path, lazy=True) as font:
        cmap = font.getBestCmap() or {}
    return frozenset(cmap)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("billing", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = money
    environment.filters["moment"] = moment
    environment.filters["day"] = day
    return environment


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return _environment()


def money(cents: int) -> str:
    """Cents as dollars: `$1,234.50`, `-$3.00`."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")


def day(value: date) -> str:
    return value.isoformat()


def render_html(document: FinanceDocument) -> str:
    """The document's HTML, every value escaped."""
    template = _templates().get_template(_TEMPLATES[document.kind])
    return template.render(
        doc=document,
        address_lines=[line for line in document.issuer.address.splitlines() if line.strip()],
    )


def render_pdf(document: FinanceDocument, font: DocumentFont | None) -> bytes:
    """The PDF; CPU work, to be run off the event loop."""
    html = render_html(document)
    if font is not None:
        try:
            return _set(html, document.number, font)
        except (OSError, TTLibError, FPDFException, ValueError, KeyError) as error:
            # A font file that is unreadable or no TrueType font: the core font still renders.
            log.warning("document font %s unusable (%s); using the core font", font.regular, error)
    return _set(html, document.number, None)


class _Paper(FPDF):
    """A4 pages, each with the document's number and the page's in its footer."""

    def __init__(self, number: str, family: str) -> None:
        super().__init__(format="A4")
        self.number = number
        self.family = family

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 7)
        self.set_text_color(_INK)
        self.cell(0, 5, f"{self.number}   page {self.page_no()} of {{nb}}", align="R")


def _set(html: str, number: str, font: DocumentFont | None) -> bytes:
    pdf = _Paper(number, _CORE_FAMILY if font is None else _FAMILY)
    pdf.set_creator("lead-exchange")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.alias_nb_pages()
    if font is None:
        pdf.core_fonts_encoding = _CORE_ENCODING
        family = _CORE_FAMILY
        text = _printable(html, _core_fits)
    else:
        for style, path in (("", font.regular), ("B", font.bold), ("I", font.regular), ("BI", font.bold)):
            pdf.add_font(_FAMILY, style, path)
        family = _FAMILY
        shown = _codepoints(font.regular) & _codepoints(font.bold)
        text = _printable(html, lambda char: ord(char) in shown)
    pdf.add_page()
    pdf.set_font(family, size=8)
    pdf.write_html(text, font_family=family, table_line_separators=True, tag_styles=_HEADINGS)
    return bytes(pdf.output())


def _core_fits(char: str) -> bool:
    try:
        char.encode(_CORE_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str, fits: Callable[[str], bool]) -> str:
    """Each character the font has, `?` for each it lacks; control characters become spaces."""
    out = []
    for char in text:
        if char in "\n\t":
            out.append(char)
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            out.append(" ")
        elif char.isascii() or fits(char):
            out.append(char)
        else:
            out.append("?")
    return "".join(out)
