"""Rewriting the generated blocks of the docs: a bench owns the text between its two markers.

Each block is named (`<!-- name:begin -->` … `<!-- name:end -->`), so one doc can hold the
figures of several benches and one bench can put the same table in two docs (docs/scale.md in
full, docs/benchmarks.md where the issue asks for every table).
"""

from __future__ import annotations

from pathlib import Path


def replace_block(doc: Path, name: str, block: str) -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text()
    try:
        start, stop = text.index(begin) + len(begin), text.index(end)
    except ValueError:
        raise SystemExit(f"{doc}: no {begin} … {end} block to rewrite") from None
    doc.write_text(text[:start] + "\n" + block + "\n" + text[stop:])
