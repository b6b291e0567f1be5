"""Pure records of a scanned log: the kept lines, and how one captured line reads once decoded."""

from __future__ import annotations

import re

from pipdoctor.records import record

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


@record
class Line:
    """A line of pip's output that some rule asked to keep; `number` is 1-based, as an editor shows it."""

    number: int
    text: str


@record
class Log:
    """What the rules see: the kept lines in order, how many lines the whole output had, and the captured
    lines (for each distinct value a rule's capture took, the first line it was on), in order."""

    lines: tuple[Line, ...]
    total_lines: int = 0
    captured: tuple[Line, ...] = ()

    def matching(self, pattern: "re.Pattern[str]") -> list[tuple[Line, "re.Match[str]"]]:
        hits = []
        search = pattern.search  # once: a rule's pattern is compiled on first use (lazyre)
        for line in self.lines:
            match = search(line.text)
            if match:
                hits.append((line, match))
        return hits


def clean_text(raw: bytes) -> str:
    """Decode one captured line the way a reader sees it: UTF-8, no color codes, last redraw of a \\r line."""
    text = _ANSI.sub("", raw.decode("utf-8", "replace"))
    if "\r" in text:
        parts = [part for part in text.split("\r") if part.strip()]
        text = " ".join(parts)
    return text.rstrip()
