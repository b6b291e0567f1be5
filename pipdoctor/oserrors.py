"""Pure: the OS errors a line of pip's output reports (errno, kind, paths), in every spelling pip uses."""

from __future__ import annotations

import enum
import re
from typing import Optional

from pipdoctor.lazyre import lazy_compile
from pipdoctor.logtext import Line
from pipdoctor.records import record


class ErrorKind(str, enum.Enum):
    PERMISSION = "permission"  # EACCES, EPERM, WinError 5/32
    NO_SPACE = "no-space"  # ENOSPC, EDQUOT, WinError 112/39
    READ_ONLY = "read-only"  # EROFS


# Matched by number first (STYLE.md: errno numbers, not localized text); the strerror text only where
# pip prints no number (distutils' "could not create 'X': Read-only file system", shell "X: Permission denied").
# Linux and macOS share 1, 13, 28, 30; EDQUOT is 122 on Linux and 69 on macOS.
_ERRNO_KINDS = {1: ErrorKind.PERMISSION, 13: ErrorKind.PERMISSION, 28: ErrorKind.NO_SPACE,
                30: ErrorKind.READ_ONLY, 122: ErrorKind.NO_SPACE, 69: ErrorKind.NO_SPACE}
# Win32 system error codes: 5 ERROR_ACCESS_DENIED, 32 ERROR_SHARING_VIOLATION, 39 ERROR_HANDLE_DISK_FULL,
# 112 ERROR_DISK_FULL, 19 ERROR_WRITE_PROTECT.
_WINERROR_KINDS = {5: ErrorKind.PERMISSION, 32: ErrorKind.PERMISSION, 39: ErrorKind.NO_SPACE,
                   112: ErrorKind.NO_SPACE, 19: ErrorKind.READ_ONLY}
_TEXT_KINDS = (
    ("permission denied", ErrorKind.PERMISSION),
    ("operation not permitted", ErrorKind.PERMISSION),
    ("access is denied", ErrorKind.PERMISSION),
    ("no space left on device", ErrorKind.NO_SPACE),
    ("disk quota exceeded", ErrorKind.NO_SPACE),
    ("not enough space on the disk", ErrorKind.NO_SPACE),
    ("read-only file system", ErrorKind.READ_ONLY),
)

# A Python repr of a path: 'x', "x", u'x', b'x' (pip on Python 2 printed u'...').
_QUOTED = r"""[ub]?(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)")"""
_BRACKETED = lazy_compile(
    r"\[(Errno|WinError) (\d+)\]([^'\"\[\]\n:]*)(?::\s*" + _QUOTED + r")?(?:\s*->\s*" + _QUOTED + ")?",
)
# `error: could not create 'P': Read-only file system`, `cp: cannot create 'P': Permission denied`
_QUOTED_THEN_TEXT = lazy_compile(_QUOTED + r":\s*(Permission denied|Operation not permitted|Read-only file system"
                               r"|No space left on device|Access is denied|Disk quota exceeded)", re.I)
# `/bin/sh: 1: /tmp/pip-build-env-x/bin/cmake: Permission denied` (a shell naming an unquoted path)
_BARE_THEN_TEXT = lazy_compile(r"(?<![\w'\"])((?:[A-Za-z]:)?[/\\][^\s:'\"]+):\s*(Permission denied|Operation not "
                             r"permitted|Read-only file system|No space left on device)", re.I)
_TEXT_ONLY = lazy_compile(r"(Permission denied|Operation not permitted|Access is denied|No space left on device"
                        r"|Disk quota exceeded|not enough space on the disk|Read-only file system)", re.I)

# Bytes triggers for the scanner: any line that may carry one of these errors.
TRIGGER = (rb"\[(?:Errno|WinError) \d+\]|Permission denied|Operation not permitted|Access is denied"
           rb"|No space left on device|Disk quota exceeded|not enough space on the disk|Read-only file system")


# A name Python's tempfile makes (Lib/tempfile.py: template "tmp", _RandomNameSequence's 8 characters of
# a-z0-9_). Refused, it never existed: the error is about the dir it was to be made in. pip >= 25.3 builds
# each wheel in tempfile.TemporaryDirectory(dir=<wheel-cache entry>) (wheel_builder.py
# _build_one_inside_env), so a root-owned entry shows up as `<entry>/tmpXXXXXXXX`.
_TEMPFILE_NAME = lazy_compile(r"[/\\]tmp[a-z0-9_]{8}$")


@record
class OSErrorReport:
    """One OS error as an installer printed it. `path` is the file the error is about: a rename's source; a full
    disk's destination (shutil.copyfile writes the destination; its sendfile error names both, src first);
    for a refused tempfile name, the dir it was to be made in."""

    line: Line
    kind: ErrorKind
    number: Optional[int]
    path: Optional[str]
    destination: Optional[str] = None
    tool: str = "pip"  # the installer that printed it (uv's chains: pipdoctor/installers/uv/wordings.py)


def errno_kind(number: int) -> Optional[ErrorKind]:
    """The kind of an errno number (uv prints `(os error N)`), None for one no rule is about."""
    return _ERRNO_KINDS.get(number)


def _subject(kind: ErrorKind, path: Optional[str], destination: Optional[str]) -> Optional[str]:
    """The file the error is about (see OSErrorReport)."""
    if kind is ErrorKind.NO_SPACE and destination:
        return destination
    if kind is not ErrorKind.NO_SPACE and path and _TEMPFILE_NAME.search(path):
        return path[:-12]
    return path


def _unquote(single: Optional[str], double: Optional[str]) -> Optional[str]:
    """Undo the repr: pip prints paths with str(OSError), so Windows backslashes come doubled."""
    value = single if single is not None else double
    if value is None:
        return None
    return value.replace("\\\\", "\\")


def _kind_from_text(text: str) -> Optional[ErrorKind]:
    lowered = text.lower()
    for needle, kind in _TEXT_KINDS:
        if needle in lowered:
            return kind
    return None


def os_errors_in(line: Line) -> list[OSErrorReport]:
    """Every OS error a line reports; a line may hold several (pip's shutil.Error lists one per file)."""
    reports = []
    for match in _BRACKETED.finditer(line.text):
        family, number = match.group(1), int(match.group(2))
        table = _ERRNO_KINDS if family == "Errno" else _WINERROR_KINDS
        kind = table.get(number) or _kind_from_text(match.group(3))
        if kind is None:
            continue
        path, destination = _unquote(match.group(4), match.group(5)), _unquote(match.group(6), match.group(7))
        reports.append(OSErrorReport(line, kind, number, _subject(kind, path, destination), destination))
    if reports:
        return reports
    for pattern in (_QUOTED_THEN_TEXT, _BARE_THEN_TEXT):
        for match in pattern.finditer(line.text):
            groups = match.groups()
            path = _unquote(groups[0], groups[1]) if pattern is _QUOTED_THEN_TEXT else groups[0]
            kind = _kind_from_text(groups[-1])
            reports.append(OSErrorReport(line, kind, None, _subject(kind, path, None)))
        if reports:
            return reports
    match = _TEXT_ONLY.search(line.text)
    if match:
        reports.append(OSErrorReport(line, _kind_from_text(match.group(1)), None, None))
    return reports
