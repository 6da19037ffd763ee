"""A small document model and its three renderings: Markdown, HTML and PDF.

Reports and regulator drafts are built once as a `Document` and rendered by format, so what a
report says cannot differ between its Markdown, HTML and PDF forms, and escaping is done in one
place per format. Every string in a document is untrusted (report text, names, notes typed by
agents), so each renderer treats all of it as data: escaped in HTML and Markdown, drawn as
plain text in PDF.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Format = Literal["md", "html", "pdf"]
MEDIA_TYPES: dict[str, str] = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Fields:
    """Label / value pairs: the facts of one thing."""

    rows: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    """Cells may hold line breaks ("\\n"): each renderer keeps them as separate lines."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Links:
    items: Sequence[tuple[str, str]]


Block = Text | Fields | Table | Bullets | Links


@dataclass(frozen=True)
class Section:
    title: str
    blocks: Sequence[Block]
    level: int = 2


@dataclass(frozen=True)
class Document:
    title: str
    subtitle: str
    sections: Sequence[Section]
    footer: str = ""
    meta: dict[str, str] = field(default_factory=dict)


def render(document: Document, fmt: Format) -> bytes:
    if fmt == "md":
        return render_markdown(document).encode("utf-8")
    if fmt == "html":
        return render_html(document).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(document)
    raise ValueError(f"unknown format {fmt!r}; expected md, html or pdf")


def safe_url(url: str) -> str | None:
    """Only http(s) links are written out: a `javascript:` URL from a setting never renders."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() or c in "<>\"'`" for c in url):
        return None
    return url


# --- Markdown ----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


def md_escape(text: str) -> str:
    """Backslash-escape Markdown punctuation (CommonMark allows it for every ASCII punctuation
    mark), so report text stays text, never a link, an image or raw HTML, wherever it renders."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_cell(text: str) -> str:
    return " / ".join(md_escape(line) for line in text.splitlines()) or " "


def render_markdown(document: Document) -> str:
    out = [f"# {md_escape(document.title)}", "", md_escape(document.subtitle), ""]
    for section in document.sections:
        out += [f"{'#' * section.level} {md_escape(section.title)}", ""]
        for block in section.blocks:
            out += [*_md_block(block), ""]
    if document.footer:
        out += ["---", "", md_escape(document.footer), ""]
    return "\n".join(out)


def _md_block(block: Block) -> list[str]:
    if isinstance(block, Text):
        return [md_escape(line) if line else "" for line in block.text.splitlines()] or [""]
    if isinstance(block, Fields):
        return [f"- **{md_escape(k)}**: {_md_cell(v)}" for k, v in block.rows]
    if isinstance(block, Bullets):
        return [f"- {_md_cell(item)}" for item in block.items]
    if isinstance(block, Links):
        lines = []
        for label, url in block.items:
            safe = safe_url(url)
            lines.append(f"- {md_escape(label)}: {f'<{safe}>' if safe else 'unavailable'}")
        return lines
    header = "| " + " | ".join(_md_cell(h) for h in block.headers) + " |"
    rule = "|" + "|".join("---" for _ in block.headers) + "|"
    rows = ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
    return [header, rule, *rows]


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
@page { size: A4; margin: 14mm 12mm 16mm; }
* { box-sizing: border-box; }
body { font: 10pt/1.4 "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #111;
       max-width: 190mm; margin: 0 auto; padding: 8mm 4mm; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; margin: 7mm 0 2mm; padding-bottom: 1mm; border-bottom: 1.5px solid #333;
     break-after: avoid; page-break-after: avoid; }
