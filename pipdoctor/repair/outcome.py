"""What an apply or an undo did (counts, samples of what it skipped and why), and the command that undoes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# Samples of skipped entries kept for the report; the count is always exact.
SAMPLES = 20


@dataclass
class Outcome:
    """What an apply (or an undo) did: counts, samples of what it skipped and why, and the journal."""

    journal: Optional[str] = None
    chowned: int = 0
    renamed: list = field(default_factory=list)  # (old path, new path)
    restored: int = 0  # undo: entries given back their old owner or name
    already: int = 0  # undo: entries already as they were
    skipped: list = field(default_factory=list)  # (path, reason), at most SAMPLES
    skipped_count: int = 0
    notes: list = field(default_factory=list)

    def skip(self, path: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < SAMPLES:
            self.skipped.append((path, reason))

    def to_json(self) -> dict:
        # Names as they are: report's JSON encodes one that is not UTF-8 once for the whole document (raw_bytes).
        return {"journal": self.journal, "chowned": self.chowned,
                "renamed": [{"from": a, "to": b} for a, b in self.renamed],
                "restored": self.restored,
                "already": self.already, "skipped_count": self.skipped_count,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped], "notes": self.notes}


def undo_command(path: str, as_root: bool) -> str:
    """The command that undoes the fix journaled at path, as whoever made it (root: with sudo)."""
    from pipdoctor.remediation import shell_quote

    return f"{'sudo ' if as_root else ''}pipdoctor fix --undo {shell_quote(path)}"
