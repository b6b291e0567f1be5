"""PD302 externally-managed-environment: the interpreter belongs to the OS package manager (PEP 668), and
pip refuses to install into it.

Not a cache problem, and not a permission problem: `sudo` does not help and `--break-system-packages`
risks the OS. Use a virtual environment (or pipx for applications).
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.lazyre import lazy_compile
from pipdoctor.rules._common import evidence

CODE = "PD302"
NAME = "externally-managed-environment"
SEVERITY = Severity.ERROR
# The refusal's first lines, and its tail (pip's own note and hint, exceptions.py ExternallyManagedEnvironment,
# 23.0-26.3), which is all a log cut at the top or a CI step's last lines may keep. On a narrow terminal rich
# wraps the note, leaving "--break-system-packages." alone on its line. The distribution's text in between
# (EXTERNALLY-MANAGED's Error) differs per distribution and is not matched.
TRIGGERS = (rb"externally-managed-environment", rb"environment is externally managed",
            rb"See PEP 668 for the detailed specification", rb"by passing --break-system-packages",
            rb"^\s*--break-system-packages\.\s*$")

_REFUSAL = lazy_compile(r"externally-managed-environment|environment is externally managed"
                      r"|See PEP 668 for the detailed specification|by passing --break-system-packages"
                      r"|^\s*--break-system-packages\.\s*$")


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
