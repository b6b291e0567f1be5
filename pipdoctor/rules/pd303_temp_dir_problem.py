"""PD303 temp-dir-problem: pip could not use its temporary directory (TMPDIR unwritable, mounted noexec,
or a leftover pip-* dir owned by someone else).

pip unpacks and builds every sdist under the temp dir; a build backend executing a script from a noexec
/tmp fails with "Permission denied" too. Point TMPDIR at a dir the user owns on an exec-capable filesystem.
"""

from __future__ import annotations

from pipdoctor.findings import Finding, Severity
from pipdoctor.installers.uv.wordings import TRIGGERS as UV_TRIGGERS
from pipdoctor.lazyre import lazy_compile
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind, path_kind
from pipdoctor.rules._common import errors_on, evidence, tool_of, unique_paths

CODE = "PD303"
NAME = "temp-dir-problem"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, *UV_TRIGGERS, rb"No usable temporary directory found", rb"The temporary folder for building",
            rb"failed to map segment from shared object", rb"in _get_default_tempdir")

# Python's tempfile.gettempdir() when no candidate is writable; pip 1.4-6.1's own check of its build dir
# (1.4.1 locations.py:77 "is not owned by your user!", 1.5-6.1 "is either not owned by you, or is a symlink").
_NO_TEMP = lazy_compile(r"No usable temporary directory found in (.*)|The temporary folder for building \((.*?)\) "
                      r"is (?:either )?not owned by (?:you|your user)")
# A traceback cut before that line still shows where it was raised: only tempfile._get_default_tempdir
# raises there (Lib/tempfile.py), after every candidate dir failed.
_NO_TEMP_FRAME = lazy_compile(r'tempfile\.py", line \d+, in _get_default_tempdir\s*$')
# A noexec /tmp: the dynamic loader cannot map an extension that the build env unpacked there (ld.so's
# "failed to map segment from shared object", EPERM from mmap with PROT_EXEC).
_NOEXEC = lazy_compile(r"(/\S+?): failed to map segment from shared object")


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.TEMP)
    no_temp = log.matching(_NO_TEMP) or log.matching(_NO_TEMP_FRAME)
    noexec = [(line, m.group(1)) for line, m in log.matching(_NOEXEC) if path_kind(m.group(1)) is PathKind.TEMP]
    if not reports and not no_temp and not noexec:
        return []
    paths = unique_paths(reports) + tuple(dict.fromkeys(path for _, path in noexec))
    if noexec and not reports:
        what = f"its filesystem does not allow executing {noexec[0][1]} (mounted noexec)"
    else:
        what = f"permission denied on {paths[0]}" if paths else "no usable temporary directory"
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"{tool_of(reports)} could not use its temporary directory: {what}.",
        why=f"{tool_of(reports)} unpacks and builds in TMPDIR (or /tmp); that dir is not writable or not executable "
            "here.",
        paths=paths,
        evidence=evidence([r.line for r in reports] + [line for line, _ in no_temp + noexec]),
        tool=tool_of(reports),
    )]
