"""PD399 other-permission-denied: a permission error that is neither pip's cache, nor the install target,
nor the temp dir (a build tool that cannot run, a source tree or a file named in a requirement).

pipdoctor gives no cache advice for it: the path in the evidence says what to look at.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind
from pipdoctor.rules._common import errors_on, evidence, tool_of, unique_paths
from pipdoctor.rules.pd301_install_target_permission_denied import install_step_errors

CODE = "PD399"
NAME = "other-permission-denied"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, *UV_TRIGGERS)


def match(log, facts=None):
    installing = set(install_step_errors(log, facts))
    reports = [r for r in errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.OTHER) if r not in installing]
    if not reports:
        return []
    paths = unique_paths(reports)
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"Permission denied on {paths[0] if paths else f'a file {tool_of(reports)} or a build step used'}.",
        why="Something outside pip's cache, install target and temp dir refused access.",
        paths=paths,
        evidence=evidence(r.line for r in reports),
        tool=tool_of(reports),
    )]
