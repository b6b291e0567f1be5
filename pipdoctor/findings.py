"""The finding model shared by the classifier, the checker, remediation and the report."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Optional

# Where a code's page lives in the repository; `pipdoctor explain CODE` prints the same page.
DOCS_PATH = "docs/codes/{code}.md"


class Severity(str, enum.Enum):
    """How bad a finding is; the order is the order of importance."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return ("error", "warning", "info").index(self.value)


@dataclass(frozen=True)
class Evidence:
    """One line of pip's output (1-based line number) or one fact read from the machine (line None)."""

    text: str
    line: Optional[int] = None


@dataclass(frozen=True)
class Fix:
    """A command that cures the finding; `safe` says whether it can be run without risk to anything else."""

    command: str
    description: str
    safe: bool


@dataclass(frozen=True)
class Finding:
    """A diagnosis, shaped like pip's diagnostic errors: what broke, evidence, why, the fix, a doc link."""

    code: str
    name: str
    severity: Severity
    message: str
    why: str = ""
    paths: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    fixes: tuple[Fix, ...] = ()
    facts: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def doc_path(self) -> str:
        return DOCS_PATH.format(code=self.code)

    def but(self, **changes) -> "Finding":
        """A copy with some fields changed (findings are immutable values)."""
        return replace(self, **changes)


def has_problem(findings) -> bool:
    """True when any finding is a warning or an error (info findings never fail a run)."""
    return any(f.severity is not Severity.INFO for f in findings)
