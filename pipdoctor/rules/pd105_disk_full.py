"""PD105 disk-full: pip could not write because the filesystem (or the user's quota) is full.

Every later step fails too, and a half-written cache entry may be left behind, so this outranks every
other finding. From pip 25.3 the error shows up inside the build backend's output; it is still this code.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.rules._common import evidence, first_path, os_errors, tool_of, unique_paths

CODE = "PD105"
NAME = "disk-full"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, *UV_TRIGGERS)


def match(log, facts=None):
    reports = os_errors(log, ErrorKind.NO_SPACE)
    if not reports:
        return []
    path = first_path(reports)
    tool = tool_of(reports)
    where = f"the filesystem holding {path}" if path else f"the filesystem {tool} was writing to"
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"No space left on {where}.",
        why=f"The disk or the user's quota is full (ENOSPC/EDQUOT); {tool} stops at the first write that fails.",
        paths=unique_paths(reports),
        evidence=evidence(r.line for r in reports),
        tool=tool,
    )]
