"""The finding model shared by the classifier, the checker, remediation and the report."""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Mapping, Optional

from pipdoctor.records import record


class Severity(str, enum.Enum):
    """How bad a finding is; the order is the order of importance."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return ("error", "warning", "info").index(self.value)


@record
class Evidence:
    """One line of pip's output (1-based line number) or one fact read from the machine (line None)."""

    text: str
    line: Optional[int] = None


@record
class Fix:
    """A command that cures the finding; `safe` says whether it can be run without risk to anything else.
    `touches` declares what it changes, ((op, path), ...) as safety.py names them (() for nothing; None: not
    declared, so a command that changes files is never safe): the gate judges `safe` from it."""

    command: str
    description: str
    safe: bool
    touches: Optional[tuple] = None


@record
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
    facts: Mapping = MappingProxyType({})  # what the rule read, for remediation (the empty default is shared)
    tool: str = "pip"  # the installer whose run or cache it is about: "pip" or "uv"

    @property
    def doc_path(self) -> str:
        """The installed page of the code (package data), the one `pipdoctor explain CODE` prints."""
        from pipdoctor.docs import page_path

        return page_path(self.code)

    def but(self, **changes) -> "Finding":
        """A copy with some fields changed (findings are immutable values)."""
        return self._replace(**changes)


def has_problem(findings) -> bool:
    """True when any finding is a warning or an error (info findings never fail a run)."""
    return any(f.severity is not Severity.INFO for f in findings)


def is_cache_cause(finding: Finding) -> bool:
    """A cause in pip's cache or what it stands on (HOME, the filesystem, pip's configuration): the PD1xx and
    PD2xx codes, which `pipdoctor fix` acts on or explains. PD3xx are not the cache's (README, "Codes")."""
    return not finding.code.startswith("PD3")


def fix_acts_on(finding: Finding) -> bool:
    """`pipdoctor fix` (and `install --fix`) plans a cure for it: the cache's own codes, PD1xx
    (remediation.make_plan); for HOME or pip's configuration (PD2xx) it has none to offer."""
    return finding.code.startswith("PD1")
