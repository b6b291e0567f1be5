"""PD302 externally-managed-environment: the interpreter belongs to the OS package manager (PEP 668), and
pip refuses to install into it.

Not a cache problem, and not a permission problem: `sudo` does not help and `--break-system-packages`
risks the OS. Use a virtual environment (or pipx for applications).
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.rules._common import evidence

CODE = "PD302"
NAME = "externally-managed-environment"
SEVERITY = Severity.ERROR
TRIGGERS = (rb"externally-managed-environment", rb"environment is externally managed")

_REFUSAL = re.compile(r"externally-managed-environment|environment is externally managed")


def match(log, facts=None):
    hits = log.matching(_REFUSAL)
    if not hits:
        return []
    return [Finding(
        CODE, NAME, SEVERITY,
        message="pip refused to install into an interpreter managed by the OS (PEP 668).",
        why="The distribution marked this Python EXTERNALLY-MANAGED so that pip cannot break its packages.",
        evidence=evidence(line for line, _ in hits),
    )]
