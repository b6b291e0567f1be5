"""PD301 install-target-permission-denied: pip was refused a write where it installs (site-packages, the
scripts dir, a venv), not in its cache.

Usually a system Python or a venv created by another user (often root). Use a venv you own; `--user` or
`sudo` are pip's hints, and `sudo pip` is what leaves root-owned files in your cache afterwards.
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind
from pipdoctor.rules._common import errors_on, evidence, os_errors, unique_paths

CODE = "PD301"
NAME = "install-target-permission-denied"
SEVERITY = Severity.ERROR
# pip's install-failure handler (pip/_internal/commands/install.py create_os_error_message) and the
# traceback frames of pip's install code, which tell a path-less PermissionError where it happened.
_INSTALL_FAILURE = re.compile(r"Could not install packages due to an? (?:EnvironmentError|OSError)"
                              r"|Consider using the `--user` option|^\s*Check the permissions\.")
_INSTALL_FRAME = re.compile(r'File ".*", line \d+, in (?:clobber|move_wheel_files|install_wheel|_install_wheel|'
                            r"install_unpacked_wheel|_copy_file|save|stash|_stash|renames|commit|uninstall)\s*$")
TRIGGERS = (TRIGGER, rb"Could not install packages due to", rb"Consider using the `--user` option",
            rb"Check the permissions\.", rb'File ".*", line \d+, in ')
# How far (in lines) a path-less error may stand from the install context that explains it.
_NEAR = 40


def _near(line, context_lines) -> bool:
    return any(0 <= line.number - c.number <= _NEAR or 0 <= c.number - line.number <= 2 for c in context_lines)


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.TARGET)
    context = [line for line, _ in log.matching(_INSTALL_FAILURE) + log.matching(_INSTALL_FRAME)]
    pathless = [r for r in os_errors(log, ErrorKind.PERMISSION) if r.path is None and _near(r.line, context)]
    if not reports and not pathless:
        return []
    paths = unique_paths(reports)
    where = paths[0] if paths else "the install location"
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"pip cannot write where it installs: permission denied on {where}.",
        why=("The environment pip installs into (a system Python or a venv made by another user) is not "
             "writable by the user running pip. This is not a cache problem."),
        paths=paths,
        evidence=evidence(r.line for r in reports + pathless),
        facts={"pathless": pathless},
    )]
