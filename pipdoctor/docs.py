"""The documentation page of each finding code, shipped inside the package (docs/codes/PDnnn.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

# pipdoctor/docs_pages is a link to the repo's docs/codes/, so the pages are written once and installed too.
PAGES = Path(__file__).parent / "docs_pages"


def page_path(code: str) -> str:
    """Where the installed page of a code is (absolute): what a JSON document's `doc` names."""
    return str((PAGES / f"{code}.md").absolute())


def doc_page(code: str) -> Optional[str]:
    try:
        return Path(page_path(code)).read_text(encoding="utf-8")
    except OSError:
        return None


def documented_codes() -> list[str]:
    return sorted(p.stem for p in PAGES.glob("PD*.md"))
