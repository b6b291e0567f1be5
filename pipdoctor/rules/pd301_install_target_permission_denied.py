"""PD301 install-target-permission-denied: pip was refused a write where it installs (site-packages, the
scripts dir, a venv), not in its cache.

Usually a system Python or a venv created by another user (often root, after a `sudo pip install` into
it). Use a venv you own; `--user` or `sudo` are pip's hints, and `sudo pip` is what leaves root-owned
files in your cache and site-packages afterwards.
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.lazyre import lazy_compile
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind, path_kind
from pipdoctor.installers.uv.wordings import ENVIRONMENT_CAPTURE
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.rules._common import evidence, known_cache_roots, os_errors, path_kinds, tool_of, unique_paths

CODE = "PD301"
NAME = "install-target-permission-denied"
SEVERITY = Severity.ERROR
# pip's install-failure handler (pip/_internal/commands/install.py create_os_error_message) and the
# traceback frames of pip's install code: a path-less or relative error there happened while installing.
_INSTALL_FAILURE = lazy_compile(r"Could not install packages due to an? (?:EnvironmentError|OSError)"
                              r"|Consider using the `--user` option|^\s*Check the permissions\.")
_INSTALL_FRAME = lazy_compile(r'File ".*", line \d+, in (?:clobber|move_wheel_files|install_wheel|_install_wheel|'
                            r"install_unpacked_wheel|_copy_file|save|stash|_stash|renames|commit|uninstall)\s*$")
# pip 23+ (pip/_internal/utils/temp_dir.py, AdjacentTempDirectory): an uninstall stash it could not
# delete, i.e. files in site-packages that the user may not remove (left by a root install).
_STASH_LEFT = lazy_compile(r"""Failed to remove contents in a temporary directory ['"](.+?)['"]""")
# pip's --target step (commands/install.py _handle_target_dir, 20.3-26.3: ensure_dir(target_dir), then
# shutil.move of each installed item) runs after the install-error handler, so its OS errors come as a bare
# traceback under this frame, on whatever path the user gave --target.
_TARGET_FRAME = lazy_compile(r'File ".*", line \d+, in _handle_target_dir\s*$')
# The first dir of an install scheme pip cannot create under a --prefix or --root (sysconfig: <base>/lib,
# lib64, bin, include, share; Windows Lib, Scripts), as pip's install-failure line itself names it.
_FAILURE_LINE = lazy_compile(r"Could not install packages due to an? (?:EnvironmentError|OSError)")
_SCHEME_DIR = lazy_compile(r"(?<![/\\]build)[/\\](?:lib|lib64|bin|include|share|scripts)$", re.I)
TRIGGERS = (TRIGGER, rb"Could not install packages due to", rb"Consider using the `--user` option",
            rb"Check the permissions\.", rb'File ".*", line \d+, in ', rb"Failed to remove contents in a temporary",
            *UV_TRIGGERS)
# The environment uv installs into: its errors there are the install target's, not its cache's.
CAPTURES = (ENVIRONMENT_CAPTURE,)
# How far (in lines) an error may stand from the install context that explains it.
_NEAR = 40


def _near(line, context_lines) -> bool:
    return any(0 <= line.number - c.number <= _NEAR or 0 <= c.number - line.number <= 2 for c in context_lines)


def _under_frame(line, frames) -> bool:
    """The line comes after one of the frames, within the traceback's reach."""
    return any(0 < line.number - frame.number <= _NEAR for frame in frames)


def install_step_errors(log, facts=None):
    """Permission errors that happened installing: on a target path; under pip's --target step; on a
    scheme dir named by pip's install-failure line (a --prefix); or on a path-less or unplaceable one (pip
    prints a bare file name at times) right by pip's install-failure message or install frames."""
    kind_of = path_kinds(log, facts)
    context = [line for line, _ in log.matching(_INSTALL_FAILURE) + log.matching(_INSTALL_FRAME)]
    target_frames = [line for line, _ in log.matching(_TARGET_FRAME)]
    attributed = []
    for report in os_errors(log, ErrorKind.PERMISSION):
        kind = kind_of(report)
        if kind is PathKind.TARGET:
            attributed.append(report)
        elif kind is PathKind.OTHER and (
                (_near(report.line, context) and (report.path is None or not report.path.startswith(("/", "\\"))))
                or _under_frame(report.line, target_frames)
                or (_SCHEME_DIR.search(report.path or "") and _FAILURE_LINE.search(report.line.text))):
            attributed.append(report)
    return attributed


def _cut_target_step(log):
    """The --target step's frames, when no OS error follows them: a traceback cut before its last line."""
    frames = [line for line, _ in log.matching(_TARGET_FRAME)]
    if not frames or any(report.line.number > frames[0].number for report in os_errors(log)):
        return []
    return frames


def match(log, facts=None):
    reports = install_step_errors(log, facts)
    roots = known_cache_roots(log, facts)
    leftovers = [(line, m.group(1)) for line, m in log.matching(_STASH_LEFT)
                 if path_kind(m.group(1), roots) is PathKind.TARGET]
    if not reports and not leftovers:
        cut = _cut_target_step(log)
        if cut:
            return [Finding(
                CODE, NAME, SEVERITY,
                message="pip failed while moving the installed files into its --target dir; the log stops "
                        "inside that step's traceback, before the error.",
                why=("pip installs into a temp dir, then creates the --target dir and moves every file into it "
                     "(commands/install.py _handle_target_dir); that dir or its parent not being writable by "
                     "the user is the usual cause. This is not a cache problem."),
                evidence=evidence(cut),
            )]
        return []
    if reports:
        paths = unique_paths(reports)
        where = paths[0] if paths else "the install location"
        tool = tool_of(reports)
        return [Finding(
            CODE, NAME, SEVERITY,
            message=f"{tool} cannot write where it installs: permission denied on {where}.",
            why=(f"The environment {tool} installs into (a system Python, or a venv made or last changed by "
                 f"another user, often root) is not writable by the user running {tool}. This is not a cache "
                 "problem."),
            paths=paths,
            evidence=evidence([r.line for r in reports] + [line for line, _ in leftovers]),
            tool=tool,
        )]
    paths = tuple(dict.fromkeys(path for _, path in leftovers))
    return [Finding(
        CODE, NAME, Severity.WARNING,
        message=f"pip could not remove files it replaced in {paths[0].rsplit('/', 1)[0]}: they belong to "
                "another user.",
        why="A root (sudo) install left files in this environment; pip replaced them but cannot delete the "
            "old copies, and the next upgrade or uninstall may fail.",
        paths=paths,
        evidence=evidence(line for line, _ in leftovers),
    )]