h3 { font-size: 11pt; margin: 5mm 0 1.5mm; break-after: avoid; page-break-after: avoid; }
p.sub { color: #444; margin: 0 0 4mm; }
p { margin: 1.5mm 0; white-space: pre-wrap; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0 3mm; font-size: 8.5pt; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border: 1px solid #999; padding: 1mm 1.5mm; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #e8e8e8; }
table.fields th { width: 30%; background: #f3f3f3; font-weight: 600; }
ul { margin: 1mm 0 3mm; padding-left: 5mm; }
footer { margin-top: 8mm; padding-top: 2mm; border-top: 1px solid #999; color: #444;
         font-size: 8pt; }
@media print {
  body { padding: 0; max-width: none; }
  a { color: #111; text-decoration: none; }
  a[href]::after { content: " (" attr(href) ")"; font-size: 8pt; color: #444; }
}
"""

# Nothing is fetched or run: a copy saved to disk or mailed stays self-contained and inert.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _h(text: str) -> str:
    return "<br>".join(html.escape(line, quote=True) for line in text.split("\n"))


def render_html(document: Document) -> str:
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(document.title)}</title>",
        *(
            f'<meta name="{html.escape(k, quote=True)}" content="{html.escape(v, quote=True)}">'
            for k, v in document.meta.items()
        ),
        f"<style>{_CSS}</style></head><body>",
        f'<header><h1>{_h(document.title)}</h1><p class="sub">{_h(document.subtitle)}</p></header>',
    ]
    for section in document.sections:
        level = min(max(section.level, 2), 4)
        out.append(f"<section><h{level}>{_h(section.title)}</h{level}>")
        out += [_html_block(block) for block in section.blocks]
        out.append("</section>")
    if document.footer:
        out.append(f"<footer>{_h(document.footer)}</footer>")
    out.append("</body></html>")
    return "\n".join(out)


def _html_block(block: Block) -> str:
    if isinstance(block, Text):
        return f"<p>{html.escape(block.text, quote=True)}</p>"
    if isinstance(block, Fields):
        rows = "".join(f"<tr><th>{_h(k)}</th><td>{_h(v)}</td></tr>" for k, v in block.rows)
        return f'<table class="fields"><tbody>{rows}</tbody></table>'
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_h(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Links):
        items = []
        for label, url in block.items:
            safe = safe_url(url)
            target = (
                f'<a href="{html.escape(safe, quote=True)}">{_h(safe)}</a>'
                if safe
                else "unavailable"
            )
            items.append(f"<li>{_h(label)}: {target}</li>")
        return "<ul>" + "".join(items) + "</ul>"
    head = "".join(f"<th>{_h(h)}</th>" for h in block.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in block.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# --- PDF ---------------------------------------------------------------------------------------

# A Unicode TrueType font when one is on the machine (names and notes in any script); otherwise
# the PDF core font, with characters outside Latin-1 shown as "?" rather than failing.
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
PDF_CELL_LIMIT = 1500
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _unicode_font() -> tuple[Path, Path] | None:
    candidates = list(_FONT_DIRS)
    try:
        import matplotlib

        candidates.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    for directory in candidates:
        regular = directory / "DejaVuSans.ttf"
        if regular.is_file():
            bold = directory / "DejaVuSans-Bold.ttf"
            return regular, bold if bold.is_file() else regular
    return None


def render_pdf(document: Document) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font = _unicode_font()
    footer_text = document.footer

    class _Pdf(FPDF):
        def footer(self) -> None:
            self.set_y(-11)
            self.set_font(family, size=7)
            self.set_text_color(90, 90, 90)
            line = f"{document.title} - page {self.page_no()}/{{nb}}"
            self.cell(0, 4, clean(line), align="C")

    pdf = _Pdf(orientation="portrait", unit="mm", format="A4")
    if font is not None:
        pdf.add_font("body", "", str(font[0]))
        pdf.add_font("body", "B", str(font[1]))
        family = "body"

        def clean(text: str) -> str:
            return _CONTROL.sub("", text)
    else:
        family = "helvetica"

        def clean(text: str) -> str:
            return _CONTROL.sub("", text).encode("latin-1", "replace").decode("latin-1")

    pdf.set_title(clean(document.title))
    pdf.set_creator("Incident Desk")
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def para(text: str, size: float = 9, style: str = "", height: float = 4.5) -> None:
        pdf.set_font(family, style=style, size=size)
        pdf.multi_cell(width, height, clean(text), new_x="LMARGIN", new_y="NEXT")

    def cell(text: str) -> str:
        text = clean(text)
        if len(text) > PDF_CELL_LIMIT:
            text = text[:PDF_CELL_LIMIT] + " ... [truncated in the PDF; the HTML report is whole]"
        return text

    para(document.title, size=16, style="B", height=8)
    pdf.set_text_color(70, 70, 70)
    para(document.subtitle, size=9)
    pdf.set_text_color(0, 0, 0)
    heading = FontFace(emphasis="BOLD", fill_color=(232, 232, 232))
    for section in document.sections:
        pdf.ln(3)
        para(section.title, size=12.5 if section.level <= 2 else 10.5, style="B", height=6)
        for block in section.blocks:
            pdf.set_font(family, size=8)
            if isinstance(block, Text):
                para(block.text, size=8.5)
            elif isinstance(block, Bullets):
                for item in block.items:
                    para(f"- {item}", size=8.5)
            elif isinstance(block, Links):
                for label, url in block.items:
                    safe = safe_url(url)
                    pdf.set_font(family, size=8.5)
                    pdf.multi_cell(
                        width, 4.5, clean(f"{label}: {safe or 'unavailable'}"),
                        link=safe or "", new_x="LMARGIN", new_y="NEXT",
                    )  # fmt: skip
            elif isinstance(block, Fields):
                with pdf.table(
                    col_widths=(1, 3),
                    first_row_as_headings=False,
                    line_height=4,
                    text_align="LEFT",
                ) as table:
                    for label, value in block.rows:
                        row = table.row()
                        row.cell(cell(label), style=FontFace(emphasis="BOLD"))
                        row.cell(cell(value))
            else:
                with pdf.table(headings_style=heading, line_height=4, text_align="LEFT") as table:
                    for values in [block.headers, *block.rows]:
                        row = table.row()
                        for value in values:
                            row.cell(cell(value))
            pdf.ln(1.5)
    if footer_text:
        pdf.ln(3)
        pdf.set_text_color(70, 70, 70)
        para(footer_text, size=7.5, height=3.8)
    return bytes(pdf.output())
