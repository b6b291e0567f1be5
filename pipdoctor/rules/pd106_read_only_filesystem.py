"""PD106 read-only-filesystem: pip tried to write to a filesystem mounted read-only.

Changing owners or modes cannot help: the mount itself refuses writes. Typical in containers (a read-only
root or a read-only volume for the cache) and on systems whose /usr is mounted read-only.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.rules._common import evidence, first_path, os_errors, tool_of, unique_paths

CODE = "PD106"
NAME = "read-only-filesystem"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, *UV_TRIGGERS)


def match(log, facts=None):
    reports = os_errors(log, ErrorKind.READ_ONLY)
    if not reports:
        return []
    path = first_path(reports)
    tool = tool_of(reports)
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"{path or f'The path {tool} wrote to'} is on a read-only filesystem.",
        why="The mount refuses every write (EROFS); chown or chmod cannot change that.",
        paths=unique_paths(reports),
        evidence=evidence(r.line for r in reports),
        tool=tool,
    )]
