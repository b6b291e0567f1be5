"""The documentation page of each finding code, shipped inside the package (docs/codes/PDnnn.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

# pipdoctor/docs_pages is a link to the repo's docs/codes/, so the pages are written once and installed too.
PAGES = Path(__file__).parent / "docs_pages"


def doc_page(code: str) -> Optional[str]:
    path = PAGES / f"{code}.md"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def documented_codes() -> list[str]:
    return sorted(p.stem for p in PAGES.glob("PD*.md"))
