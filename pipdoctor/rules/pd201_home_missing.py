"""PD201 home-missing: HOME is unset or names a directory that does not exist, so pip's default cache
(`~/.cache/pip`) cannot be created and pip runs without one.

Typical in chroots, `docker run --user UID` with a uid the image does not know, and service accounts whose
passwd home is `/nonexistent`. Creating HOME (or pointing pip at a writable `--cache-dir`) cures it.
"""

from __future__ import annotations

import re

from pipdoctor.findings import Finding, Severity
from pipdoctor.oserrors import TRIGGER, ErrorKind
from pipdoctor.pathkinds import PathKind
from pipdoctor.rules._common import (CACHE_DISABLED, CACHE_DISABLED_TRIGGER, disabled_cache_dirs, errors_on,
                                     evidence)

CODE = "PD201"
NAME = "home-missing"
SEVERITY = Severity.ERROR
TRIGGERS = (TRIGGER, CACHE_DISABLED_TRIGGER)

# Homes that never exist: Debian's `nobody` and system users, and `~` left unexpanded (no HOME, no passwd).
_NO_HOME = re.compile(r"^(?:/nonexistent|/dev/null|~)(?:[/\\]|$)")


def _under(path: str, home: str) -> bool:
    return path == home or path.startswith(home.rstrip("/") + "/")


def match(log, facts=None):
    reports = errors_on(log, facts, [ErrorKind.PERMISSION], PathKind.CACHE)
    paths = disabled_cache_dirs(log) + [r.path for r in reports if r.path]
    if not paths:
        return []
    identity = getattr(facts, "identity", None)
    if identity is not None and not identity.home_exists:
        missing = [p for p in paths if identity.home is None or _under(p, identity.home)]
        home = identity.home
    else:
        missing = [p for p in paths if _NO_HOME.match(p)]
        home = missing[0].split("/.cache")[0] if missing else None
    if not missing:
        return []
    lines = [line for line, _ in log.matching(CACHE_DISABLED)] + [r.line for r in reports]
    what = "HOME is not set" if identity is not None and home is None else f"HOME ({home}) does not exist"
    return [Finding(
        CODE, NAME, SEVERITY,
        message=f"{what}, so pip cannot create its cache at {missing[0]}.",
        why="pip keeps its cache under HOME; with no HOME directory it has nowhere to write and runs uncached.",
        paths=tuple(dict.fromkeys(missing)),
        evidence=evidence(lines),
    )]
